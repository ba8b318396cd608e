"""`Controller.run`: the threaded controller's process-wide settings."""

from __future__ import annotations

import gc
import threading
import time

from rollout import clock as clocks
from rollout.controller import manager
from rollout.platforms import memory as memory_platform
from rollout.store import memory

WAIT = 10.0


def test_run_collects_garbage_seldom_and_restores_the_thresholds() -> None:
    """While it runs, the collector's thresholds are GC_THRESHOLDS; after, as before."""
    before = gc.get_threshold()
    assert before != manager.GC_THRESHOLDS
    clock = clocks.FakeClock()
    controller = manager.Controller(memory.MemoryStore(), memory_platform.make(clock), clock)
    stop = threading.Event()
    thread = threading.Thread(target=controller.run, args=(stop,))
    thread.start()
    try:
        deadline = time.monotonic() + WAIT
        while gc.get_threshold() != manager.GC_THRESHOLDS and time.monotonic() < deadline:
            time.sleep(0.01)
        assert gc.get_threshold() == manager.GC_THRESHOLDS
    finally:
        stop.set()
        thread.join(WAIT)
    assert not thread.is_alive()
    assert gc.get_threshold() == before
