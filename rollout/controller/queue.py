"""The work queue: de-duplicated keys, each due at a time, backoff on failures.

Semantics (client-go's rate-limited delaying queue, simplified):
- `add(key, at)`: the key is due at `at`; a key already waiting keeps the earlier due
  time, so a flood of watch events for one object is one reconcile.
- A key is handed to one worker at a time. Adding it while it is being processed marks
  it to be handed out again once `done(key)` is called.
- `failed(key, now)` re-adds it after an exponential backoff (0.1 s × 2^n, capped at
  60 s, in clock time); `forget(key)` resets its count after a success.
- `pop(now)` returns a due key or None, and `due_of(key)` when that key became due
  (its earliest add since it was last handed out; for lateness, read under the
  queue's lock so no add can slip between); `next_due()` says when the next one is due,
  so a runner can wait exactly that long (`Controller` turns clock time into real
  seconds). No threads and no clock reading here: `now` is passed in.

Thread-safe. Called by `rollout.controller.manager`.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Hashable
from datetime import datetime, timedelta

__all__ = ["BACKOFF_BASE", "BACKOFF_MAX", "WorkQueue"]

BACKOFF_BASE = timedelta(milliseconds=100)
BACKOFF_MAX = timedelta(seconds=60)


class WorkQueue:
    def __init__(self) -> None:
        self._due: dict[Hashable, datetime] = {}  # waiting keys and when they are due
        self._heap: list[tuple[datetime, int, Hashable]] = []
        self._seq = 0
        self._processing: set[Hashable] = set()
        self._again: dict[Hashable, datetime] = {}  # added while processing
        self._failures: dict[Hashable, int] = {}
        self._popped: dict[Hashable, datetime] = {}  # handed out: when each was due
        self.changed = threading.Condition()

    def __len__(self) -> int:
        with self.changed:
            return len(self._due) + len(self._again)

    def add(self, key: Hashable, at: datetime) -> None:
        with self.changed:
            if key in self._processing:
                self._again[key] = min(at, self._again.get(key, at))
                return
            current = self._due.get(key)
            if current is not None and current <= at:
                return
            self._push(key, at)
            self.changed.notify()

    def _push(self, key: Hashable, at: datetime) -> None:
        self._due[key] = at
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, key))

    def pop(self, now: datetime) -> Hashable | None:
        """A due key, now owned by the caller until `done(key)`; None when none is due."""
        with self.changed:
            while self._heap:
                at, _, key = self._heap[0]
                if self._due.get(key) != at:  # superseded by an earlier add
                    heapq.heappop(self._heap)
                    continue
                if at > now:
                    return None
                heapq.heappop(self._heap)
                del self._due[key]
                self._processing.add(key)
                self._popped[key] = at
                return key
            return None

    def due_of(self, key: Hashable) -> datetime | None:
        """When `key`, handed out by `pop` and not yet `done`, became due."""
        with self.changed:
            return self._popped.get(key)

    def next_due(self) -> datetime | None:
        with self.changed:
            while self._heap and self._due.get(self._heap[0][2]) != self._heap[0][0]:
                heapq.heappop(self._heap)
            return self._heap[0][0] if self._heap else None

    def done(self, key: Hashable) -> None:
        with self.changed:
            self._processing.discard(key)
            self._popped.pop(key, None)
            again = self._again.pop(key, None)
            if again is not None:
                current = self._due.get(key)
                if current is None or again < current:
                    self._push(key, again)
                self.changed.notify()

    def failed(self, key: Hashable, now: datetime) -> timedelta:
        """Re-add after a backoff that doubles with each consecutive failure."""
        with self.changed:
            n = self._failures.get(key, 0)
            self._failures[key] = n + 1
        delay: timedelta = min(BACKOFF_BASE * (2 ** min(n, 20)), BACKOFF_MAX)
        self.add(key, now + delay)
        return delay

    def forget(self, key: Hashable) -> None:
        with self.changed:
            self._failures.pop(key, None)

    def failures(self, key: Hashable) -> int:
        with self.changed:
            return self._failures.get(key, 0)
