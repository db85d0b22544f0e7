"""The kubernetes driver through the official client, over real HTTP, against the API double."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from autoscaler.drivers.kubernetes.podspec import build_pod, merge
from autoscaler.plugin import DriverError, DriverStatus
from tests.integration.k8s_world import NS, K8sWorld


@pytest.fixture
def world() -> Iterator[K8sWorld]:
    w = K8sWorld()
    yield w
    w.close()


def test_swarm_pod_spec_and_the_agent_joins_jenkins(world: K8sWorld) -> None:
    handle = world.driver.launch(world.spec("ci-python-aaaaaa", "python"))
    assert (handle.name, handle.label, handle.controller) == ("ci-python-aaaaaa", "python", "main")
    (body,) = world.api.created
    assert world.sim.token not in json.dumps(body)  # the credential is never a literal
    meta, spec = body["metadata"], body["spec"]
    assert meta["labels"] == {
        "app.kubernetes.io/managed-by": "autoscaler",
        "app.kubernetes.io/instance": "test",
        "autoscaler.jenkins.io/label": "python",
    }
    assert meta["annotations"]["autoscaler.jenkins.io/label"] == "python"
    assert meta["annotations"]["autoscaler.jenkins.io/controller"] == "main"
    assert spec["restartPolicy"] == "Never" and spec["nodeSelector"] == {"pool": "ci"}
    assert spec["tolerations"][0]["key"] == "ci"
    (container,) = spec["containers"]
    assert container["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}
    env = {e["name"]: e for e in container["env"]}
    assert env["JENKINS_PASSWORD"]["valueFrom"] == {"secretKeyRef": {"name": "jenkins-agent", "key": "token"}}
    assert env["GRADLE_OPTS"]["value"] == "-Xmx1g"
    args = container["args"]
    assert args[args.index("-name") + 1] == "ci-python-aaaaaa"
    assert args[args.index("-passwordEnvVariable") + 1] == "JENKINS_PASSWORD"
    assert "-disableClientsUniqueId" in args and args[args.index("-executors") + 1] == "2"
    world.sim.wait_for(
        lambda: "ci-python-aaaaaa" in world.sim.model.nodes and world.sim.model.nodes["ci-python-aaaaaa"].connected,
        30,
        "the agent online",
    )
    assert world.sim.model.nodes["ci-python-aaaaaa"].labels >= {"python", "swarm"}
    world.api.wait_for(lambda: any(c.handle.status == DriverStatus.RUNNING for c in world.changes()), 10, "Running")


def test_inbound_agent_gets_its_own_secret_owned_by_its_pod(world: K8sWorld) -> None:
    world.driver.launch(world.spec("ci-java-bbbbbb", "java"))
    node = world.sim.model.nodes["ci-java-bbbbbb"]
    assert node.kind == "jnlp" and "java" in node.labels
    secret = world.api.store.get("secrets", NS, "ci-java-bbbbbb-agent-secret")
    pod = world.api.store.get("pods", NS, "ci-java-bbbbbb")
    assert secret["metadata"]["ownerReferences"][0]["uid"] == pod["metadata"]["uid"]
    assert secret["stringData"]["secret"] == node.secret
    env = {e["name"]: e for e in world.api.created[0]["spec"]["containers"][0]["env"]}
    assert env["JENKINS_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == "ci-java-bbbbbb-agent-secret"
    assert "JENKINS_PASSWORD" not in env  # inbound pods hold no admin credential
    assert node.secret not in json.dumps([b for b in world.api.created if b["kind"] == "Pod"])
    world.sim.wait_for(lambda: node.connected, 30, "the inbound agent online")
    world.driver.delete("ci-java-bbbbbb", grace=5)
    world.api.wait_for(lambda: "ci-java-bbbbbb" not in world.api.pods(NS), 20, "the pod gone")
    assert [n for (k, _, n) in world.api.store.objects if k == "secrets"] == ["jenkins-agent"]  # collected


def test_list_answers_from_the_watch_without_polling(world: K8sWorld) -> None:
    assert world.driver.list() == []
    for i in range(3):
        world.driver.launch(world.spec(f"ci-python-{i}aaaaa", "python"))
    world.api.wait_for(
        lambda: len([h for h in world.driver.list() if h.status == DriverStatus.RUNNING]) == 3, 20, "3 running"
    )
    for _ in range(20):
        world.driver.list()
    calls = world.api.store.calls
    assert calls["GET pods"] == 1  # the initial list; everything since came from the watch
    assert calls["POST pods"] == 3 and calls["WATCH pods"] >= 1


def test_watch_relists_after_410_gone(world: K8sWorld) -> None:
    world.driver.list()
    world.api.wait_for(lambda: world.api.store.calls["WATCH pods"] >= 1, 10, "the watch")
    world.api.refuse_watches = True  # the API server restarts: the watch drops and cannot resume yet
    world.api.drop_watches()
    refused = world.api.store.calls["WATCH pods"] + 1
    world.api.wait_for(lambda: world.api.store.calls["WATCH pods"] > refused, 20, "a refused reconnect")
    world.api.store.create(
        "pods",
        NS,
        build_pod(
            "ci-python-cccccc", world.config.label("python"), world.config.default_controller, "test", world.settings, 0
        ),
    )
    world.api.store.compact()  # ...and what happened meanwhile is compacted away
    world.api.refuse_watches = False
    world.api.wait_for(lambda: world.driver.relists >= 2, 20, "a relist after 410")
    assert [h.name for h in world.driver.list()] == ["ci-python-cccccc"]


def test_pods_of_another_instance_are_not_ours(world: K8sWorld) -> None:
    other = build_pod(
        "ci-python-other1", world.config.label("python"), world.config.default_controller, "other", world.settings, 0
    )
    world.api.store.create("pods", NS, other)
    assert world.driver.list() == []


def test_delete_is_idempotent_and_create_conflict_is_adopted(world: K8sWorld) -> None:
    world.driver.delete("never-existed", grace=1)
    world.driver.launch(world.spec("ci-python-dddddd", "python"))
    again = world.driver.launch(world.spec("ci-python-dddddd", "python"))  # a retried create: 409
    assert again.name == "ci-python-dddddd"
    assert world.api.store.calls["POST pods"] == 2


def test_image_pull_failure_is_reported_as_failed(world: K8sWorld) -> None:
    world.driver.launch(world.spec("ci-broken-eeeeee", "broken"))
    world.api.wait_for(lambda: any(h.status == DriverStatus.FAILED for h in world.driver.list()), 10, "pull failure")
    (handle,) = world.driver.list()
    assert handle.detail.startswith(("ErrImagePull", "ImagePullBackOff"))


def test_eviction_is_a_failure(world: K8sWorld) -> None:
    world.driver.launch(world.spec("ci-python-ffffff", "python"))
    world.api.wait_for(lambda: world.driver.list()[0].status == DriverStatus.RUNNING, 10, "running")
    world.kubelet.evict("ci-python-ffffff")
    world.api.wait_for(lambda: world.driver.list()[0].status == DriverStatus.FAILED, 10, "evicted")
    assert world.driver.list()[0].detail.startswith("Evicted")


def test_quota_is_a_transient_refusal() -> None:
    world = K8sWorld(pod_quota=1)
    try:
        world.driver.launch(world.spec("ci-python-gggggg", "python"))
        with pytest.raises(DriverError) as info:
            world.driver.launch(world.spec("ci-python-hhhhhh", "python"))
        assert info.value.transient and "exceeded quota" in str(info.value)
    finally:
        world.close()


def test_pod_template_is_merged_under_the_generated_spec() -> None:
    template = {
        "metadata": {"labels": {"team": "ci"}},
        "spec": {
            "priorityClassName": "ci",
            "restartPolicy": "Always",
            "containers": [
                {"name": "agent", "securityContext": {"runAsUser": 1000}},
                {"name": "docker", "image": "docker:dind"},
            ],
        },
    }
    merged = merge(
        template,
        {
            "metadata": {"labels": {"x": "y"}},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "agent", "image": "a"}]},
        },
    )
    assert merged["metadata"]["labels"] == {"team": "ci", "x": "y"}
    assert merged["spec"]["restartPolicy"] == "Never" and merged["spec"]["priorityClassName"] == "ci"
    assert merged["spec"]["containers"] == [
        {"name": "agent", "securityContext": {"runAsUser": 1000}, "image": "a"},
        {"name": "docker", "image": "docker:dind"},
    ]


def test_a_hold_is_recorded_on_the_pod(world: K8sWorld) -> None:
    world.driver.launch(world.spec("ci-python-iiiiii", "python"))
    world.driver.mark_hold("ci-python-iiiiii", "debugging", 1_900_000_000.0)
    world.api.wait_for(lambda: world.driver.list()[0].hold_reason == "debugging", 10, "the annotation in the cache")
    annotations = world.api.store.get("pods", NS, "ci-python-iiiiii")["metadata"]["annotations"]
    assert json.loads(annotations["autoscaler.jenkins.io/hold"]) == {"reason": "debugging", "until": 1_900_000_000.0}
    world.driver.mark_hold("ci-python-iiiiii", None, None)
    world.api.wait_for(lambda: world.driver.list()[0].hold_reason is None, 10, "the release")
    assert (
        "autoscaler.jenkins.io/hold"
        not in world.api.store.get("pods", NS, "ci-python-iiiiii")["metadata"]["annotations"]
    )


def test_kubeconfig_context_and_bearer_tokens(tmp_path: Path) -> None:
    from autoscaler.config.models import Config
    from autoscaler.drivers.kubernetes.driver import KubernetesDriver
    from autoscaler.drivers.kubernetes.settings import KubernetesSettings
    from autoscaler.plugin import PluginContext
    from autoscaler.testing.kubernetes import KubeApi

    config = Config.model_validate({"controllers": [{"url": "http://j/"}], "labels": [{"name": "python"}]})
    context = PluginContext(config=config, emit=lambda e: None)
    with KubeApi(token="s3cret") as api:
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "wrong",
                    "clusters": [{"name": "sim", "cluster": {"server": api.url}}],
                    "users": [
                        {"name": "bot", "user": {"token": "s3cret"}},
                        {"name": "nobody", "user": {"token": "no"}},
                    ],
                    "contexts": [
                        {"name": "ci", "context": {"cluster": "sim", "user": "bot"}},
                        {"name": "wrong", "context": {"cluster": "sim", "user": "nobody"}},
                    ],
                }
            )
        )
        good = KubernetesDriver(
            KubernetesSettings.model_validate(
                {"type": "kubernetes", "kubeconfig": str(kubeconfig), "context": "ci", "namespace": NS}
            ),
            context,
        )
        assert good.list() == []
        good.close()
        token_file = tmp_path / "token"
        token_file.write_text("s3cret\n")
        kubestack_style = KubernetesDriver(
            KubernetesSettings.model_validate(
                {"type": "kubernetes", "url": api.url, "api-key-file": str(token_file), "namespace": NS}
            ),
            context,
        )
        assert kubestack_style.list() == []
        kubestack_style.close()
        refused = KubernetesDriver(
            KubernetesSettings.model_validate({"type": "kubernetes", "kubeconfig": str(kubeconfig), "namespace": NS}),
            context,
        )
        with pytest.raises(DriverError) as info:
            refused.list()
        assert "401" in str(info.value) and not info.value.transient
        assert "no" not in str(info.value).split()  # the token is never echoed


def test_no_cluster_configuration_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from autoscaler.drivers.kubernetes.connection import api_client
    from autoscaler.drivers.kubernetes.settings import KubernetesSettings

    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(DriverError, match="no usable cluster configuration"):
        api_client(KubernetesSettings(type="kubernetes"))


def test_an_empty_api_key_file_is_a_clear_error_not_anonymous_calls(tmp_path: Path) -> None:
    from autoscaler.drivers.kubernetes.connection import api_client
    from autoscaler.drivers.kubernetes.settings import KubernetesSettings

    token_file = tmp_path / "token"
    token_file.write_text("\n")
    settings = KubernetesSettings.model_validate(
        {"type": "kubernetes", "url": "https://127.0.0.1:6443", "api-key-file": str(token_file)}
    )
    with pytest.raises(DriverError, match=f"kubernetes api-key-file: file {token_file} is empty") as info:
        api_client(settings)
    assert not info.value.transient
