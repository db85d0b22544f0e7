"""The built-in drivers run the plugin contract kit, and the identity-tag contract below."""

from __future__ import annotations

import tempfile
from typing import Any

from autoscaler.config.models import Config
from autoscaler.plugin import AgentHandle, Driver, LaunchSpec
from autoscaler.testing.contract import DriverContract
from autoscaler.testing.kubernetes import KubeApi


class IdentityTagsContract(DriverContract):
    """Identity tags every driver must return on its handles.

    The engine adopts agents after a restart, retires them and finds leaks by the tags a driver
    puts on each agent's resource (a process's environment and state file, a pod's labels and
    annotations) and reads back into :class:`AgentHandle`:

    - ``name``: the ``LaunchSpec.name`` exactly (it is the Jenkins node's name);
    - ``label``: the name of the label it was launched for;
    - ``controller``: the name of the controller it joins (not merely the default one);
    - the daemon instance (``daemon.id``): :meth:`Driver.list` returns this instance's agents
      only, never another daemon's sharing the machine or namespace.

    They must survive the driver: a new driver instance (a restarted daemon) lists the same agent
    with the same tags. The label and command given by :meth:`launchable` must start without Jenkins.
    """

    daemon_id = "one"

    def launchable(self) -> dict[str, Any]:
        """A label this driver can launch (``image``, ``command``...), without ``name``."""
        return {"command": ["sleep", "30"], "image": "registry.example.org/ci/swarm-agent:1"}

    def config(self) -> Config:
        return Config.model_validate(
            {
                "controllers": [{"name": "main", "url": "http://127.0.0.1:9/"}, {"name": "other", "url": "http://x/"}],
                "labels": [{"name": "python", "controller": "other", **self.launchable()}],
                "daemon": {"id": self.daemon_id},
            }
        )

    def driver(self, daemon_id: str) -> Driver:
        self.daemon_id = daemon_id
        plugin, _ = self.build()
        assert isinstance(plugin, Driver)
        return plugin

    def test_handles_carry_the_identity_tags_and_only_this_daemons_agents_are_listed(self) -> None:
        first = self.driver("one")
        config = self.config()
        label = config.label("python")
        spec = LaunchSpec("ci-python-tagged", label, config.controller_of(label), "one")
        tags = ("ci-python-tagged", "python", "other")
        try:
            launched = first.launch(spec)
            assert (launched.name, launched.label, launched.controller) == tags
            restarted, stranger = self.driver("one"), self.driver("two")
            try:
                assert [tag_of(h) for h in restarted.list() if h.name == spec.name] == [tags]
                assert spec.name not in {h.name for h in stranger.list()}, "another daemon's agent was listed"
            finally:
                self.stop_within_deadline(restarted)
                self.stop_within_deadline(stranger)
        finally:
            first.delete(spec.name, grace=1)
            self.stop_within_deadline(first)


def tag_of(handle: AgentHandle) -> tuple[str, str, str]:
    return handle.name, handle.label, handle.controller


class TestLocalDriverContract(IdentityTagsContract):
    entry_point = "local"

    def setup_method(self) -> None:
        self.work_dir = tempfile.mkdtemp(prefix="contract-local-")

    def settings(self) -> dict[str, Any]:
        return {"type": "local", "work-dir": self.work_dir}


class TestKubernetesDriverContract(IdentityTagsContract):
    entry_point = "kubernetes"

    def setup_method(self) -> None:
        self.api = KubeApi().start()

    def teardown_method(self) -> None:
        self.api.stop()

    def settings(self) -> dict[str, Any]:
        return {"type": "kubernetes", "url": self.api.url, "namespace": "ci"}
