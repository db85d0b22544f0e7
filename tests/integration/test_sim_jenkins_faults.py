"""The simulated Jenkins' fault switches, seen over real sockets by ``requests`` and the real client."""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from autoscaler.config.models import ControllerConfig
from autoscaler.jenkins.client import JenkinsClient, JenkinsError
from autoscaler.testing.jenkins import SimJenkins
from autoscaler.testing.jenkins.http import CRUMB_FIELD

COMPUTERS = "/computer/api/json"


def url(sim: SimJenkins, path: str) -> str:
    return sim.url.rstrip("/") + path


def get(sim: SimJenkins, path: str, *, timeout: float = 5.0, token: str | None = None) -> requests.Response:
    return requests.get(url(sim, path), auth=(sim.user, token or sim.token), timeout=timeout)


def crumb_session(sim: SimJenkins) -> tuple[requests.Session, str]:
    session = requests.Session()
    session.auth = (sim.user, sim.token)
    answer = session.get(url(sim, "/crumbIssuer/api/json"), timeout=5)
    answer.raise_for_status()
    return session, answer.json()["crumb"]


def post(session: requests.Session, sim: SimJenkins, path: str, crumb: str, **kw: object) -> requests.Response:
    return session.post(url(sim, path), headers={CRUMB_FIELD: crumb}, allow_redirects=False, timeout=5, **kw)  # type: ignore[arg-type]


def raw_get(sim: SimJenkins, path: str) -> socket.socket:
    """A raw connection with a keep-alive GET sent on it."""
    sock = socket.create_connection(("127.0.0.1", port(sim)), timeout=5)
    auth = base64.b64encode(f"{sim.user}:{sim.token}".encode()).decode()
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: sim\r\nAuthorization: Basic {auth}\r\n\r\n".encode())
    return sock


