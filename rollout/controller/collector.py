"""Python's garbage collector while the controller runs: seldom, and never over the
long-lived heap.

A controller holds a large heap of long-lived objects (the read cache, the queue):
at 5,000 releases about 1.7 million objects the collector tracks. Nearly all garbage
here is freed by reference counting; the cyclic collector only has to find the few
cycles, but a full collection scans every tracked object and stops every thread while
it does. Two measures, both undone when the controller stops:

- **Thresholds** (`THRESHOLDS`): collect after 50,000 allocations instead of 700.
  With the defaults, full collections came every few seconds and stopped every
  thread for up to 2 s at 3,000 releases (27% of the CPU).
- **Freezing** (`gc.freeze`, every `FREEZE_EVERY` seconds): what is alive then moves
  to the permanent generation, which collections skip, so a full collection scans
  only what was allocated since. Without it, the full collections that Python still
  makes as the heap grows took 1.5–3 s at 5,000 releases — the only decisions of the
  controller-scale benchmark more than 1 s late. Reference counting still frees
  frozen objects; a reference cycle that becomes garbage after it was frozen waits
  until the controller stops (`gc.unfreeze`). Measured: a full 1,000-release run,
  unfrozen and collected at its end, had no such cycle.

Process-wide, as the collector is. Called by `Controller.run`.
"""

from __future__ import annotations

import contextlib
import gc
import threading
import time
from collections.abc import Iterator

__all__ = ["FREEZE_EVERY", "THRESHOLDS", "Freezer", "running"]

THRESHOLDS = (50_000, 20, 20)
FREEZE_EVERY = 20.0  # seconds


class Freezer:
    """Freezes the heap when `tick` finds `every` seconds passed since the last time."""

    def __init__(self, every: float = FREEZE_EVERY) -> None:
        self.every = every
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def tick(self) -> bool:
        """Freeze if it is time; True when it did. Cheap enough for every worker loop."""
        now = time.monotonic()
        if now - self._last < self.every:
            return False
        with self._lock:
            if now - self._last < self.every:
                return False
            self._last = now
        gc.freeze()
        return True


@contextlib.contextmanager
def running(every: float = FREEZE_EVERY) -> Iterator[Freezer]:
    """The controller's collector settings for the duration of the block."""
    thresholds = gc.get_threshold()
    gc.set_threshold(*THRESHOLDS)
    try:
        yield Freezer(every)
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
