"""The kubernetes driver under API faults: the official client over real sockets against the API
double with its fault switches on (500, 403 quota, 409, 410, a dropped watch, a hang, a slow
answer, refused connections). Every call comes back within ``request-timeout`` with the driver's
error, transient where a later retry may help; nothing is leaked and the cache stays right."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from autoscaler.drivers.kubernetes.podspec import build_pod
from autoscaler.plugin import DriverError, DriverStatus
from tests.integration.k8s_world import NS, K8sWorld

PODS = f"/api/v1/namespaces/{NS}/pods"
TIMEOUT = 0.5
"""``request-timeout`` of these tests; a call must be back within it plus this much slack:"""
SLACK = 0.4


@pytest.fixture
def world() -> Iterator[K8sWorld]:
    w = K8sWorld(**{"request-timeout": TIMEOUT})
    yield w
    w.close()


def timed(call: Callable[[], Any]) -> tuple[DriverError, float]:
    """Run ``call``, which must raise :class:`DriverError`; return it and the seconds it took."""
    start = time.monotonic()
    with pytest.raises(DriverError) as info:
        call()
    return info.value, time.monotonic() - start


def released_after(world: K8sWorld, seconds: float) -> threading.Timer:
    """Clear the faults after ``seconds`` anyway, so a call with no timeout fails slowly instead of hanging."""
    timer = threading.Timer(seconds, world.api.faults.clear)
    timer.daemon = True
    timer.start()
    return timer


def put_pod(world: K8sWorld, name: str, label: str = "broken", daemon_id: str = "test") -> None:
    """A pod of this daemon made behind the driver's back (``broken``: the kubelet runs no process)."""
    pod = build_pod(name, world.config.label(label), world.config.default_controller, daemon_id, world.settings, 0)
    world.api.store.create("pods", NS, pod)


def names(world: K8sWorld) -> list[str]:
    return sorted(h.name for h in world.driver.list())


# -- error answers ---------------------------------------------------------------------------------


def test_500_on_create_is_transient_and_leaves_no_pod_and_no_node(world: K8sWorld) -> None:
    fault = world.api.faults.fail("POST", PODS, 500, times=1)
    error, _ = timed(lambda: world.driver.launch(world.spec("ci-java-aaaaaa", "java")))
    assert error.transient and "500" in str(error) and "injected fault" in str(error)
    assert fault.hits == 1
    assert world.api.pods(NS) == {} and "ci-java-aaaaaa" not in world.sim.model.nodes  # nothing left behind
    world.driver.launch(world.spec("ci-java-aaaaaa", "java"))  # the fault was for one call: the retry works
    assert list(world.api.pods(NS)) == ["ci-java-aaaaaa"]


def test_an_answer_that_is_not_a_status_is_still_a_driver_error(world: K8sWorld) -> None:
    world.api.faults.fail("POST", PODS, 503, body=b'["upstream connect error"]', times=1)
    error, _ = timed(lambda: world.driver.launch(world.spec("ci-python-aaaaaa", "python")))
    assert error.transient and "503" in str(error)
    world.api.faults.fail("DELETE", PODS, 403, body=b"<html>Forbidden by the proxy</html>", times=1)
    error, _ = timed(lambda: world.driver.delete("ci-python-aaaaaa", grace=1))
    assert not error.transient and "403" in str(error)


def test_quota_403_is_transient_but_other_403s_are_not(world: K8sWorld) -> None:
    quota = world.api.faults.quota(PODS, times=1)
    error, _ = timed(lambda: world.driver.launch(world.spec("ci-python-aaaaaa", "python")))
    assert error.transient and "quota" in str(error)
    assert 'pods "ci-python-aaaaaa" is forbidden: exceeded quota' in str(error) and quota.hits == 1
    world.api.faults.fail("POST", PODS, 403, "Forbidden", 'pods is forbidden: User "ci" cannot create', times=1)
    error, _ = timed(lambda: world.driver.launch(world.spec("ci-python-bbbbbb", "python")))
    assert not error.transient and "cannot create" in str(error)  # RBAC: retrying will not help
    world.api.faults.fail("POST", PODS, 403, "Forbidden", "EXCEEDED QUOTA: pods", times=1)
    error, _ = timed(lambda: world.driver.launch(world.spec("ci-python-cccccc", "python")))
    assert error.transient  # whatever the case of the words
    assert world.api.pods(NS) == {}


# -- 409: the pod exists already --------------------------------------------------------------------


