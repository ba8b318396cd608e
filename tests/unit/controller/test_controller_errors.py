"""The controller when reconciles fail: the failing object says why on a
`ReconcileError` condition, is retried with backoff, does not hold up other objects,
and is cleared by the next success; a Conflict is retried at once; and the threaded
`run(stop)` starts and stops cleanly."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import structlog

from rollout import clock as clocks
from rollout.api import condition, kinds, names, service
from rollout.controller import manager
from rollout.platforms import memory
from rollout.reconcilers import base
from rollout.store import errors, port
from rollout.store import memory as memory_store

WEB = base.Key("Service", "default", "web")
API = base.Key("Service", "default", "api")


def make_service(name: str) -> service.Service:
    return service.Service.model_validate(
        {
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "command": ["app"]}]}}},
        }
    )


class FlakyStore:
    """A memory store whose `create` of a Revision of `failing` raises `error`."""

    def __init__(self, inner: memory_store.MemoryStore) -> None:
        self.inner = inner
        self.failing: set[str] = set()
        self.error: Exception = OSError("disk full")

    def create(self, obj: kinds.Resource) -> kinds.Resource:
        if obj.kind == "Revision" and obj.metadata.labels.get(names.SERVICE_LABEL) in self.failing:
            raise self.error
        return self.inner.create(obj)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class Env:
    def __init__(self, clock: clocks.Clock | None = None, *, workers: int = 4) -> None:
        self.clock = clock or clocks.FakeClock()
        self.memory = memory_store.MemoryStore(now=self.clock.now)
        self.store = FlakyStore(self.memory)
        self.platform = memory.make(self.clock, ready_after=timedelta(0))
        self.controller = manager.Controller(
            self.store,
            self.platform,
            self.clock,
            workers=workers,
        )

    def service(self, name: str = "web") -> service.Service:
        obj = self.memory.get("Service", "default", name)
        assert isinstance(obj, service.Service)
        return obj

    def error_condition(self, name: str = "web") -> condition.Condition | None:
        return condition.get_condition(self.service(name).status.conditions, base.ERROR_CONDITION)

    def run_due(self) -> None:
        """Move the fake clock to the next due key and reconcile what is due."""
        clock = self.clock
        assert isinstance(clock, clocks.FakeClock)
        due = self.controller.next_due()
        assert due is not None
        if due > clock.now():
            clock.set(due)
        self.controller.run_until_idle()


@pytest.fixture
def env() -> Env:
    e = Env()
    e.memory.create(make_service("web"))
    e.memory.create(make_service("api"))
    return e


def failing_for(
    names: set[str], error: Exception, calls: list[base.Key] | None = None
) -> Callable[[base.Context, base.Key], base.Result]:
    """The real Service reconciler, except that it raises `error` for `names`."""
    real = manager.RECONCILERS["Service"]

    def reconcile(ctx: base.Context, key: base.Key) -> base.Result:
        if calls is not None:
            calls.append(key)
        if key.name in names:
            raise error
        return real(ctx, key)

    return reconcile


# --- a failing reconcile ------------------------------------------------------------


def test_a_failing_object_gets_a_reconcile_error_condition(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The condition carries the exception's type as reason and its text as message."""
    error = ValueError("template cannot be read: bad env")
    monkeypatch.setitem(manager.RECONCILERS, "Service", failing_for({"web"}, error))
    with structlog.testing.capture_logs() as logs:
        env.controller.run_until_idle()
    cond = env.error_condition()
    assert cond is not None
    assert cond.status is condition.ConditionStatus.TRUE
    assert (cond.reason, cond.message) == ("ValueError", "template cannot be read: bad env")
    assert cond.observed_generation == env.service().metadata.generation
    failed = [e for e in logs if e["event"] == "reconcile failed"]
    assert [(e["name"], e["error"]) for e in failed] == [("web", str(error))]


