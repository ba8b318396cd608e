"""The notification runner (`controller.notifying`): a message goes to the URL read from
`urlFrom` when it is sent (a real gate on 127.0.0.1), a failed one is counted by sink
and named without its URL, and each sink is rate-limited by a token bucket."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hookgate import HookGate

from rollout.api import policyspec
from rollout.controller import notifying
from rollout.reconcilers import base
from rollout.release import notify

KEY = base.Key("Release", "default", "web-00002")
WAIT = 15.0


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_sink_gets_its_burst_then_one_a_second() -> None:
    t = FakeTime()
    limiter = notifying.Limiter(rate=1.0, burst=3, clock=t.clock, sleep=t.sleep)
    assert [limiter.acquire("https://hooks.slack.com/a", 0) for _ in range(4)] == [
        True,
        True,
        True,
        False,
    ]
    assert limiter.acquire("https://hooks.slack.com/a", 5)
    assert t.slept == [pytest.approx(1.0)]
    assert limiter.acquire("https://other.example/b", 0)  # another sink, its own bucket


def test_a_token_never_waits_past_the_bound() -> None:
    t = FakeTime()
    limiter = notifying.Limiter(rate=0.1, burst=1, clock=t.clock, sleep=t.sleep)
    assert limiter.acquire("u", 0)
    assert not limiter.acquire("u", 5)  # the next token is 10 s away
    assert t.slept == []


@pytest.fixture
def gate() -> Iterator[HookGate]:
    made = HookGate(200)
    yield made
    made.close()


def delivery(**fields: object) -> notify.Delivery:
    n = policyspec.Notification.model_validate(
        {"name": "chat", "sink": "slack", "urlFrom": {"env": "SINK_URL"}, "retries": 0} | fields
    )
    return notify.Delivery(
        n, "3|Paused/step 1/X", {"text": "hi", "at": datetime(2025, 1, 1, tzinfo=UTC)}
    )


def send(runner: notifying.Runner, woken: threading.Event, d: notify.Delivery) -> object:
    assert runner.take(KEY, [d], "default") == ((), ("chat",))
    assert woken.wait(WAIT)
    (answer,), pending = runner.take(KEY, [d], "default")
    assert pending == ()
    return answer


def test_a_message_goes_to_the_url_read_when_sending_and_failures_are_counted(
    gate: HookGate, monkeypatch: pytest.MonkeyPatch
) -> None:
    failed: list[str] = []
    woken = threading.Event()
    runner = notifying.Runner(wake=lambda key: woken.set(), failed=failed.append)
    try:
        monkeypatch.setenv("SINK_URL", f"{gate.url}/services/T0/B0/s3cret")
        answer = send(runner, woken, delivery())
        assert answer.ok
        assert failed == []
        assert gate.bodies("/services/T0/B0/s3cret") == [
            {"text": "hi", "at": "2025-01-01T00:00:00Z"}
        ]

        gate.status = 500
        woken.clear()
        answer = send(runner, woken, delivery())
        assert not answer.ok
        assert failed == ["slack"]
        assert "s3cret" not in answer.error
        assert gate.url not in answer.error
    finally:
        runner.close()


def test_an_unset_url_is_a_failed_message_naming_its_source(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SINK_URL", raising=False)
    failed: list[str] = []
    woken = threading.Event()
    runner = notifying.Runner(wake=lambda key: woken.set(), failed=failed.append)
    try:
        answer = send(runner, woken, delivery())
        assert not answer.ok
        assert "SINK_URL" in answer.error
        assert failed == ["slack"]
    finally:
        runner.close()