def test_a_create_that_timed_out_but_was_made_shows_in_the_listing_and_a_retry_adopts_it(world: K8sWorld) -> None:
    assert world.driver.list() == []
    world.api.faults.slow("POST", PODS, delay=3, times=1)  # made at once, answered too late
    looked = world.api.faults.fail("GET", f"{PODS}/ci-python-aaaaaa", 500, times=1)  # and the look fails too
    error, took = timed(lambda: world.driver.launch(world.spec("ci-python-aaaaaa", "python")))
    assert error.transient and "within 0.5s" in str(error) and "may exist" in str(error)
    assert getattr(error, "sent", False)  # the driver knows the create may have been made
    assert took < TIMEOUT + SLACK and looked.hits == 1
    world.api.wait_for(lambda: names(world) == ["ci-python-aaaaaa"], 10, "the pod in the listing")
    (handle,) = world.driver.list()
    assert (handle.label, handle.controller) == ("python", "main")  # what the engine needs to adopt it
    again = world.driver.launch(world.spec("ci-python-aaaaaa", "python"))  # the retry: 409, and it is ours
    assert again.name == "ci-python-aaaaaa" and again.label == "python"
    assert list(world.api.pods(NS)) == ["ci-python-aaaaaa"] and world.api.store.calls["POST pods"] == 2


def test_a_create_answered_too_late_is_taken_as_launched(world: K8sWorld) -> None:
    world.api.faults.slow("POST", PODS, delay=3, times=1)
    start = time.monotonic()
    handle = world.driver.launch(world.spec("ci-python-aaaaaa", "python"))
    assert time.monotonic() - start < TIMEOUT + SLACK
    assert handle.name == "ci-python-aaaaaa" and list(world.api.pods(NS)) == ["ci-python-aaaaaa"]


def test_409_for_a_pod_that_is_gone_is_transient_and_for_another_daemons_pod_is_refused(world: K8sWorld) -> None:
    conflict = world.api.faults.conflict("POST", PODS, times=1)
    error, _ = timed(lambda: world.driver.launch(world.spec("ci-python-aaaaaa", "python")))
    assert error.transient and "not found" in str(error) and conflict.hits == 1
    put_pod(world, "ci-python-bbbbbb", "python", daemon_id="other")
    error, _ = timed(lambda: world.driver.launch(world.spec("ci-python-bbbbbb", "python")))
    assert not error.transient and "not this daemon's" in str(error)


# -- the watch --------------------------------------------------------------------------------------


def test_410_on_the_watch_relists_and_reports_what_changed_meanwhile(world: K8sWorld) -> None:
    put_pod(world, "ci-broken-aaaaaa")
    put_pod(world, "ci-broken-bbbbbb")
    assert names(world) == ["ci-broken-aaaaaa", "ci-broken-bbbbbb"]
    down = world.api.faults.fail("WATCH", PODS, 503, "ServiceUnavailable", "apiserver restarting")
    gone = world.api.faults.gone("WATCH", PODS, times=1)  # after the restart: the version is too old
    world.api.faults.drop("WATCH", PODS, times=1)  # the open stream is cut
    world.api.wait_for(lambda: down.hits >= 1, 10, "a refused reconnect")
    world.api.store.remove("pods", NS, "ci-broken-aaaaaa")  # while the watch is away
    put_pod(world, "ci-broken-cccccc")
    world.changes()
    seen_before = len(world.seen)
    world.api.faults.remove(down)
    world.api.wait_for(lambda: world.driver.relists >= 2, 10, "a relist after 410")
    assert gone.hits == 1 and names(world) == ["ci-broken-bbbbbb", "ci-broken-cccccc"]
    reported = {(c.handle.name, c.handle.status) for c in world.changes()[seen_before:]}
    assert ("ci-broken-aaaaaa", DriverStatus.EXITED) in reported  # its DELETED event was never streamed
    assert any(name == "ci-broken-cccccc" for name, _ in reported)


def test_a_watch_dropped_mid_event_resumes_and_delivers_that_event(world: K8sWorld) -> None:
    assert world.driver.list() == []
    world.api.wait_for(lambda: world.api.store.calls["WATCH pods"] >= 1, 10, "the watch")
    drop = world.api.faults.drop("WATCH", PODS, after=1, times=1)
    put_pod(world, "ci-broken-aaaaaa")  # delivered whole
    put_pod(world, "ci-broken-bbbbbb")  # cut in half: the client must not take half an event
    world.api.wait_for(lambda: drop.hits == 1, 10, "the drop")
    world.api.wait_for(lambda: names(world) == ["ci-broken-aaaaaa", "ci-broken-bbbbbb"], 10, "both pods")
    put_pod(world, "ci-broken-cccccc")  # an event after the drop
    world.api.wait_for(lambda: "ci-broken-cccccc" in names(world), 10, "the event after the drop")
    assert world.driver.relists == 1  # resumed from its resource version, no relist needed


