"""Time, injected: every component that needs "now" or a wait takes a `Clock`.

    WallClock     real UTC time
    ScaledClock   real time running `speed` times faster from a start instant
                  (`rollout controller --platform sim --speed 30`)
    FakeClock     set by hand; scenario tests advance it, nothing waits

`real_seconds(d)` converts a span of clock time into the real seconds a thread should
wait for it (0 for a fake clock, whose time only moves when a test moves it).

No other module reads the wall clock for decisions.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "FakeClock", "ScaledClock", "WallClock"]


class Clock(Protocol):
    def now(self) -> datetime: ...

    def real_seconds(self, span: timedelta) -> float: ...


class WallClock:
    """Real UTC time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def real_seconds(self, span: timedelta) -> float:
        return max(span.total_seconds(), 0.0)


class ScaledClock:
    """Real time, `speed` times faster: at the real instant `anchor` (default: now) it
    reads `start` (default: the same instant). Two processes given the same anchor,
    start and speed read the same time (the rehearsal controller and the CLI)."""

    def __init__(
        self, speed: float, *, start: datetime | None = None, anchor: datetime | None = None
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self.anchor = anchor or datetime.now(UTC)
        self.start = start or self.anchor

    def now(self) -> datetime:
        real = (datetime.now(UTC) - self.anchor).total_seconds()
        return self.start + timedelta(seconds=real * self.speed)

    def real_seconds(self, span: timedelta) -> float:
        return max(span.total_seconds(), 0.0) / self.speed


class FakeClock:
    """Time that moves only when told to. Thread-safe."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, at: datetime) -> None:
        with self._lock:
            if at < self._now:
                raise ValueError("a fake clock never goes backwards")
            self._now = at

    def advance(self, span: timedelta) -> None:
        with self._lock:
            self._now += span

    def real_seconds(self, span: timedelta) -> float:
        return 0.0
