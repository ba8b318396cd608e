"""The measurement runner: readings off the reconcile, each within a deadline, one in
flight per (release, metric), bounded threads, and nothing a provider raises or says
reaching a release raw. Providers here are fakes that block on events the test
releases (every wait has a deadline)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from rollout.analysis import measurement
from rollout.api import policyspec
from rollout.controller import measuring
from rollout.reconcilers import base

NOW = datetime(2026, 1, 1, tzinfo=UTC)
KEY = base.Key("Release", "default", "web-00002")
OTHER = base.Key("Release", "default", "api-00002")
WAIT = 5.0  # seconds any condition here may take at most
TIMEOUT = 0.3  # the metrics' provider timeout
GRACE = 0.2


def metric(name: str = "m", timeout: float = TIMEOUT) -> policyspec.Metric:
    return policyspec.Metric.model_validate(
        {
            "name": name,
            "provider": {"web": {"url": "http://x/", "timeout": f"{int(timeout * 1000)}ms"}},
            "thresholds": {"max": 1},
        }
    )


def ctx(measured_until: datetime | None = None) -> measurement.MeasureContext:
    return measurement.MeasureContext(
        namespace="default",
        service="web",
        stable="web-00001",
        canary="web-00002",
        now=NOW,
        measured_until=measured_until,
    )


class Provider:
    """Answers `value` for each metric; a metric in `hold` waits until it is released."""

    def __init__(self) -> None:
        self.hold: dict[str, threading.Event] = {}
        self.calls: list[str] = []
        self.error: str | None = None
        self.raises: Exception | None = None
        self._lock = threading.Lock()

    def measure(
        self, m: policyspec.Metric, c: measurement.MeasureContext
    ) -> measurement.Measurement:
        with self._lock:
            self.calls.append(m.name)
        if m.name in self.hold:
            self.hold[m.name].wait(WAIT * 2)
        if self.raises is not None:
            raise self.raises
        return measurement.Measurement(metric=m.name, at=c.now, value=1.0, error=self.error)


class Wakes:
    def __init__(self) -> None:
        self.keys: list[base.Key] = []
        self.changed = threading.Condition()

    def __call__(self, key: base.Key) -> None:
        with self.changed:
            self.keys.append(key)
            self.changed.notify_all()

    def wait(self, count: int) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.keys) >= count, WAIT), self.keys


@pytest.fixture
def provider() -> Iterator[Provider]:
    p = Provider()
    yield p
    for event in p.hold.values():
        event.set()


@pytest.fixture
def wakes() -> Wakes:
    return Wakes()


@pytest.fixture
def runner(provider: Provider, wakes: Wakes) -> Iterator[measuring.Runner]:
    r = measuring.Runner(provider, wake=wakes, threads=4, grace=GRACE)
    yield r
    for event in provider.hold.values():
        event.set()
    r.close()


def until(predicate: Callable[[], bool], what: str) -> None:
    ends = time.monotonic() + WAIT
    while not predicate():
        assert time.monotonic() < ends, f"not within {WAIT} s: {what}"
        time.sleep(0.005)


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


# -- readings are taken off the caller ----------------------------------------------------


def test_a_reading_is_started_then_handed_out_once_and_wakes_the_release(
    runner: measuring.Runner, provider: Provider, wakes: Wakes
) -> None:
    """The first take starts it (pending); its completion wakes the release; the next
    take has it; after that the metric is measured afresh."""
    m = metric()
    first = runner.take(KEY, [(m, ctx())])
    assert first == base.Taken((), ("m",))
    wakes.wait(1)
    assert wakes.keys == [KEY]
    second = runner.take(KEY, [(m, ctx())])
    assert [r.value for r in second.readings] == [1.0]
    assert second.pending == ()
    third = runner.take(KEY, [(m, ctx())])
    assert third == base.Taken((), ("m",))
    until(lambda: provider.calls == ["m", "m"], "a second reading")


def test_a_hanging_provider_never_holds_the_caller(
    runner: measuring.Runner, provider: Provider, wakes: Wakes
) -> None:
    """take() returns at once while a reading hangs; other releases measure meanwhile;
    at the deadline the release is woken and the reading is an Error."""
    provider.hold["m"] = threading.Event()
    m, fast = metric(), metric("fast")
    taken, took = timed(lambda: runner.take(KEY, [(m, ctx())]))
    assert taken.pending == ("m",)
    assert took < 0.05
    assert runner.take(OTHER, [(fast, ctx())]).pending == ("fast",)
    wakes.wait(1)
    assert wakes.keys == [OTHER]  # the other release's reading, while m hangs
    started = time.monotonic()
    wakes.wait(2)
    assert wakes.keys[1] == KEY
    assert time.monotonic() - started <= TIMEOUT + GRACE + 0.2
    late = runner.take(KEY, [(m, ctx())])
    assert [r.error for r in late.readings] == ["no complete answer within 0.3s"]


def test_a_stuck_reading_blocks_only_its_metric_and_frees_it_when_it_ends(
    runner: measuring.Runner, provider: Provider, wakes: Wakes
) -> None:
    """Past its deadline a stuck call makes its metric's next reading an Error at once
    (one call in flight per metric); once it ends, the metric is measured again."""
    provider.hold["m"] = threading.Event()
    m, n = metric(), metric("n")
    runner.take(KEY, [(m, ctx())])
    wakes.wait(1)
    runner.take(KEY, [(m, ctx())])  # the deadline's Error
    again, took = timed(lambda: runner.take(KEY, [(m, ctx()), (n, ctx())]))
    assert took < 0.05
    assert len(again.readings) == 1
    assert again.readings[0].error is not None
    assert again.readings[0].error.startswith("the previous reading of m is still running")
    assert again.pending == ("n",)
    assert provider.calls.count("m") == 1
    provider.hold["m"].set()
    until(lambda: runner.in_flight() == 0, "the stuck call ended")
    assert runner.take(KEY, [(m, ctx())]).pending == ("m",)
    until(lambda: provider.calls.count("m") == 2, "m measured again")


def test_threads_are_bounded_and_a_reading_without_one_errs_at_its_deadline(
    provider: Provider, wakes: Wakes
) -> None:
    """Two threads, three hanging metrics: two run, the third never starts and reads
    as an Error saying no thread was free."""
    runner = measuring.Runner(provider, wake=wakes, threads=2, grace=GRACE)
    try:
        names = ["a", "b", "c"]
        for name in names:
            provider.hold[name] = threading.Event()
        runner.take(KEY, [(metric(n), ctx()) for n in names])
        wakes.wait(3)
        assert runner.threads() == 2
        errors = {
            r.metric: r.error
            for r in runner.take(KEY, [(metric(n), ctx()) for n in names]).readings
        }
        assert errors["a"] == errors["b"] == "no complete answer within 0.3s"
        assert errors["c"] == "no measurement thread free within 0.5s (2 readings in progress)"
        assert sorted(provider.calls) == ["a", "b"]
    finally:
        for event in provider.hold.values():
            event.set()
        runner.close()


def test_a_reading_taken_for_another_basis_is_dropped(
    runner: measuring.Runner, provider: Provider, wakes: Wakes
) -> None:
    """A finished increment measured from another `measuredUntil` is not handed out."""
    m = metric()
    runner.take(KEY, [(m, ctx())])
    wakes.wait(1)
    moved = ctx(measured_until=NOW)
    assert runner.take(KEY, [(m, moved)]) == base.Taken((), ("m",))
    wakes.wait(2)
    assert [r.metric for r in runner.take(KEY, [(m, moved)]).readings] == ["m"]


def test_a_reading_no_longer_asked_for_is_dropped(runner: measuring.Runner, wakes: Wakes) -> None:
    """A release that moved on (its metric no longer due) does not get an old reading."""
    m = metric()
    runner.take(KEY, [(m, ctx())])
    wakes.wait(1)
    assert runner.take(KEY, []) == base.Taken(())
    assert runner.take(KEY, [(m, ctx())]) == base.Taken((), ("m",))


def test_forget_drops_a_release_and_its_late_result_wakes_nobody(
    runner: measuring.Runner, provider: Provider, wakes: Wakes
) -> None:
    """A release that ended: neither its reading's end nor its deadline wakes it."""
    provider.hold["m"] = threading.Event()
    runner.take(KEY, [(metric(), ctx())])
    until(lambda: provider.calls == ["m"], "the reading started")
    runner.forget(KEY)
    assert runner.in_flight() == 0
    provider.hold["later"] = threading.Event()
    runner.take(OTHER, [(metric("later"), ctx())])  # its deadline comes after m's
    provider.hold["m"].set()
    wakes.wait(1)  # OTHER's deadline: m's came (and went) before it
    assert wakes.keys == [OTHER]


