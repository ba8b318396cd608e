"""Measurements off the reconcile: a metric provider never holds up a release.

A reading may take seconds (a slow Prometheus) or never end (an endpoint that drips
its answer, a name lookup that hangs). The release reconciler does not wait for it:
it asks `take(key, due)` for the readings of its due metrics and gets back the ones
that are finished, and the names of those still in flight; it decides with what it
has — so `abort`, `pause`, a newer revision and every other release act at once —
and the runner wakes the release (`wake(key)`, the controller's) when a reading
completes or its deadline passes.

`Runner` (platforms whose metrics may block: local, kubernetes):
- One reading in flight per (release, metric). Starting one puts it on a bounded set
  of worker threads (`threads`, started as needed; more readings than threads wait
  in line).
- Each reading has a hard deadline: the provider's own `timeout` (10 s when it has
  none) plus `GRACE`, from when it was asked for. The providers end their own I/O by
  their timeout (the web provider's is a total deadline); the runner's deadline is
  the backstop for anything else. Past it, the reading is an Error ("no complete
  answer within 2s"; "no measurement thread free within …" if it never started).
- A thread still stuck past its deadline keeps only that metric busy: its next
  reading is at once an Error ("the previous reading … is still running"), and its
  late result is dropped. It never holds a worker of the controller.
- A finished reading is handed out once, to the next `take` that asks for its metric
  with the same basis (revisions, release start, `measuredUntil`); one asked for
  under another basis, or no longer asked for (the metric is not due any more: the
  release moved on), is dropped. `forget(key)` drops a release's readings when it
  ends. Nothing is persisted: status is the memory, and a restarted controller
  simply measures again.

`Inline` (platforms whose metrics are pure CPU: sim, memory; the scenario tests and
the 5,000-release benchmark): readings are taken in the caller, as before.

Both turn anything a provider raises into an Error reading naming the exception, and
make every reading's error text printable (`providers.printable`), so nothing raw
from the outside reaches a release's history.

Threads: the runner's workers and one watchdog for deadlines, all daemons (a stuck
provider call cannot keep the process alive); `close()` stops the idle ones and the
watchdog. Thread-safe. Called by the release reconciler (through `base.Context`);
built by `manager.Controller`.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import heapq
import threading
import time
from collections.abc import Callable, Sequence

import structlog

from rollout.analysis import measurement
from rollout.analysis.providers import printable
from rollout.api import policyspec
from rollout.reconcilers import base

__all__ = ["DEFAULT_TIMEOUT", "GRACE", "MAX_THREADS", "Inline", "Runner", "settle", "timeout_of"]

log = structlog.get_logger(__name__)

GRACE = 1.0  # seconds past the provider's timeout before the runner gives up on a reading
DEFAULT_TIMEOUT = 10.0  # for providers without a timeout of their own (local stats)
MAX_THREADS = 16
_IDLE = 30.0  # seconds an idle worker waits for work before it ends


def timeout_of(metric: policyspec.Metric) -> float:
    """The provider's own timeout in seconds (DEFAULT_TIMEOUT when it has none)."""
    spec = metric.provider.web or metric.provider.prometheus
    return spec.timeout.total_seconds() if spec is not None else DEFAULT_TIMEOUT


def settle(
    provider: measurement.MetricProvider, metric: policyspec.Metric, ctx: measurement.MeasureContext
) -> measurement.Measurement:
    """One reading taken here: what the provider returns with a printable error, or an
    Error reading for what it raised."""
    try:
        reading = provider.measure(metric, ctx)
    except Exception as exc:  # a provider must not raise; if one does, it is an Error
        log.warning("metric.provider_raised", metric=metric.name, error=type(exc).__name__)
        return _error(metric, ctx, f"the {metric.provider.kind} provider failed: {_describe(exc)}")
    if not isinstance(reading, measurement.Measurement):
        return _error(metric, ctx, f"the {metric.provider.kind} provider returned no reading")
    if reading.error is not None:
        shown = printable.printable(reading.error)
        if shown != reading.error:
            return dataclasses.replace(reading, error=shown)
    return reading


class Inline:
    """Readings taken in the caller (pure-CPU providers)."""

    def __init__(self, provider: measurement.MetricProvider) -> None:
        self._provider = provider

    def take(
        self, key: base.Key, due: Sequence[tuple[policyspec.Metric, measurement.MeasureContext]]
    ) -> base.Taken:
        return base.Taken(tuple(settle(self._provider, m, ctx) for m, ctx in due))

    def forget(self, key: base.Key) -> None:
        pass

    def close(self) -> None:
        pass


