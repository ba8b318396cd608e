"""`rest.Resources`' retry loop on a scripted transport (no server, a fake clock):
what is sent again, after how long, and what the caller gets — the cases the
emulator cannot stage (a DELETE processed but answered 500, a lease lost between
attempts, a token that would come after the deadline)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rollout.platforms.kubernetes import apiclient, refs, rest

CONFIGMAPS = refs.Ref("", "v1", "configmaps")


class Answer:
    """What the official client's `call_api` returns, as much as `rest.py` reads."""

    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None):
        self.status = status
        self.reason = {200: "OK", 404: "Not Found", 429: "Too Many Requests"}.get(status, "Err")
        self.data = json.dumps(body).encode() if body is not None else b""
        self.headers = headers or {}

    def read(self) -> bytes:
        return self.data


class Transport:
    """An `ApiClient` stand-in answering from a script, on a fake clock."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.sent: list[tuple[str, str, Any]] = []
        self.now = 0.0
        self.slept: list[float] = []
        self.traffic = apiclient.configure(
            self,  # type: ignore[arg-type]
            apiclient.Traffic(
                qps=1, burst=1, clock=lambda: self.now, sleep=self.sleep, draw=lambda: 0.5
            ),
        )

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def param_serialize(self, method: str, path: str, **_: Any) -> tuple[str, str]:
        return (method, path)

    def call_api(self, method: str, path: str, *, _request_timeout: Any) -> Answer:
        self.sent.append((method, path, _request_timeout))
        return self.answers.pop(0)


def test_a_delete_retried_after_a_500_and_answered_404_has_succeeded() -> None:
    """The 500 came after the object was deleted: the retry's 404 is our own doing."""
    t = Transport(Answer(500), Answer(404))
    rest.Resources(t).delete(CONFIGMAPS, "default", "a", missing_ok=False)  # type: ignore[arg-type]
    assert [m for m, _, _ in t.sent] == ["DELETE", "DELETE"]
    assert t.slept == [pytest.approx(0.1875), pytest.approx(0.8125)]  # backoff, then a token


def test_a_delete_answered_404_at_once_is_missing() -> None:
    t = Transport(Answer(404))
    with pytest.raises(rest.ApiError) as raised:
        rest.Resources(t).delete(CONFIGMAPS, "default", "a", missing_ok=False)  # type: ignore[arg-type]
    assert raised.value.status == 404


def test_a_write_is_not_retried_once_the_lease_is_lost() -> None:
    """The fence is asked before every attempt: a leader that lost its lease while
    waiting out a Retry-After does not send the write again."""
    t = Transport(Answer(429, headers={"Retry-After": "1"}), Answer(200, {}))
    holds = iter([True, False])
    res = rest.Resources(t, may_write=lambda: next(holds))  # type: ignore[arg-type]
    with pytest.raises(rest.NotLeader):
        res.patch(CONFIGMAPS, "default", "a", {"data": {"k": "v"}})
    assert len(t.sent) == 1


def test_each_attempt_gets_what_is_left_of_the_timeout() -> None:
    t = Transport(Answer(503, headers={"Retry-After": "2"}), Answer(200, {"kind": "ConfigMap"}))
    got = rest.Resources(t, timeout=10).get(CONFIGMAPS, "default", "a")  # type: ignore[arg-type]
    assert got == {"kind": "ConfigMap"}
    assert [timeout for _, _, timeout in t.sent] == [pytest.approx(10), pytest.approx(8)]
    sent, retried, waited = t.traffic.counts()
    assert sent == {("GET", 503): 1, ("GET", 200): 1}
    assert retried == {("GET", 503): 1}
    assert waited == 0  # the token had come back during the Retry-After


def test_no_token_before_the_deadline_is_a_429_without_sending() -> None:
    """1 request a second, a 0.5 s timeout: the second request in the same instant
    would wait a second for its token — it is refused at once, nothing sent."""
    t = Transport(Answer(200, {}), Answer(200, {}))
    res = rest.Resources(t, timeout=0.5)  # type: ignore[arg-type]
    res.get(CONFIGMAPS, "default", "a")
    with pytest.raises(rest.ApiError) as raised:
        res.get(CONFIGMAPS, "default", "a")
    assert raised.value.status == 429
    assert "client-side rate limit (1/s)" in str(raised.value)
    assert len(t.sent) == 1
    assert t.slept == []
