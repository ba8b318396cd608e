"""Injected faults: 409/500 at the configured rates, timeouts, dropped watches, determinism."""

from __future__ import annotations

import http.client
import time
from collections import Counter
from typing import Any

import kubeemu
import kubernetes.client
import kubernetes.watch
import pytest
import urllib3
from kubeemu import Faults, faults, rawclient

CM = "/api/v1/namespaces/default/configmaps"
N = 200


def _cm(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def _codes(emu: kubeemu.Emulator, count: int, *, ua: str = "test") -> list[int]:
    return [
        rawclient.call(emu.url, "GET", f"{CM}/c", headers={"User-Agent": ua}).status
        for _ in range(count)
    ]


@pytest.fixture
def with_cm(emulator: kubeemu.Emulator) -> kubeemu.Emulator:
    assert rawclient.call(emulator.url, "POST", CM, body=_cm("c", n="0")).status == 201
    return emulator


@pytest.mark.parametrize("rate", [0.1, 0.3])
def test_error_rate(with_cm: kubeemu.Emulator, rate: float) -> None:
    """About `error_rate` of requests answer 500 InternalError with a Status body."""
    with_cm.faults.error_rate = rate
    codes = Counter(_codes(with_cm, N))
    assert set(codes) == {200, 500}
    assert abs(codes[500] / N - rate) < 0.07
    reply = next(
        r
        for r in (rawclient.call(with_cm.url, "GET", f"{CM}/c") for _ in range(100))
        if r.status == 500
    )
    assert (reply.body["kind"], reply.body["reason"], reply.body["code"]) == (
        "Status",
        "InternalError",
        500,
    )


def test_conflict_rate_applies_to_updates_and_patches_only(with_cm: kubeemu.Emulator) -> None:
    """About `conflict_rate` of updates/patches are 409 Conflict; reads never are."""
    with_cm.faults.conflict_rate = 0.25
    assert set(_codes(with_cm, 50)) == {200}
    statuses = []
    for n in range(N):
        body = _cm("c", n=str(n))  # no resourceVersion: only an injected conflict can fail it
        statuses.append(rawclient.call(with_cm.url, "PUT", f"{CM}/c", body=body).status)
    codes = Counter(statuses)
    assert set(codes) == {200, 409}
    assert abs(codes[409] / N - 0.25) < 0.07
    patch = rawclient.call(
        with_cm.url,
        "PATCH",
        f"{CM}/c",
        body=b'{"data":{"p":"1"}}',
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert patch.status in (200, 409)
    conflict = next(
        r
        for r in (rawclient.call(with_cm.url, "PUT", f"{CM}/c", body=_cm("c")) for _ in range(50))
        if r.status == 409
    )
    assert conflict.body["reason"] == "Conflict"
    assert "the object has been modified" in conflict.body["message"]


def test_faults_are_deterministic_given_the_seed() -> None:
    """The same seed and requests fail the same requests; another seed fails others."""
    runs = {}
    for label, seed in [("first", 7), ("again", 7), ("other", 8)]:
        with kubeemu.start_emulator() as emu:
            rawclient.call(emu.url, "POST", CM, body=_cm("c"))
            emu.faults = Faults(error_rate=0.5, seed=seed)
            runs[label] = _codes(emu, 40)
    assert runs["first"] == runs["again"]
    assert runs["first"] != runs["other"]


def test_changing_the_seed_restarts_the_sequence(with_cm: kubeemu.Emulator) -> None:
    """Setting a new seed, or assigning new Faults, restarts the seed's sequence."""
    with_cm.faults.error_rate = 0.5
    with_cm.faults.seed = 1
    first = _codes(with_cm, 20)
    with_cm.faults.seed = 2
    _codes(with_cm, 5)
    with_cm.faults.seed = 1
    assert _codes(with_cm, 20) == first
    with_cm.faults = Faults(error_rate=0.5, seed=1)
    assert _codes(with_cm, 20) == first


def test_a_faulted_write_changes_nothing(with_cm: kubeemu.Emulator) -> None:
    """The fault is decided before the handler: no object, no new resourceVersion, no event."""
    before = with_cm.get_object("", "v1", "configmaps", "default", "c")
    assert before is not None
    with_cm.faults.error_rate = 1.0
    assert rawclient.call(with_cm.url, "POST", CM, body=_cm("new")).status == 500
    assert rawclient.call(with_cm.url, "PUT", f"{CM}/c", body=_cm("c", n="1")).status == 500
    assert rawclient.call(with_cm.url, "DELETE", f"{CM}/c").status == 500
    with_cm.faults.error_rate = 0.0
    with_cm.faults.conflict_rate = 1.0
    assert rawclient.call(with_cm.url, "PUT", f"{CM}/c", body=_cm("c", n="2")).status == 409
    assert with_cm.get_object("", "v1", "configmaps", "default", "new") is None
    assert with_cm.get_object("", "v1", "configmaps", "default", "c") == before
    listed = rawclient.call(with_cm.url, "GET", CM).body
    assert listed["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_timeout_holds_then_drops_without_writing(with_cm: kubeemu.Emulator) -> None:
    """A timed-out request gets no answer within timeout_s, then a closed connection."""
    with_cm.faults = Faults(timeout_rate=1.0, timeout_s=0.3)
    conn = http.client.HTTPConnection("127.0.0.1", with_cm.port, timeout=0.2)
    conn.request("POST", CM, body=b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"t"}}')
    with pytest.raises(TimeoutError):
        conn.getresponse()
    conn.close()
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", with_cm.port, timeout=5)
    conn.request("GET", f"{CM}/c")
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        conn.getresponse()
    conn.close()
    assert time.monotonic() - started >= 0.3
    assert with_cm.get_object("", "v1", "configmaps", "default", "t") is None
    assert [r.status_code for r in with_cm.requests.matching(verb="create", name="")][-1] == 0


def test_official_client_sees_a_read_timeout(with_cm: kubeemu.Emulator) -> None:
    """With the official client and a request timeout, an injected timeout is a read timeout."""
    configuration = kubernetes.client.Configuration(host=with_cm.url)
    configuration.retries = False
    client = kubernetes.client.ApiClient(configuration)
    try:
        core = kubernetes.client.CoreV1Api(client)
        with_cm.faults = Faults(timeout_rate=1.0, timeout_s=1.0)
        with pytest.raises(urllib3.exceptions.ReadTimeoutError):
            core.read_namespaced_config_map("c", "default", _request_timeout=0.2)
    finally:
        client.close()


def test_user_agent_filter_and_helpers_are_never_faulted(with_cm: kubeemu.Emulator) -> None:
    """Only requests whose User-Agent contains the filter fail; helper methods never do."""
    with_cm.faults = Faults(error_rate=1.0, user_agent_contains="rollout-controller")
    assert set(_codes(with_cm, 10, ua="kubectl/v1.32")) == {200}
    assert set(_codes(with_cm, 10, ua="rollout-controller/0.1 python")) == {500}
    adapter = kubernetes.client.CoreV1Api(with_cm.api_client(user_agent="rollout-controller/0.1"))
    with pytest.raises(kubernetes.client.exceptions.ApiException) as caught:
        adapter.read_namespaced_config_map("c", "default")
    assert caught.value.status == 500
    assert with_cm.get_object("", "v1", "configmaps", "default", "c") is not None
    written = with_cm.set_status("", "v1", "namespaces", None, "default", {"phase": "Active"})
    assert written["status"] == {"phase": "Active"}
    discovery = rawclient.call(
        with_cm.url, "GET", "/api/v1", headers={"User-Agent": "rollout-controller/0.1"}
    )
    assert discovery.status == 200  # discovery is never faulted


def test_dropped_watch_streams(with_cm: kubeemu.Emulator) -> None:
    """drop_watch_after_s cuts watch streams (no final chunk): the official client raises."""
    with_cm.faults.drop_watch_after_s = 0.3
    core = kubernetes.client.CoreV1Api(with_cm.api_client())
    started = time.monotonic()
    seen: list[str] = []

    def consume() -> None:
        stream = kubernetes.watch.Watch().stream(
            core.list_namespaced_config_map, "default", timeout_seconds=30
        )
        seen.extend(event["type"] for event in stream)

    with pytest.raises(urllib3.exceptions.ProtocolError):
        consume()
    assert 0.3 <= time.monotonic() - started < 5
    assert seen == ["ADDED"]
    assert with_cm.requests.matching(verb="watch")[-1].status_code == 200


def test_decision_bands() -> None:
    """One draw per request: timeout, then error, then (update/patch only) conflict bands."""
    injector = faults.FaultInjector(Faults(timeout_rate=0.2, error_rate=0.3, conflict_rate=0.5))
    updates = Counter(injector.decide(verb="update", user_agent="") for _ in range(2000))
    assert updates[faults.Fault.NONE] == 0
    assert abs(updates[faults.Fault.TIMEOUT] / 2000 - 0.2) < 0.04
    assert abs(updates[faults.Fault.ERROR] / 2000 - 0.3) < 0.04
    gets = Counter(injector.decide(verb="get", user_agent="") for _ in range(2000))
    assert faults.Fault.CONFLICT not in gets
    assert abs(gets[faults.Fault.NONE] / 2000 - 0.5) < 0.04


def test_throttle_and_unavailable_bands_follow_the_others() -> None:
    """Throttle (429) and unavailable (503) take their shares of every verb, after the
    conflict band (which a get drawing in it leaves unfaulted)."""
    injector = faults.FaultInjector(
        Faults(error_rate=0.2, conflict_rate=0.2, throttle_rate=0.3, unavailable_rate=0.1)
    )
    gets = Counter(injector.decide(verb="get", user_agent="") for _ in range(4000))
    assert abs(gets[faults.Fault.ERROR] / 4000 - 0.2) < 0.03
    assert abs(gets[faults.Fault.THROTTLE] / 4000 - 0.3) < 0.03
    assert abs(gets[faults.Fault.UNAVAILABLE] / 4000 - 0.1) < 0.03
    assert abs(gets[faults.Fault.NONE] / 4000 - 0.4) < 0.03  # the conflict band and the rest


def test_throttled_and_unavailable_requests_change_nothing(with_cm: kubeemu.Emulator) -> None:
    """A 429 or 503 is decided before the handler runs: the write did not happen, and
    the 503 has no Retry-After (only the throttle says when to come back)."""
    for setting in (Faults(throttle_rate=1.0, retry_after_s=2), Faults(unavailable_rate=1.0)):
        with_cm.faults = setting
        reply = rawclient.call(
            with_cm.url,
            "PATCH",
            f"{CM}/c",
            body={"data": {"n": "1"}},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        with_cm.faults = Faults()
        stored = with_cm.get_object("", "v1", "configmaps", "default", "c")
        assert stored is not None
        assert stored["data"] == {"n": "0"}
        if setting.throttle_rate:
            assert (reply.status, reply.headers.get("retry-after")) == (429, "2")
        else:
            assert reply.status == 503
            assert "retry-after" not in reply.headers
            assert reply.body["reason"] == "ServiceUnavailable"
