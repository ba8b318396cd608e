"""The client-side rate limit of requests to the API server: a token bucket.

`TokenBucket(qps, burst)` holds up to `burst` tokens and gains `qps` a second; a
request takes one. `reserve(max_wait)` takes the next token and answers how long to
wait before sending (0 while tokens are left; later reservations queue behind earlier
ones, so waiting callers are served in order and the long-run rate is `qps`), or None
— taking nothing — when that wait would exceed `max_wait` (the request's deadline).
`qps` 0 means no limit. This is client-go's `flowcontrol.NewTokenBucketRateLimiter`
(QPS and burst of a `rest.Config`) with a deadline, as its `Wait(ctx)` has.

Thread-safe (one lock; the controller's workers share one bucket per API client).
No I/O and no sleeping: the clock is injected (`time.monotonic` by default), the
caller sleeps (`rest.py`). Tests drive it with a fake clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["TokenBucket"]


class TokenBucket:
    """`burst` tokens, refilled at `qps` a second; `qps` 0: unlimited."""

    def __init__(
        self, qps: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if qps < 0 or burst < 1:
            raise ValueError(f"qps must be >= 0 and burst >= 1 (got qps={qps}, burst={burst})")
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = float(burst)  # negative: reservations queued ahead
        self._last = clock()

    def reserve(self, max_wait: float = float("inf")) -> float | None:
        """Take a token: the seconds to wait before using it, or None (nothing taken)
        when the wait would be longer than `max_wait`."""
        if self.qps == 0:
            return 0.0
        with self._lock:
            now = self._clock()
            elapsed = max(0.0, now - self._last)
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.qps)
            self._last = now
            wait = max(0.0, (1.0 - self._tokens) / self.qps)
            if wait > max_wait:
                return None
            self._tokens -= 1.0
            return wait

    def available(self) -> float:
        """Tokens left now (negative: that many reservations are queued)."""
        if self.qps == 0:
            return float(self.burst)
        with self._lock:
            elapsed = max(0.0, self._clock() - self._last)
            return min(float(self.burst), self._tokens + elapsed * self.qps)
