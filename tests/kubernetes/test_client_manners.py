"""`rest.Resources` against an API server that throttles and fails: 429s are retried
after their `Retry-After`, a 503 on a read after a short backoff, a create answered
500 is left to the caller, nothing waits past the request's deadline, and every
`Resources` on one `ApiClient` shares its client-side rate limit."""

from __future__ import annotations

import itertools
import time
from typing import Any

import kubeemu
import pytest
from kubeemu import Faults, rawclient

from rollout.platforms.kubernetes import apiclient, refs, rest

CONFIGMAPS = refs.Ref("", "v1", "configmaps")
AGENT = "manners-test"


def configmap(name: str, value: str = "1", rv: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default"}
    if rv is not None:
        meta["resourceVersion"] = rv
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": value}}


def resources(emu: kubeemu.Emulator, *, timeout: float = 15.0) -> rest.Resources:
    return rest.Resources(emu.api_client(user_agent=AGENT), timeout=timeout)


def test_throttled_calls_complete_after_waiting_retry_after(
    emulator: kubeemu.Emulator,
) -> None:
    """A third of the requests answered 429 (seed 2: the third call twice in a row):
    every call of every verb completes, and each retry came at least Retry-After
    (1 s) after the 429 it answers."""
    res = resources(emulator)
    emulator.faults = Faults(throttle_rate=0.3, retry_after_s=1, seed=2, user_agent_contains=AGENT)
    made = res.create(CONFIGMAPS, "default", configmap("a"))
    assert res.get(CONFIGMAPS, "default", "a")["data"] == {"k": "1"}
    patched = res.patch(CONFIGMAPS, "default", "a", {"data": {"k": "2"}})
    assert patched["data"] == {"k": "2"}
    rv = patched["metadata"]["resourceVersion"]
    assert res.replace(CONFIGMAPS, "default", "a", configmap("a", "3", rv))["data"] == {"k": "3"}
    assert [i["metadata"]["name"] for i in res.list(CONFIGMAPS, "default")["items"]] == ["a"]
    res.delete(CONFIGMAPS, "default", "a", missing_ok=False)
    assert made["metadata"]["name"] == "a"

    seen = emulator.requests.matching(user_agent=AGENT)
    codes = [r.status_code for r in seen]
    assert codes.count(429) == 2, codes
    for record, after in itertools.pairwise(seen):
        if record.status_code == 429:
            assert (after.verb, after.name) == (record.verb, record.name)
            assert after.at - record.at >= 1.0, (record, after)
    assert emulator.get_object("", "v1", "configmaps", "default", "a") is None


def test_the_429_carries_a_status_and_retry_after(emulator: kubeemu.Emulator) -> None:
    """What the emulator sends is what the apiserver's max-in-flight filter sends."""
    emulator.faults = Faults(throttle_rate=1.0, retry_after_s=3)
    reply = rawclient.call(emulator.url, "GET", "/api/v1/namespaces/default/configmaps")
    assert reply.status == 429
    assert reply.headers["retry-after"] == "3"
    assert reply.body["reason"] == "TooManyRequests"
    assert reply.body["code"] == 429
    assert reply.body["message"] == "Too many requests, please try again later."
    assert reply.body["details"] == {"retryAfterSeconds": 3}


def test_a_read_answered_503_is_retried_after_a_backoff(emulator: kubeemu.Emulator) -> None:
    res = resources(emulator)
    res.create(CONFIGMAPS, "default", configmap("a"))
    emulator.faults = Faults(unavailable_rate=0.5, seed=1, user_agent_contains=AGENT)
    assert res.get(CONFIGMAPS, "default", "a")["data"] == {"k": "1"}
    gets = emulator.requests.matching(user_agent=AGENT, verb="get")
    assert [r.status_code for r in gets] == [503, 200]
    assert gets[1].at - gets[0].at >= retries_min_backoff()


def retries_min_backoff() -> float:
    from rollout.platforms.kubernetes import retries

    return retries.backoff(0, 0.0)


def test_a_create_answered_500_is_not_retried(emulator: kubeemu.Emulator) -> None:
    """The 500 may come after the object was stored: a retry would meet our own
    object as 409 AlreadyExists. The caller gets the 500 (and reconciles again from
    a fresh read)."""
    res = resources(emulator)
    emulator.faults = Faults(error_rate=1.0, user_agent_contains=AGENT)
    with pytest.raises(rest.ApiError) as raised:
        res.create(CONFIGMAPS, "default", configmap("a"))
    assert raised.value.status == 500
    assert len(emulator.requests.matching(user_agent=AGENT, verb="create")) == 1


def test_nothing_waits_past_the_requests_deadline(emulator: kubeemu.Emulator) -> None:
    """Every answer 429: retries stop once the next Retry-After would end after the
    request's timeout — the caller gets the 429, never a call that blocks on."""
    res = resources(emulator, timeout=1.5)
    emulator.faults = Faults(throttle_rate=1.0, retry_after_s=1, user_agent_contains=AGENT)
    started = time.monotonic()
    with pytest.raises(rest.ApiError) as raised:
        res.get(CONFIGMAPS, "default", "a")
    assert raised.value.status == 429
    assert time.monotonic() - started < 1.5
    assert len(emulator.requests.matching(user_agent=AGENT)) == 2  # at 0 s and 1 s

    emulator.faults = Faults(throttle_rate=1.0, retry_after_s=60, user_agent_contains=AGENT)
    started = time.monotonic()
    with pytest.raises(rest.ApiError):
        res.get(CONFIGMAPS, "default", "a")
    assert time.monotonic() - started < 1.0  # a minute's Retry-After: not waited for


def test_resources_on_one_client_share_its_rate_limit(emulator: kubeemu.Emulator) -> None:
    """Two `Resources` on one ApiClient limited to 20/s with bursts of 2: 12 requests
    take at least (12 - 2) / 20 s, the emulator never sees more than the burst plus
    what the rate allows in any window, and the wait is counted."""
    api = emulator.api_client(user_agent=AGENT)
    traffic = apiclient.configure(api, apiclient.Traffic(20, 2))
    first, second = rest.Resources(api), rest.Resources(api)
    started = time.monotonic()
    for i in range(6):
        first.find(CONFIGMAPS, "default", f"a{i}")
        second.find(CONFIGMAPS, "default", f"b{i}")
    assert time.monotonic() - started >= 0.45
    assert emulator.requests.busiest(0.2, user_agent_contains=AGENT) <= 2 + 4
    sent, _retried, waited = traffic.counts()
    assert sent == {("GET", 404): 12}
    assert waited > 0  # (less than the elapsed time when requests themselves are slow)