def test_other_objects_are_still_reconciled(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """One service failing does not stop another from getting its revision."""
    monkeypatch.setitem(
        manager.RECONCILERS,
        "Service",
        failing_for({"web"}, RuntimeError("boom")),
    )
    env.controller.run_until_idle()
    api = env.service("api")
    assert api.status.latest_created_revision == "api-00001"
    assert env.error_condition("api") is None
    assert env.service("web").status.latest_created_revision is None


def test_a_failing_key_is_retried_with_growing_backoff(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each retry comes 0.1 s, 0.2 s, 0.4 s … after the failure before it."""
    calls: list[base.Key] = []
    monkeypatch.setitem(
        manager.RECONCILERS,
        "Service",
        failing_for({"web"}, RuntimeError("boom"), calls),
    )
    env.controller.run_until_idle()
    api_calls = calls.count(API)  # its own revision and route wake it too
    gaps: list[float] = []
    for _ in range(4):
        failed_at = env.clock.now()
        assert env.controller.queue.failures(WEB) == len(gaps) + 1
        due = env.controller.next_due()
        assert due is not None
        gaps.append((due - failed_at).total_seconds())
        env.run_due()
    assert gaps == [0.1, 0.2, 0.4, 0.8]
    assert calls.count(WEB) == 5
    assert calls.count(API) == api_calls  # the healthy service is not retried with it


def test_a_failing_key_is_not_retried_before_its_backoff(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Running again without moving the clock does not reconcile the failed key."""
    calls: list[base.Key] = []
    monkeypatch.setitem(
        manager.RECONCILERS,
        "Service",
        failing_for({"web"}, RuntimeError("boom"), calls),
    )
    env.controller.run_until_idle()
    env.controller.run_until_idle()
    assert calls.count(WEB) == 1


def test_the_condition_goes_away_once_a_reconcile_succeeds(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a success the condition is removed and the backoff forgotten."""
    names = {"web"}
    monkeypatch.setitem(
        manager.RECONCILERS,
        "Service",
        failing_for(names, RuntimeError("boom")),
    )
    env.controller.run_until_idle()
    env.run_due()
    assert env.error_condition() is not None
    names.clear()
    env.run_due()
    assert env.error_condition() is None
    assert env.service().status.latest_created_revision == "web-00001"
    assert env.controller.queue.failures(WEB) == 0


def test_a_store_failure_inside_the_real_reconciler_is_reported(env: Env) -> None:
    """A Revision create that raises: the Service says so, and recovers when it stops."""
    env.store.failing.add("web")
    env.controller.run_until_idle()
    cond = env.error_condition()
    assert cond is not None
    assert (cond.reason, cond.message) == ("OSError", "disk full")
    assert env.memory.list("Revision", "default", labels={names.SERVICE_LABEL: "web"}).items == []
    assert env.service("api").status.latest_created_revision == "api-00001"
    env.store.failing.clear()
    env.run_due()
    assert env.error_condition() is None
    assert env.service().status.latest_created_revision == "web-00001"


def test_a_long_message_is_cut_to_1000_characters(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The condition's message is bounded, whatever the exception says."""
    monkeypatch.setitem(
        manager.RECONCILERS,
        "Service",
        failing_for({"web"}, RuntimeError("x" * 5000)),
    )
    env.controller.run_until_idle()
    cond = env.error_condition()
    assert cond is not None
    assert cond.message == "x" * 1000


# --- Conflict -----------------------------------------------------------------------


def test_a_conflict_is_retried_at_once_without_backoff(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stale write puts the key back due now, with no failure counted and no condition."""

    def conflicting(ctx: base.Context, key: base.Key) -> base.Result:
        raise errors.Conflict("web changed since it was read")

    monkeypatch.setitem(manager.RECONCILERS, "Service", conflicting)
    now = env.clock.now()
    env.controller.list_all()
    popped = [env.controller.queue.pop(now), env.controller.queue.pop(now)]
    assert WEB in popped
    env.controller.process(WEB)
    assert env.controller.queue.pop(now) == WEB  # due again at once, same instant
    assert env.controller.queue.failures(WEB) == 0
    assert env.error_condition() is None


def test_a_conflict_then_success_converges_without_moving_the_clock(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One Conflict, then the real reconcile: done within the same instant."""
    real = manager.RECONCILERS["Service"]
    conflicts: list[base.Key] = []

    def conflicting_once(ctx: base.Context, key: base.Key) -> base.Result:
        if key == WEB and not conflicts:
            conflicts.append(key)
            raise errors.Conflict("web changed since it was read")
        return real(ctx, key)

    monkeypatch.setitem(manager.RECONCILERS, "Service", conflicting_once)
    started = env.clock.now()
    env.controller.run_until_idle()
    assert conflicts == [WEB]
    assert env.clock.now() == started
    assert env.service().status.stable_revision == "web-00001"
    assert env.error_condition() is None


# --- run(stop) in threads -----------------------------------------------------------


def _wait_for(
    store: port.Store, kind: str, predicate: Callable[[], bool], *, within: float
) -> bool:
    """Wait on `kind`'s watch (no sleeping) until `predicate()` holds or time is up."""
    deadline = time.monotonic() + within
    since = store.list(kind).resource_version
    while not predicate():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        events: Iterator[port.WatchEvent] = store.watch(kind, since=since, timeout=min(left, 0.2))
        for ev in events:
            since = ev.resource_version
    return True


def test_run_reconciles_in_threads_and_stops_when_told(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a wall clock, `run` rolls a new service out, then returns soon after `stop`."""
    monkeypatch.setattr(manager, "_MAX_WAIT", 0.05)
    env = Env(clocks.WallClock(), workers=2)
    stop = threading.Event()
    runner = threading.Thread(target=env.controller.run, args=(stop,))
    runner.start()
    try:
        env.memory.create(make_service("web"))

        def rolled_out() -> bool:
            return env.service().status.stable_revision == "web-00001"

        assert _wait_for(env.memory, "Service", rolled_out, within=5)
    finally:
        stop.set()
        runner.join(timeout=5)
    assert not runner.is_alive()
    assert not [t for t in threading.enumerate() if t.name.startswith(("watch-", "worker-"))]


def test_run_returns_when_stop_is_already_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """A controller told to stop before it starts lists, starts its threads, and ends."""
    monkeypatch.setattr(manager, "_MAX_WAIT", 0.05)
    env = Env(clocks.WallClock())
    env.memory.create(make_service("web"))
    stop = threading.Event()
    stop.set()
    runner = threading.Thread(target=env.controller.run, args=(stop,))
    runner.start()
    runner.join(timeout=5)
    assert not runner.is_alive()
