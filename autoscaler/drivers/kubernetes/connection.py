"""How the driver reaches the API server: the client configuration and its retry policy."""

from __future__ import annotations

import urllib3.exceptions
from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException
from urllib3.util.retry import Retry

from autoscaler.drivers.kubernetes.settings import KubernetesSettings
from autoscaler.plugin import DriverError
from autoscaler.secrets import SecretError, read_secret

IN_CLUSTER_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def api_client(settings: KubernetesSettings) -> client.ApiClient:
    """A client for ``url`` (with ``api-key-file``), a kubeconfig, or the in-cluster account."""
    cfg = client.Configuration()
    try:
        if settings.url is not None:
            cfg.host = settings.url.rstrip("/")
            token = read_secret(
                file=settings.api_key_file,
                inline=settings.api_key,
                what="kubernetes api-key-file" if settings.api_key_file is not None else "kubernetes api-key",
                required=settings.api_key_file is not None,
            )
            if token:
                cfg.api_key = {"authorization": token}
                cfg.api_key_prefix = {"authorization": "Bearer"}
            cfg.verify_ssl = settings.verify_tls
        elif settings.kubeconfig is not None:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=settings.kubeconfig, context=settings.context, client_configuration=cfg
            )
        else:
            try:
                config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
            except ConfigException:
                config.load_kube_config(context=settings.context, client_configuration=cfg)  # type: ignore[no-untyped-call]
    except (ConfigException, OSError, SecretError) as exc:
        raise DriverError(f"kubernetes: no usable cluster configuration: {exc}", transient=False) from None
    cfg.retries = ReusedConnectionRetry(
        total=1, connect=0, read=1, status=0, other=0, redirect=0, respect_retry_after_header=False
    )
    return client.ApiClient(cfg)


class ReusedConnectionRetry(Retry):
    """The HTTP layer retries nothing but, once, a read or delete whose kept-alive connection the
    server had closed (it got no answer, fast); never a timeout, so each call stays bounded by
    ``request-timeout`` and the engine decides on retries."""

    def _is_read_error(self, err: Exception) -> bool:
        return isinstance(err, urllib3.exceptions.ProtocolError)


def own_namespace() -> str | None:
    """The namespace of the daemon's own pod, when it runs in a cluster."""
    try:
        with open(IN_CLUSTER_NAMESPACE, encoding="utf-8") as fh:
            return fh.read().strip() or None
    except OSError:
        return None