def test_a_hung_watch_is_given_up_and_opened_again(world: K8sWorld) -> None:
    assert world.driver.list() == []
    hang = world.api.faults.hang("WATCH", PODS, times=1)  # the next renewal is accepted, never answered
    world.api.wait_for(lambda: hang.hits == 1, 10, "the hung watch")
    put_pod(world, "ci-broken-aaaaaa")
    start = time.monotonic()
    world.api.wait_for(lambda: names(world) == ["ci-broken-aaaaaa"], 6, "the pod after the hang")
    # silent past watch-timeout (1s) + request-timeout: opened again (after a 0.5s pause)
    assert time.monotonic() - start < 1 + TIMEOUT + 0.5 + 1.5
    assert world.driver.relists == 1


# -- no answer ---------------------------------------------------------------------------------------


def test_a_hung_create_fails_within_the_timeout(world: K8sWorld) -> None:
    world.driver.list()
    hang = world.api.faults.hang("POST", PODS)
    released_after(world, 3)
    error, took = timed(lambda: world.driver.launch(world.spec("ci-python-aaaaaa", "python")))
    assert took < TIMEOUT + SLACK, f"took {took:.2f}s"
    assert error.transient and "no answer from the API server within 0.5s" in str(error)
    assert hang.hits == 1 and world.api.pods(NS) == {}


def test_hung_delete_list_and_patch_fail_within_the_timeout(world: K8sWorld) -> None:
    put_pod(world, "ci-broken-aaaaaa")
    world.api.faults.hang("LIST", PODS)
    released_after(world, 3)
    error, took = timed(world.driver.list)  # the first listing
    assert took < TIMEOUT + SLACK and error.transient and "list pods" in str(error)
    world.api.faults.clear()
    assert names(world) == ["ci-broken-aaaaaa"]
    world.api.faults.hang("DELETE", PODS)
    world.api.faults.hang("PATCH", PODS)
    released_after(world, 3)
    error, took = timed(lambda: world.driver.delete("ci-broken-aaaaaa", grace=1))
    assert took < TIMEOUT + SLACK and error.transient and "delete pod ci-broken-aaaaaa" in str(error)
    error, took = timed(lambda: world.driver.mark_hold("ci-broken-aaaaaa", "debugging", None))
    assert took < TIMEOUT + SLACK and error.transient and "timed out" in str(error)
    assert "ci-broken-aaaaaa" in world.api.pods(NS)


def test_refused_connections_are_transient_errors_and_the_driver_recovers(world: K8sWorld) -> None:
    put_pod(world, "ci-broken-aaaaaa")
    assert names(world) == ["ci-broken-aaaaaa"]
    world.api.refuse_connections()
    try:
        for call in (
            lambda: world.driver.launch(world.spec("ci-python-bbbbbb", "python")),
            lambda: world.driver.delete("ci-broken-aaaaaa", grace=1),
            lambda: world.driver.mark_hold("ci-broken-aaaaaa", "debugging", None),
        ):
            error, took = timed(call)
            assert error.transient and "cannot connect to the API server" in str(error) and took < TIMEOUT
    finally:
        world.api.accept_connections()
    world.driver.delete("ci-broken-aaaaaa", grace=0)
    world.api.wait_for(lambda: names(world) == [], 20, "the watch back and the pod gone")


def test_a_create_whose_answer_is_cut_is_looked_up_and_taken_as_launched(world: K8sWorld) -> None:
    cut = world.api.faults.drop("POST", PODS, times=1)  # made, then the answer breaks off mid-body
    handle = world.driver.launch(world.spec("ci-python-aaaaaa", "python"))
    assert cut.hits == 1 and handle.name == "ci-python-aaaaaa"
    assert list(world.api.pods(NS)) == ["ci-python-aaaaaa"] and world.api.store.calls["GET pods"] == 2


def test_a_reset_connection_and_a_410_on_the_listing_are_transient(world: K8sWorld) -> None:
    reset = world.api.faults.reset("DELETE", PODS)
    error, _ = timed(lambda: world.driver.delete("ci-python-aaaaaa", grace=1))
    assert error.transient and "dropped the connection" in str(error)
    assert reset.hits == 2  # a delete is retried once on a new connection, no more
    world.api.faults.gone("LIST", PODS, times=1)
    error, _ = timed(world.driver.list)
    assert error.transient and "410" in str(error)
    assert world.driver.list() == []  # the next listing works
    world.api.faults.reset("POST", PODS, times=1)
    error, _ = timed(lambda: world.driver.launch(world.spec("ci-python-aaaaaa", "python")))
    assert error.transient and "may exist" in str(error)  # a create is never resent blindly: looked up
    assert world.api.store.calls["POST pods"] == 1 and world.api.pods(NS) == {}
