"""The controller-scale benchmark counts release writes only: it starts recording once
every service's first rollout is over, the route's status write and the service's copy
of it included (they were counted as release writes on a saturated controller)."""

from __future__ import annotations

import importlib.util
import pathlib
from datetime import timedelta
from types import ModuleType

from rollout import clock as clocks
from rollout.controller import manager
from rollout.platforms import memory as memory_platform
from rollout.reconcilers import base
from rollout.store import memory

BENCH = pathlib.Path(__file__).resolve().parents[3] / "bench" / "controller_scale.py"
SERVICES = 3


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_controller_scale", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _one_step(controller: manager.Controller, clock: clocks.FakeClock) -> None:
    """One reconcile after delivering the events there are; a quarter second of clock
    time when nothing is due (revisions get ready after 2 s)."""
    for kind in manager.KINDS:
        controller.pump(kind, 0)
    key = controller.queue.pop(clock.now())
    if key is None:
        clock.advance(timedelta(seconds=0.25))
        return
    assert isinstance(key, base.Key)
    controller.process(key)


def test_no_first_rollout_write_comes_after_recording_starts() -> None:
    """Taken one reconcile at a time, the first moment the bench would start recording
    leaves nothing of the first rollout to write (before: the moment every service had
    a stable revision, with its route's status write still queued)."""
    bench = _bench()
    clock = clocks.FakeClock()
    store = bench.CountingStore(memory.MemoryStore(now=clock.now))
    controller = manager.Controller(store, memory_platform.make(clock), clock)
    store.create(bench._policy("1m"))
    for i in range(SERVICES):
        store.create(bench._service(i, "v1"))
    controller.list_all()
    for _ in range(1_000):
        if bench.rolled_out(controller) == SERVICES:
            break
        _one_step(controller, clock)
    assert bench.rolled_out(controller) == SERVICES
    store.writes.clear()
    controller.run_until_idle()
    clock.advance(timedelta(seconds=10))  # every poll of a starting revision is over
    controller.run_until_idle()
    assert dict(store.writes) == {}