def read_answer(sock: socket.socket) -> bytes:
    """One whole answer (headers and Content-Length bytes of body) from a raw connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line for line in head.split(b"\r\n") if line.startswith(b"Content-Length")).split(b":")[1])
    while len(body) < length:
        body += sock.recv(65536)
    return data


def port(sim: SimJenkins) -> int:
    return int(sim.url.rstrip("/").rsplit(":", 1)[1])


@pytest.fixture
def sim() -> Iterator[SimJenkins]:
    with SimJenkins(zmq_port=None) as jenkins:
        jenkins.model.create_node("n1", labels="python", executors=1)
        yield jenkins


@pytest.mark.parametrize(
    ("status", "header", "text"),
    [
        (401, "WWW-Authenticate", "Authentication required"),
        (403, "X-Jenkins", "No valid crumb was included in the request"),
        (404, "X-Jenkins", "HTTP ERROR 404 Not Found"),
        (500, "X-Jenkins", "Oops!"),
        (503, "X-Jenkins", "Jenkins is getting ready to work"),
        (502, "Server", "nginx"),
    ],
)
def test_a_status_fault_answers_a_realistic_error_page(sim: SimJenkins, status: int, header: str, text: str) -> None:
    fault = sim.faults.add("GET", COMPUTERS, status=status)
    answer = get(sim, COMPUTERS)
    assert answer.status_code == status
    assert header in answer.headers and text in answer.text
    assert answer.headers["Content-Type"].startswith("text/html")
    assert fault.hits == 1 and sim.stats["fault:status"] == 1 and sim.stats[f"fault:{status}"] == 1
    sim.faults.clear()
    assert get(sim, COMPUTERS).json()["_class"] == "hudson.model.ComputerSet"


def test_times_limits_a_fault_then_it_matches_nothing(sim: SimJenkins) -> None:
    fault = sim.faults.add("GET", COMPUTERS, status=500, times=2)
    assert [get(sim, COMPUTERS).status_code for _ in range(3)] == [500, 500, 200]
    assert fault.hits == 2 and fault.exhausted and sim.stats["fault:500"] == 2
    assert sim.requests[("GET", COMPUTERS)] == 3  # every request is still counted


def test_faults_match_on_method_and_prefix_and_leave_the_state_alone(sim: SimJenkins) -> None:
    fault = sim.faults.add("POST", "/computer/", prefix=True, status=503)
    session, crumb = crumb_session(sim)
    assert session.get(url(sim, COMPUTERS), timeout=5).status_code == 200  # GET is not matched
    assert post(session, sim, "/computer/n1/toggleOffline", crumb, data={"x": "y" * 300}).status_code == 503
    assert post(session, sim, "/computer/n1/doDelete", crumb).status_code == 503
    assert "n1" in sim.model.nodes and not sim.model.nodes["n1"].temporarily_offline
    assert sim.stats["toggle_offline"] == 0
    assert fault.hits == 2
    sim.faults.remove(fault)
    # the keep-alive connection stayed in step (the form body was read): the next POST works
    assert post(session, sim, "/computer/n1/doDelete", crumb).status_code == 302
    assert "n1" not in sim.model.nodes


def test_after_carries_the_request_out_then_spoils_the_answer(sim: SimJenkins) -> None:
    sim.faults.add("POST", "/computer/n1/doDelete", status=500, after=True)
    session, crumb = crumb_session(sim)
    assert post(session, sim, "/computer/n1/doDelete", crumb).status_code == 500
    assert "n1" not in sim.model.nodes  # deleted, though the caller was told otherwise


def test_a_reset_cuts_the_answer_mid_body(sim: SimJenkins) -> None:
    fault = sim.faults.add("GET", COMPUTERS, reset=True, times=2)
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
        get(sim, COMPUTERS).json()
    sock = raw_get(sim, COMPUTERS)
    received = b""
    with pytest.raises(ConnectionResetError):  # an RST, not an orderly end of file
        while chunk := sock.recv(65536):
            received += chunk
    sock.close()
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and body.startswith(b'{"_class"')
    promised = int(next(line for line in head.split(b"\r\n") if line.startswith(b"Content-Length")).split(b":")[1])
    assert promised > len(body)
    assert fault.hits == 2 and sim.stats["fault:reset"] == 2
    assert get(sim, COMPUTERS).status_code == 200


def test_a_reset_after_the_request_was_carried_out(sim: SimJenkins) -> None:
    sim.faults.add("POST", "/computer/", prefix=True, reset=True, after=True)
    session, crumb = crumb_session(sim)
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
        post(session, sim, "/computer/n1/doDelete", crumb)
    assert "n1" not in sim.model.nodes


def test_a_hang_times_out_the_caller_and_removing_it_answers(sim: SimJenkins) -> None:
    fault = sim.faults.add("GET", "/queue/api/json", hang=True)
    with pytest.raises(requests.exceptions.ReadTimeout):
        get(sim, "/queue/api/json", timeout=0.3)
    answers: list[int] = []
    waiting = threading.Thread(target=lambda: answers.append(get(sim, "/queue/api/json").status_code))
    waiting.start()
    sim.wait_for(lambda: fault.hits == 2, timeout=5, what="the second request held")
    assert get(sim, COMPUTERS).status_code == 200  # other endpoints still answer
    assert not answers
    sim.faults.remove(fault)
    waiting.join(timeout=5)
    assert answers == [200]
    assert sim.stats["fault:hang"] == 2


def test_a_slow_endpoint_answers_late(sim: SimJenkins) -> None:
    sim.faults.add("GET", COMPUTERS, delay=0.4)
    with pytest.raises(requests.exceptions.ReadTimeout):
        get(sim, COMPUTERS, timeout=0.15)
    started = time.monotonic()
    assert get(sim, COMPUTERS).status_code == 200
    assert time.monotonic() - started >= 0.4
    assert sim.stats["fault:slow"] == 2


def test_stop_is_not_held_up_by_a_hang_or_a_delay() -> None:
    sim = SimJenkins(zmq_port=None).start()
    hang = sim.faults.add("GET", "/queue/api/json", hang=True)
    slow = sim.faults.add("GET", COMPUTERS, delay=60)
    errors: list[BaseException] = []

    def call(path: str) -> None:
        try:
            get(sim, path, timeout=30)
        except requests.RequestException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(path,)) for path in ("/queue/api/json", COMPUTERS)]
    for thread in threads:
        thread.start()
    sim.wait_for(lambda: hang.hits == 1 and slow.hits == 1, timeout=5, what="both requests held")
    started = time.monotonic()
    sim.stop()
    for thread in threads:
        thread.join(timeout=5)
    assert time.monotonic() - started < 3
    assert len(errors) == 2  # the held requests end unanswered


def test_not_json_answers_an_html_page_with_200(sim: SimJenkins) -> None:
    sim.faults.add("GET", "/crumbIssuer/api/json", not_json=True)
    answer = get(sim, "/crumbIssuer/api/json")
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/html")
    with pytest.raises(requests.exceptions.JSONDecodeError):
        answer.json()
    assert sim.stats["fault:not_json"] == 1


def test_refuse_then_accept_on_the_same_port(sim: SimJenkins) -> None:
    jenkins = JenkinsClient(ControllerConfig(name="main", url=sim.url, user=sim.user, token=sim.token), retries=0)
    assert set(jenkins.computers()) == {"n1"}
    held = raw_get(sim, COMPUTERS)
    assert read_answer(held).startswith(b"HTTP/1.1 200")
    sim.refuse()
    assert held.recv(65536) == b""  # the open keep-alive connection is dropped
    held.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port(sim)), timeout=5)
    with pytest.raises(requests.ConnectionError):
        get(sim, COMPUTERS)
    with pytest.raises(JenkinsError):
        jenkins.computers()
    sim.accept()
    assert get(sim, COMPUTERS).status_code == 200
    assert set(jenkins.computers()) == {"n1"}  # the same client, the same URL
    sim.refuse()  # and once more
    with pytest.raises(requests.ConnectionError):
        get(sim, COMPUTERS)
    sim.accept()
    assert get(sim, COMPUTERS).status_code == 200
    assert sim.stats["refuse"] == 2


def test_a_restart_forgets_sessions_so_an_old_crumb_gets_403(sim: SimJenkins) -> None:
    sim.model.create_node("n2", labels="python", executors=1)
    session, crumb = crumb_session(sim)
    assert post(session, sim, "/computer/n1/toggleOffline", crumb).status_code == 302
    (old_cookie,) = session.cookies.keys()
    assert old_cookie.startswith("JSESSIONID.") and len(old_cookie) == len("JSESSIONID.") + 8
    old = {"Cookie": f"{old_cookie}={session.cookies[old_cookie]}", CRUMB_FIELD: crumb}
    sim.restart()
    answer = requests.post(url(sim, "/computer/n2/doDelete"), headers=old, auth=(sim.user, sim.token), timeout=5)
    assert answer.status_code == 403 and "No valid crumb was included in the request" in answer.text
    assert "n2" in sim.model.nodes and sim.model.nodes["n1"].temporarily_offline  # state survives
    fresh, new_crumb = crumb_session(sim)
    assert set(fresh.cookies.keys()) != {old_cookie}
    assert post(fresh, sim, "/computer/n2/doDelete", new_crumb).status_code == 302
    assert sim.stats["bad_crumb"] == 1 and sim.stats["restart"] == 1


def test_a_rotated_token_gets_401(sim: SimJenkins) -> None:
    old = sim.token
    sim.rotate_token("new-token")
    answer = get(sim, COMPUTERS, token=old)
    assert answer.status_code == 401 and "WWW-Authenticate" in answer.headers
    assert get(sim, COMPUTERS, token="new-token").status_code == 200
    assert sim.stats["unauthorized"] == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "PUT", "status": 500}, "method"),
        ({}, "needs one of"),
        ({"status": 500, "reset": True}, "does one of"),
        ({"status": 700}, "HTTP status"),
        ({"status": 500, "times": 0}, "times"),
    ],
)
def test_a_fault_that_makes_no_sense_is_refused(sim: SimJenkins, kwargs: dict[str, object], message: str) -> None:
    method = str(kwargs.pop("method", "GET"))
    with pytest.raises(ValueError, match=message):
        sim.faults.add(method, COMPUTERS, **kwargs)  # type: ignore[arg-type]
    assert sim.faults.faults == []