# -- what a reading may say -----------------------------------------------------------------


@pytest.fixture(params=["inline", "runner"])
def take(
    request: pytest.FixtureRequest, provider: Provider, wakes: Wakes
) -> Iterator[Callable[[policyspec.Metric], measurement.Measurement]]:
    """One reading of a metric, inline or through a runner."""
    if request.param == "inline":
        inline = measuring.Inline(provider)
        yield lambda m: inline.take(KEY, [(m, ctx())]).readings[0]
        return
    runner = measuring.Runner(provider, wake=wakes, threads=1, grace=GRACE)

    def through_runner(m: policyspec.Metric) -> measurement.Measurement:
        runner.take(KEY, [(m, ctx())])
        wakes.wait(len(wakes.keys) + 1)
        return runner.take(KEY, [(m, ctx())]).readings[0]

    yield through_runner
    runner.close()


def test_what_a_provider_raises_is_an_error_reading(
    take: Callable[[policyspec.Metric], measurement.Measurement], provider: Provider
) -> None:
    """Never an exception out of a reading: the exception's type and message, printable."""
    provider.raises = ValueError("Invalid header value b'v\\r\\nX-Injected: 1'")
    reading = take(metric())
    assert reading.error == (
        "the web provider failed: ValueError: Invalid header value b'v\\r\\nX-Injected: 1'"
    )
    assert reading.at == NOW


def test_a_providers_error_text_is_made_printable(
    take: Callable[[policyspec.Metric], measurement.Measurement], provider: Provider
) -> None:
    """NUL, U+FFFD, bidi overrides and line breaks in an error never reach a release."""
    provider.error = "HTTP 500: \x00bad\ufffd\u202e\r\nX-Injected: 1"
    reading = take(metric())
    assert reading.error == "HTTP 500: \\x00bad\\ufffd\\u202e  X-Injected: 1"


def test_close_stops_the_idle_threads(provider: Provider, wakes: Wakes) -> None:
    """After close() no worker or watchdog is left; the runner starts them again on use."""
    runner = measuring.Runner(provider, wake=wakes, threads=3, grace=GRACE)
    runner.take(KEY, [(metric(n), ctx()) for n in "abc"])
    wakes.wait(3)
    assert runner.threads() >= 1
    runner.close()
    assert runner.threads() == 0
    assert not [t for t in threading.enumerate() if t.name.startswith("measure")]
    runner.take(KEY, [(metric("d"), ctx())])
    wakes.wait(4)
    runner.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("measure")]