class _State(enum.Enum):
    QUEUED = "queued"  # waiting for a worker
    RUNNING = "running"  # a worker is in the provider
    DONE = "done"  # a reading is ready to be handed out
    STUCK = "stuck"  # handed out (an Error at its deadline); the worker is still inside


@dataclasses.dataclass(eq=False)
class _Job:
    key: base.Key
    metric: policyspec.Metric
    ctx: measurement.MeasureContext
    asked: float  # monotonic
    deadline: float  # monotonic
    state: _State = _State.QUEUED
    reading: measurement.Measurement | None = None
    busy: bool = False  # DONE at its deadline while a worker is still inside the provider


def _basis(ctx: measurement.MeasureContext) -> tuple[object, ...]:
    """What a reading was taken for, without the time it was asked at."""
    return (
        ctx.namespace,
        ctx.service,
        ctx.stable,
        ctx.canary,
        ctx.release_started_at,
        ctx.measured_until,
    )


class Runner:
    """Readings on worker threads, each within a deadline (see the module docstring)."""

    def __init__(
        self,
        provider: measurement.MetricProvider,
        *,
        wake: Callable[[base.Key], None],
        threads: int = MAX_THREADS,
        grace: float = GRACE,
    ) -> None:
        if threads < 1:
            raise ValueError("a runner needs at least one thread")
        self._provider = provider
        self._wake = wake
        self._max_threads = threads
        self._grace = grace
        self._jobs: dict[base.Key, dict[str, _Job]] = {}  # release → metric → its job
        self._line: collections.deque[_Job] = collections.deque()  # QUEUED, in order
        self._deadlines: list[tuple[float, int, _Job]] = []  # a heap
        self._seq = 0
        self._workers: dict[threading.Thread, _Job | None] = {}  # → the job it is in
        self._idle = 0
        self._watchdog: threading.Thread | None = None
        self._closed = False
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # a job in line, or closing
        self._timer = threading.Condition(self._lock)  # a new deadline, or closing

    # --- the reconciler's side ---------------------------------------------------------

    def take(
        self, key: base.Key, due: Sequence[tuple[policyspec.Metric, measurement.MeasureContext]]
    ) -> base.Taken:
        """The finished readings of `due`, starting those not in flight; never waits."""
        readings: list[measurement.Measurement] = []
        pending: list[str] = []
        wanted = {m.name for m, _ in due}
        with self._lock:
            jobs = self._jobs.get(key, {})
            for name in [n for n, j in jobs.items() if n not in wanted]:
                if jobs[name].state is _State.DONE and not jobs[name].busy:
                    self._drop(jobs[name])  # not asked for any more: its moment has passed
            for metric, ctx in due:
                job = self._jobs.get(key, {}).get(metric.name)
                if job is not None and job.state is _State.DONE:
                    fits = _basis(job.ctx) == _basis(ctx)
                    if fits and job.reading is not None:
                        readings.append(job.reading)
                    if job.busy:  # its worker is still inside the provider
                        job.state = _State.STUCK
                    else:
                        self._drop(job)
                        job = None
                    if fits:
                        continue
                if job is None:
                    self._start(key, metric, ctx)
                    pending.append(metric.name)
                elif job.state is _State.STUCK:
                    readings.append(_error(metric, ctx, _stuck(job)))
                else:
                    pending.append(metric.name)
        return base.Taken(tuple(readings), tuple(pending))

    def forget(self, key: base.Key) -> None:
        """Drop the readings of a release that ended (those in flight end unheard)."""
        with self._lock:
            for job in self._jobs.pop(key, {}).values():
                if job.state is _State.QUEUED:
                    self._line.remove(job)

    def in_flight(self) -> int:
        """Readings being taken, waiting for a thread, or stuck past their deadline."""
        with self._lock:
            return sum(
                j.state is not _State.DONE or j.busy
                for jobs in self._jobs.values()
                for j in jobs.values()
            )

    def threads(self) -> int:
        """Worker threads alive (at most `threads`)."""
        with self._lock:
            return len(self._workers)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the watchdog and the idle workers; a worker stuck in a provider is left
        to end on its own (a daemon). Threads start again if the runner is used again."""
        with self._lock:
            self._closed = True
            self._work.notify_all()
            self._timer.notify_all()
            threads = [t for t, job in self._workers.items() if job is None]
            if self._watchdog is not None:
                threads.append(self._watchdog)
                self._watchdog = None
        for thread in threads:
            thread.join(timeout)

    # --- starting and finishing ---------------------------------------------------------

    def _start(
        self, key: base.Key, metric: policyspec.Metric, ctx: measurement.MeasureContext
    ) -> None:
        """Put a reading in line (under the lock), and make sure a thread will take it."""
        self._closed = False
        now = time.monotonic()
        job = _Job(key, metric, ctx, asked=now, deadline=now + timeout_of(metric) + self._grace)
        self._jobs.setdefault(key, {})[metric.name] = job
        self._line.append(job)
        self._seq += 1
        heapq.heappush(self._deadlines, (job.deadline, self._seq, job))
        if self._idle >= len(self._line):
            self._work.notify()
        elif len(self._workers) < self._max_threads:
            thread = threading.Thread(target=self._work_loop, name="measure", daemon=True)
            self._workers[thread] = None
            thread.start()
        if self._watchdog is None:
            self._watchdog = threading.Thread(
                target=self._watch_loop, name="measure-deadlines", daemon=True
            )
            self._watchdog.start()
        else:
            self._timer.notify()

    def _current(self, job: _Job) -> bool:
        """Whether `job` is its metric's job (not forgotten, not replaced)."""
        return self._jobs.get(job.key, {}).get(job.metric.name) is job

    def _drop(self, job: _Job) -> None:
        jobs = self._jobs.get(job.key)
        if jobs is not None and jobs.get(job.metric.name) is job:
            del jobs[job.metric.name]
            if not jobs:
                del self._jobs[job.key]

    def _work_loop(self) -> None:
        me = threading.current_thread()
        while True:
            with self._lock:
                self._idle += 1
                self._work.wait_for(lambda: bool(self._line) or self._closed, timeout=_IDLE)
                self._idle -= 1
                if not self._line:  # idle too long, or closing
                    del self._workers[me]
                    return
                job = self._line.popleft()
                job.state = _State.RUNNING
                self._workers[me] = job
            reading = settle(self._provider, job.metric, job.ctx)
            self._finished(job, reading)
            with self._lock:
                self._workers[me] = None

    def _finished(self, job: _Job, reading: measurement.Measurement) -> None:
        with self._lock:
            current = self._current(job)
            if job.state is not _State.RUNNING:  # its deadline passed first: that Error stands
                job.busy = False
                if job.state is _State.STUCK and current:
                    self._drop(job)  # the metric is free again
                return
            job.state, job.reading = _State.DONE, reading
        if current:
            self._wake(job.key)

    def _watch_loop(self) -> None:
        me = threading.current_thread()
        while True:
            late: list[tuple[_Job, str]] = []
            with self._lock:
                if self._closed or self._watchdog is not me:
                    return
                now = time.monotonic()
                while self._deadlines and self._deadlines[0][0] <= now:
                    _, _, job = heapq.heappop(self._deadlines)
                    why = self._expire(job)
                    if why:
                        late.append((job, why))
                if not late:
                    wait = self._deadlines[0][0] - now if self._deadlines else _IDLE
                    self._timer.wait(min(wait, _IDLE))
            for job, why in late:
                log.warning(
                    "metric.reading_late",
                    namespace=job.key.namespace,
                    release=job.key.name,
                    metric=job.metric.name,
                    why=why,
                )
                self._wake(job.key)

    def _expire(self, job: _Job) -> str:
        """The deadline of `job` passed (under the lock): an Error reading if it had none
        yet; says why ("" when it had one)."""
        if not self._current(job):
            return ""
        if job.state is _State.QUEUED:
            self._line.remove(job)
            job.state = _State.DONE
            job.reading = _error(
                job.metric,
                job.ctx,
                f"no measurement thread free within {job.deadline - job.asked:g}s"
                f" ({self._max_threads} readings in progress)",
            )
            return "never started"
        if job.state is _State.RUNNING:
            job.state, job.busy = _State.DONE, True
            job.reading = _error(
                job.metric, job.ctx, f"no complete answer within {timeout_of(job.metric):g}s"
            )
            return "still running"
        return ""


# --- helpers ---------------------------------------------------------------------------


def _stuck(job: _Job) -> str:
    running = round(time.monotonic() - job.asked)
    return (
        f"the previous reading of {job.metric.name} is still running"
        f" ({running}s, past its {timeout_of(job.metric):g}s timeout)"
    )


def _describe(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _error(
    metric: policyspec.Metric, ctx: measurement.MeasureContext, reason: str
) -> measurement.Measurement:
    return measurement.Measurement(
        metric=metric.name, at=ctx.now, error=printable.printable(reason)
    )
