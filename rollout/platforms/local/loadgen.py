"""The load generator: HTTP requests at a fixed rate (open loop) or as fast as a few
connections allow (closed loop), with counts by status class and latency quantiles.

- **Open loop** (`run_open`, `rollout load`): request `i` is due at `start + i / rps`
  and is sent then, whether or not earlier ones have answered, so a slow server
  cannot slow the generator down (no coordinated omission). Latency is measured from
  the *due* time to the end of the response body; `lag` reports how late the
  generator itself sent (p99). At most `max_in_flight` requests are outstanding
  (counted when a request is scheduled, and the loop yields after each one even when
  it runs late, so a burst cannot queue more); requests due beyond that are counted
  as `skipped`, not sent.
- **Closed loop** (`run_closed`, for benchmarks): `concurrency` workers each send the
  next request when the last one answered; latency from send to end of body.
- Results count status classes (`2xx`…`5xx`), `connection errors` (refused, reset,
  timed out: no HTTP answer), and the requests each revision served (the proxy's
  `Rollout-Revision` response header), failed (5xx or no answer) included.
- `progress` is called about every `progress_every` seconds with a `Progress`.
- **Bounded**: the rate is at most `MAX_RPS`, a run at most `MAX_DURATION`, in flight
  at most `MAX_IN_FLIGHT` (`ValueError` beyond, and for NaN or infinite values), and
  latencies and lags are kept in a `Histogram` (log buckets, ±1%, at most
  `Histogram.MAX_BUCKETS` counters), not one float per request, and at most
  `MAX_REVISIONS` revision names are counted (the rest as `(other)`): a day-long run
  takes the memory of a second-long one.

Called by `rollout load`, `rollout demo` and `bench/proxy.py`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from rollout.api import names

__all__ = [
    "MAX_DURATION",
    "MAX_IN_FLIGHT",
    "MAX_REVISIONS",
    "MAX_REVISION_LENGTH",
    "MAX_RPS",
    "OTHER_REVISIONS",
    "Histogram",
    "LoadResult",
    "Progress",
    "check_bounds",
    "percentile",
    "run",
    "run_closed",
    "run_open",
]

REVISION_HEADER = names.REVISION_HEADER
MAX_RPS = 5000.0  # one asyncio process sends a few thousand requests a second at best
MAX_DURATION = 24 * 3600.0  # seconds
MAX_IN_FLIGHT = 10_000
MAX_REVISIONS = 100  # distinct Rollout-Revision values counted; the rest as OTHER_REVISIONS
MAX_REVISION_LENGTH = 253
OTHER_REVISIONS = "(other)"


def percentile(ordered: list[float], q: float) -> float | None:
    """Nearest-rank quantile of a sorted list; None when empty."""
    if not ordered:
        return None
    return ordered[min(max(math.ceil(q * len(ordered)) - 1, 0), len(ordered) - 1)]


def check_bounds(
    *, rps: float, duration: float, timeout: float = 10.0, max_in_flight: int = 1000
) -> None:
    """Raise ValueError, naming the value, unless every one is finite and in bounds."""
    for name, value in (("rps", rps), ("duration", duration), ("timeout", timeout)):
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a finite number above 0, not {value!r}")
    if rps > MAX_RPS:
        raise ValueError(f"rps must be at most {MAX_RPS:g} (one process), not {rps:g}")
    if duration > MAX_DURATION:
        raise ValueError(f"duration must be at most {MAX_DURATION:g} s (24h), not {duration:g}")
    if not 1 <= max_in_flight <= MAX_IN_FLIGHT:
        raise ValueError(f"max_in_flight must be between 1 and {MAX_IN_FLIGHT}")


class Histogram:
    """Counts of values (seconds) in logarithmic buckets 2% wide: quantiles within
    ±1% of the exact ones (exact below `FLOOR`), the exact maximum, and memory bounded
    by `MAX_BUCKETS` counters whatever the number of values."""

    FLOOR = 1e-6  # seconds; values below share bucket 0
    CEILING = 1e6  # seconds; values above share the last bucket (max stays exact)
    _STEP = math.log(1.02)
    MAX_BUCKETS = int(math.log(CEILING / FLOOR) / _STEP) + 2

    def __init__(self) -> None:
        self.counts: collections.Counter[int] = collections.Counter()
        self.count = 0
        self.max: float | None = None

    def record(self, value: float) -> None:
        self.counts[self._bucket(value)] += 1
        self.count += 1
        if self.max is None or value > self.max:
            self.max = value

    def _bucket(self, value: float) -> int:
        if not value > self.FLOOR:  # also NaN
            return 0
        return min(int(math.log(value / self.FLOOR) / self._STEP) + 1, self.MAX_BUCKETS - 1)

    def _value(self, bucket: int) -> float:
        """The middle of a bucket (geometric), never above the largest value seen."""
        if bucket == 0:
            return min(self.FLOOR, self.max or 0.0)
        middle = self.FLOOR * math.exp((bucket - 0.5) * self._STEP)
        return min(middle, self.max) if self.max is not None else middle

    def quantile(self, q: float) -> float | None:
        """Nearest-rank quantile (as `percentile` of the sorted values); None when empty."""
        if not self.count:
            return None
        rank = min(max(math.ceil(q * self.count), 1), self.count)
        seen = 0
        for bucket in sorted(self.counts):
            seen += self.counts[bucket]
            if seen >= rank:
                return self._value(bucket)
        return self.max  # not reached: the counts add up to `count`


@dataclasses.dataclass(frozen=True)
class Progress:
    elapsed: float
    sent: int
    done: int
    codes: dict[str, int]
    connection_errors: int
    in_flight: int

    def line(self) -> str:
        codes = " ".join(f"{k}={v}" for k, v in self.codes.items() if v)
        rate = self.done / self.elapsed if self.elapsed > 0 else 0.0
        return (
            f"{self.elapsed:5.1f}s  sent {self.sent}  done {self.done} ({rate:.0f}/s)"
            f"  {codes or '-'}  conn-errors {self.connection_errors}  in-flight {self.in_flight}"
        )


@dataclasses.dataclass(frozen=True)
class LoadResult:
    url: str
    mode: str  # open | closed
    duration_s: float  # from the first request to the last answer
    sent: int
    skipped: int
    codes: dict[str, int]
    connection_errors: int
    latency: dict[str, float | None]  # p50, p90, p99, max (seconds)
    lag_p99: float | None  # open loop: how late requests were sent
    by_revision: dict[str, int]
    failed_by_revision: dict[str, int]
    target_rps: float | None = None
    peak_in_flight: int = 0  # open loop: the most requests outstanding at once

    @property
    def done(self) -> int:
        return sum(self.codes.values()) + self.connection_errors

    @property
    def rps(self) -> float:
        return self.done / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def failed(self) -> int:
        return self.codes.get("5xx", 0) + self.connection_errors

    def as_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "mode": self.mode,
            "targetRps": self.target_rps,
            "durationS": round(self.duration_s, 3),
            "sent": self.sent,
            "done": self.done,
            "skipped": self.skipped,
            "rps": round(self.rps, 1),
            "codes": self.codes,
            "connectionErrors": self.connection_errors,
            "failed": self.failed,
            "latency": self.latency,
            "lagP99": self.lag_p99,
            "peakInFlight": self.peak_in_flight,
            "byRevision": self.by_revision,
            "failedByRevision": self.failed_by_revision,
        }

    def summary(self) -> str:
        def ms(v: float | None) -> str:
            return "-" if v is None else f"{v * 1000:.1f} ms"

        codes = ", ".join(f"{k} {v}" for k, v in self.codes.items() if v) or "none"
        lines = [
            f"{self.done} requests in {self.duration_s:.1f} s ({self.rps:.1f}/s) to {self.url}",
            f"  status: {codes}; connection errors {self.connection_errors}"
            + (f"; skipped {self.skipped} (too many in flight)" if self.skipped else ""),
            f"  latency: p50 {ms(self.latency['p50'])}, p90 {ms(self.latency['p90'])},"
            f" p99 {ms(self.latency['p99'])}, max {ms(self.latency['max'])}",
        ]
        if self.by_revision:
            served = ", ".join(
                f"{rev} {n} ({self.failed_by_revision.get(rev, 0)} failed)"
                for rev, n in sorted(self.by_revision.items())
            )
            lines.append(f"  served by: {served}")
        return "\n".join(lines)


class _Tally:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.sent = 0
        self.skipped = 0
        self.codes = {"2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0}
        self.connection_errors = 0
        self.latencies = Histogram()
        self.lags = Histogram()
        self.by_revision: collections.Counter[str] = collections.Counter()
        self.failed_by_revision: collections.Counter[str] = collections.Counter()
        self.in_flight = 0
        self.peak_in_flight = 0
        self.last_done = self.started

    def progress(self) -> Progress:
        return Progress(
            elapsed=time.monotonic() - self.started,
            sent=self.sent,
            done=sum(self.codes.values()) + self.connection_errors,
            codes=dict(self.codes),
            connection_errors=self.connection_errors,
            in_flight=self.in_flight,
        )

    def result(self, url: str, mode: str, target_rps: float | None) -> LoadResult:
        latencies = self.latencies
        return LoadResult(
            url=url,
            mode=mode,
            duration_s=self.last_done - self.started,
            sent=self.sent,
            skipped=self.skipped,
            codes=dict(self.codes),
            connection_errors=self.connection_errors,
            latency={
                "p50": latencies.quantile(0.5),
                "p90": latencies.quantile(0.9),
                "p99": latencies.quantile(0.99),
                "max": latencies.max,
            },
            lag_p99=self.lags.quantile(0.99),
            by_revision=dict(self.by_revision),
            failed_by_revision=dict(self.failed_by_revision),
            target_rps=target_rps,
            peak_in_flight=self.peak_in_flight,
        )


async def _one(
    session: aiohttp.ClientSession,
    tally: _Tally,
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    since: float,
    counted: bool = False,
) -> None:
    """One request; `counted`: the caller already counted it sent and in flight."""
    if not counted:
        tally.sent += 1
        tally.in_flight += 1
    revision = None
    try:
        async with session.request(method, url, headers=headers, allow_redirects=False) as resp:
            revision = resp.headers.get(REVISION_HEADER)
            await resp.read()
            status_class = f"{min(max(resp.status // 100, 2), 5)}xx"
            tally.codes[status_class] += 1
            failed = status_class == "5xx"
            tally.latencies.record(time.monotonic() - since)
    except (aiohttp.ClientError, TimeoutError):
        tally.connection_errors += 1
        failed = True
    finally:
        tally.in_flight -= 1
        tally.last_done = time.monotonic()
    if revision is not None:
        revision = revision[:MAX_REVISION_LENGTH]
        if revision not in tally.by_revision and len(tally.by_revision) >= MAX_REVISIONS:
            revision = OTHER_REVISIONS  # a server naming a new revision per answer
        tally.by_revision[revision] += 1
        if failed:
            tally.failed_by_revision[revision] += 1


async def _report(tally: _Tally, progress: Callable[[Progress], None] | None, every: float) -> None:
    while progress is not None:
        await asyncio.sleep(every)
        progress(tally.progress())


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _session(timeout: float, limit: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit, force_close=False),
        timeout=aiohttp.ClientTimeout(total=timeout),
        cookie_jar=aiohttp.DummyCookieJar(),
    )


async def run_open(
    url: str,
    *,
    rps: float,
    duration: float,
    headers: Mapping[str, str] | None = None,
    method: str = "GET",
    timeout: float = 10.0,
    max_in_flight: int = 1000,
    progress: Callable[[Progress], None] | None = None,
    progress_every: float = 0.5,
    stop: asyncio.Event | None = None,
) -> LoadResult:
    """Send `rps` requests a second for `duration` seconds (or until `stop` is set).

    ValueError when a value is out of bounds (`check_bounds`)."""
    check_bounds(rps=rps, duration=duration, timeout=timeout, max_in_flight=max_in_flight)
    tally = _Tally()
    tasks: set[asyncio.Task[None]] = set()
    reporter: asyncio.Task[None] = asyncio.ensure_future(_report(tally, progress, progress_every))
    async with _session(timeout, limit=max_in_flight) as session:
        start = tally.started
        total = int(rps * duration)
        for i in range(total):
            due = start + i / rps
            # Sleep until due; when late, still yield once so that requests in flight
            # progress (a late loop that never yields would schedule without bound).
            await asyncio.sleep(max(due - time.monotonic(), 0.0))
            if stop is not None and stop.is_set():
                break
            tally.lags.record(max(time.monotonic() - due, 0.0))
            if tally.in_flight >= max_in_flight:
                tally.skipped += 1
                continue
            tally.sent += 1
            tally.in_flight += 1  # counted now, not when the task first runs
            tally.peak_in_flight = max(tally.peak_in_flight, tally.in_flight)
            task = asyncio.ensure_future(
                _one(
                    session,
                    tally,
                    method=method,
                    url=url,
                    headers=headers or {},
                    since=due,
                    counted=True,
                )
            )
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
    await _stop(reporter)
    if progress is not None:
        progress(tally.progress())
    # The run lasts until the last answer, and at least a whole period per request sent.
    tally.last_done = max(tally.last_done, start + (tally.sent + tally.skipped) / rps)
    return tally.result(url, "open", rps)


async def run_closed(
    url: str,
    *,
    concurrency: int,
    duration: float,
    headers: Mapping[str, str] | None = None,
    method: str = "GET",
    timeout: float = 10.0,
    progress: Callable[[Progress], None] | None = None,
    progress_every: float = 0.5,
) -> LoadResult:
    """`concurrency` workers send requests back to back for `duration` seconds."""
    check_bounds(rps=1.0, duration=duration, timeout=timeout, max_in_flight=concurrency)
    tally = _Tally()
    deadline = tally.started + duration
    reporter: asyncio.Task[None] = asyncio.ensure_future(_report(tally, progress, progress_every))

    async def worker(session: aiohttp.ClientSession) -> None:
        while time.monotonic() < deadline:
            await _one(
                session,
                tally,
                method=method,
                url=url,
                headers=headers or {},
                since=time.monotonic(),
            )

    async with _session(timeout, limit=concurrency) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    await _stop(reporter)
    if progress is not None:
        progress(tally.progress())
    return tally.result(url, "closed", None)


def run(url: str, *, rps: float, duration: float, **kwargs: Any) -> LoadResult:
    """`run_open` from synchronous code (its own event loop)."""
    return asyncio.run(run_open(url, rps=rps, duration=duration, **kwargs))
