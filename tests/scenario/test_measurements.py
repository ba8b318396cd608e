"""Issue 13, finding 3: a metric provider never holds a release or its commands hostage.

The controller, reconcilers and engine on the memory store and platform with a fake
clock. With `metrics_may_block` the controller takes readings on its measurement
runner (real threads, real deadlines): a provider here hangs on an event the test
releases at the end, so a reconcile that waited for it would take the whole `WAIT`.
Without it (the memory default), readings are inline and a provider that raises must
still give an Error reading, never a failed reconcile. An object that cannot be read
must not stop `abort` either."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from rollout.analysis import measurement
from rollout.api import condition, kinds, policyspec
from rollout.api.release import Phase
from rollout.controller import manager, measuring
from rollout.platforms import memory
from rollout.reconcilers import base
from rollout.release import commands

WAIT = 10.0  # real seconds any condition may take; a hung provider waits 3× this
STEPS = [{"setWeight": 20}, {"analysis": {"duration": "1m"}}, {"setWeight": 50}]


def policy(timeout: str = "1s", error_limit: int = 4) -> dict[str, Any]:
    return {
        "apiVersion": "rollout.dev/v1alpha1",
        "kind": "RolloutPolicy",
        "metadata": {"name": "test"},
        "spec": {
            "steps": STEPS,
            "analysis": {
                "interval": "10s",
                "consecutiveErrorLimit": error_limit,
                "metrics": [
                    {
                        "name": "error-rate",
                        "provider": {"web": {"url": "http://127.0.0.1:9/m", "timeout": timeout}},
                        "thresholds": {"max": 0.05},
                    }
                ],
            },
            "progressDeadline": "5m",
        },
    }


class Hang:
    """A script whose readings wait until `release` is set (or 3 × WAIT)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()

    def __call__(
        self, metric: policyspec.Metric, ctx: measurement.MeasureContext
    ) -> measurement.Measurement:
        self.entered.set()
        self.release.wait(3 * WAIT)
        return memory.healthy(metric, ctx)


@pytest.fixture
def hang() -> Iterator[Hang]:
    h = Hang()
    yield h
    h.release.set()


@pytest.fixture
def threaded(env: Any, hang: Hang) -> Iterator[Any]:
    """`env` whose controller takes readings on its runner, as on local and kubernetes."""
    env.platform = dataclasses.replace(env.platform, metrics_may_block=True)
    env.controller = manager.Controller(env.store, env.platform, env.clock)
    env.controller.cache.guard = True
    yield env
    hang.release.set()
    env.controller.close()


def release_out(env: Any, **policy_changes: Any) -> str:
    """v1 deployed under the test policy, then v2: its release, at 20%."""
    env.apply(policy(**policy_changes))
    env.apply(env.service(policy="test"))
    env.until(lambda: env.split() == {"web-00001": 100}, within=30)
    env.apply(env.service(version="v2", policy="test"))
    env.until(lambda: env.releases() and env.releases()[0].status.weights, within=30)
    name: str = env.releases()[0].metadata.name
    env.until(lambda: env.split() == {"web-00001": 80, "web-00002": 20}, within=10)
    return name


def phase(env: Any, name: str) -> Phase:
    return env.get_release(name).status.phase  # type: ignore[no-any-return]


def woken(env: Any, within: float = WAIT) -> None:
    """Wait (real time) until the runner has woken a key, i.e. something is due now."""
    ends = time.monotonic() + within
    while True:
        due = env.controller.next_due()
        if due is not None and due <= env.clock.now():
            return
        assert time.monotonic() < ends, "the runner woke nothing"
        time.sleep(0.01)


