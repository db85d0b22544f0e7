"""Config of the ``kubernetes`` driver."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from autoscaler.plugin import DriverSettings, Duration


class KubernetesSettings(DriverSettings):
    """``driver: {type: kubernetes}``: each agent is a pod."""

    namespace: str | None = None
    """Namespace of the agent pods; defaults to the daemon's own namespace in a cluster, else ``default``."""
    kubeconfig: str | None = None
    """Kubeconfig file; none means the in-cluster service account (then ``~/.kube/config``)."""
    context: str | None = None
    """Kubeconfig context to use."""
    url: str | None = None
    """API server URL (KubeStack ``kubernetes.url``); use with ``api-key-file``."""
    api_key: str | None = Field(default=None, repr=False)
    """Inline bearer token (KubeStack ``api_key``): works, warned about; prefer ``api-key-file``."""
    api_key_file: str | None = None
    """File holding a bearer token for ``url``."""
    verify_tls: bool = True
    """Verify the API server's certificate (with ``url``)."""
    credentials_secret: str = "jenkins-agent"
    """Secret the swarm pods read the Jenkins credential from (``secretKeyRef``, never a literal)."""
    credentials_key: str = "token"
    """Key of the credential in that Secret."""
    service_account: str | None = None
    """Service account of the agent pods."""
    image_pull_secrets: tuple[str, ...] = ()
    """Image pull secrets of the agent pods."""
    pod_template: dict[str, Any] | None = None
    """A raw pod (``metadata``/``spec``) the generated pod is merged over, for anything not covered here."""
    web_socket: bool = False
    """Inbound agents connect over WebSocket (``JENKINS_WEB_SOCKET=true``)."""
    termination_grace: Duration = Field(default=30.0, ge=0)
    """``terminationGracePeriodSeconds`` of the pods."""
    qps: float = Field(default=5.0, gt=0)
    """Kubernetes API requests per second (the watch is not counted)."""
    burst: int = Field(default=10, ge=1)
    """Requests allowed in a burst above ``qps``."""
    max_in_flight: int = Field(default=8, ge=1)
    """Launches under way at once."""
    watch_timeout: Duration = Field(default=300.0, gt=0)
    """A watch request is renewed (from its last resource version) after this long; a watch that
    stays silent ``request-timeout`` longer than that is taken as hung and opened again."""
    request_timeout: Duration = Field(default=10.0, gt=0)
    """Longest wait of an API call (create, delete, list, patch) to connect, and again for its
    answer; a call that times out fails as a transient error."""

    @field_validator("namespace")
    @classmethod
    def _dns(cls, value: str | None) -> str | None:
        import re

        if value is not None and not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", value):
            raise ValueError(f"expected a Kubernetes namespace name, got {value!r}")
        return value

    @model_validator(mode="after")
    def _one_way_in(self) -> KubernetesSettings:
        if self.kubeconfig is not None and self.url is not None:
            raise ValueError("give kubeconfig or url, not both")
        if self.api_key is not None and self.api_key_file is not None:
            raise ValueError("give only one of api-key and api-key-file")
        return self