def counting_release_reconciles(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Each Release reconcile from now on: whether a reading was in flight before it."""
    seen: list[bool] = []
    real = manager.RECONCILERS["Release"]

    def counted(ctx: base.Context, key: base.Key) -> base.Result:
        runner = ctx.measurements
        seen.append(isinstance(runner, measuring.Runner) and runner.in_flight() > 0)
        return real(ctx, key)

    monkeypatch.setitem(manager.RECONCILERS, "Release", counted)  # type: ignore[arg-type]
    return seen


# -- a reading in flight holds nothing ------------------------------------------------------


def test_abort_acts_at_once_while_a_reading_hangs(threaded: Any, hang: Hang) -> None:
    """The reading hangs; `abort` → RollingBack in the very next reconcile, Aborted with
    all traffic on stable as soon as the Route applied it — no clock time needed."""
    env = threaded
    env.metrics.script = hang
    started = time.monotonic()
    name = release_out(env)
    assert hang.entered.wait(WAIT)
    env.patch_release(name, abort=commands.abort(env.get_release(name)).abort)
    env.controller.run_until_idle()
    assert phase(env, name) is Phase.ABORTED
    assert env.split() == {"web-00001": 100}
    assert time.monotonic() - started < WAIT  # no reconcile waited for the provider


def test_a_newer_revision_supersedes_while_a_reading_hangs(threaded: Any, hang: Hang) -> None:
    """A new revision supersedes the release whose reading hangs, and starts its own."""
    env = threaded
    env.metrics.script = hang
    name = release_out(env)
    assert hang.entered.wait(WAIT)
    env.apply(env.service(version="v3", policy="test"))
    env.advance(1)
    assert phase(env, name) is Phase.SUPERSEDED
    assert any(r.metadata.name == "web-00003" for r in env.releases())


def test_a_reading_in_flight_does_not_spin_the_release(
    threaded: Any, hang: Hang, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While its reading is in flight, the release is looked at every 2 s of clock time
    at most (the engine counts the metric as due now; the runner's wake comes on top).
    The provider's timeout (5 s) keeps the reading in flight throughout."""
    env = threaded
    env.metrics.script = hang
    seen = counting_release_reconciles(monkeypatch)
    name = release_out(env, timeout="5s")
    assert hang.entered.wait(WAIT)
    env.advance(20)
    assert env.controller.measurements.in_flight() == 1
    in_flight = len(seen) - seen.index(True)
    assert in_flight <= 20 / 2 + 3
    assert phase(env, name) is Phase.PROGRESSING


def test_a_finished_reading_wakes_its_release(threaded: Any, hang: Hang) -> None:
    """The reading completes on the runner; the release is woken and folds it in."""
    env = threaded
    env.metrics.script = hang
    name = release_out(env)
    assert hang.entered.wait(WAIT)
    assert env.get_release(name).status.analysis == [] or all(
        m.at is None for m in env.get_release(name).status.analysis
    )
    hang.release.set()
    woken(env)
    env.controller.run_until_idle()
    analysis = {m.metric: m for m in env.get_release(name).status.analysis}
    assert analysis["error-rate"].verdict is not None
    assert analysis["error-rate"].verdict.value == "Passed"


def test_a_reading_past_its_deadline_is_an_error_and_counts_toward_the_error_limit(
    threaded: Any, hang: Hang
) -> None:
    """At the runner's deadline (the provider's timeout + grace, real time) the release is
    woken with an Error reading; with `consecutiveErrorLimit: 0` it pauses on errors."""
    env = threaded
    env.metrics.script = hang
    name = release_out(env, timeout="200ms", error_limit=0)
    assert hang.entered.wait(WAIT)
    woken(env)
    env.controller.run_until_idle()
    rel = env.get_release(name)
    assert rel.status.phase is Phase.PAUSED
    assert rel.status.pause_reason == "errors"
    reasons = [m.reason for m in rel.status.analysis if m.metric == "error-rate"]
    assert reasons == ["provider error: no complete answer within 0.2s"]


# -- what a provider raises, and what cannot be read --------------------------------------


def test_a_provider_that_raises_gives_an_error_reading_and_abort_still_works(env: Any) -> None:
    """Inline (memory): the exception is an Error reading with its type; the reconcile does
    not fail (no ReconcileError), and `abort` is honoured at once."""

    def raising(
        metric: policyspec.Metric, ctx: measurement.MeasureContext
    ) -> measurement.Measurement:
        raise ValueError("Invalid header value b'v\\r\\nX-Injected: 1'")

    env.metrics.script = raising
    name = release_out(env)
    rel = env.get_release(name)
    assert condition.get_condition(rel.status.conditions, base.ERROR_CONDITION) is None
    reasons = [m.reason for m in rel.status.analysis]
    assert reasons == [
        "provider error: the web provider failed:"
        " ValueError: Invalid header value b'v\\r\\nX-Injected: 1'"
    ]
    env.patch_release(name, abort=commands.abort(rel).abort)
    env.controller.run_until_idle()
    assert phase(env, name) is Phase.ABORTED
    assert env.split() == {"web-00001": 100}


def unreadable(env: Any, monkeypatch: pytest.MonkeyPatch, kind: str) -> Callable[[], None]:
    """Reads of `kind` through the controller's cache fail (as a store or API would);
    returns the function that makes them work again."""
    cache = env.controller.cache
    real = cache.peek
    broken = [True]

    def peek(k: str, namespace: str, name: str) -> kinds.Resource:
        if k == kind and broken:
            raise RuntimeError(f"{k} {name}: the API server is unavailable")
        return real(k, namespace, name)

    monkeypatch.setattr(cache, "peek", peek)
    return broken.clear


def test_abort_is_decided_while_the_canary_revision_cannot_be_read(
    env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Revision that cannot be read is unknown, not failed, and stops nothing."""
    name = release_out(env)
    unreadable(env, monkeypatch, "Revision")
    env.patch_release(name, abort=commands.abort(env.get_release(name)).abort)
    env.controller.run_until_idle()
    assert phase(env, name) is Phase.ABORTED
    assert env.split() == {"web-00001": 100}
    history = [h.event for h in env.get_release(name).status.history]
    assert "CanaryFailed" not in history


def test_abort_is_kept_while_the_route_cannot_be_read_and_applied_when_it_can(
    env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Route cannot be read: the abort is persisted (RollingBack), the failure is
    said on the Service (the Route's writer), and traffic moves back as soon as the
    Route can be written."""
    name = release_out(env)
    readable = unreadable(env, monkeypatch, "Route")
    env.patch_release(name, abort=commands.abort(env.get_release(name)).abort)
    env.controller.run_until_idle()
    assert phase(env, name) is Phase.ROLLING_BACK
    svc = env.store.get("Service", "default", "web")
    failed = condition.get_condition(svc.status.conditions, base.ERROR_CONDITION)
    assert failed is not None
    assert "the API server is unavailable" in (failed.message or "")
    assert env.split() == {"web-00001": 80, "web-00002": 20}
    readable()
    env.advance(2)
    assert phase(env, name) is Phase.ABORTED
    assert env.split() == {"web-00001": 100}
