"""Measurements off the reconcile: a metric provider never holds up a release.

A reading may take seconds (a slow Prometheus) or never end (an endpoint that drips
its answer, a name lookup that hangs). The release reconciler does not wait for it:
it asks `take(key, due)` for the readings of its due metrics and gets back the ones
that are finished, and the names of those still in flight; it decides with what it
has — so `abort`, `pause`, a newer revision and every other release act at once —
and the runner wakes the release (`wake(key)`, the controller's) when a reading
completes or its deadline passes.

`Runner` (platforms whose metrics may block: local, kubernetes), on the off-loop
runner (`offloop`):
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

Threads: `offloop`'s workers and its watchdog for deadlines, all daemons (a stuck
provider call cannot keep the process alive); `close()` stops the idle ones and the
watchdog. Thread-safe. Called by the release reconciler (through `base.Context`);
built by `manager.Controller`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import structlog

from rollout.analysis import measurement
from rollout.analysis.providers import printable
from rollout.api import policyspec
from rollout.controller import offloop
from rollout.reconcilers import base

__all__ = ["DEFAULT_TIMEOUT", "GRACE", "MAX_THREADS", "Inline", "Runner", "settle", "timeout_of"]

log = structlog.get_logger(__name__)

GRACE = 1.0  # seconds past the provider's timeout before the runner gives up on a reading
DEFAULT_TIMEOUT = 10.0  # for providers without a timeout of their own (local stats)
MAX_THREADS = 16


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


@dataclasses.dataclass(frozen=True)
class _Reading:
    """One reading as an off-loop task (`offloop.Task`)."""

    provider: measurement.MetricProvider
    metric: policyspec.Metric
    ctx: measurement.MeasureContext

    @property
    def name(self) -> str:
        return self.metric.name

    @property
    def basis(self) -> tuple[object, ...]:
        """What a reading was taken for, without the time it was asked at."""
        ctx = self.ctx
        return (
            ctx.namespace,
            ctx.service,
            ctx.stable,
            ctx.canary,
            ctx.release_started_at,
            ctx.measured_until,
            ctx.fresh_since,
        )

    @property
    def timeout(self) -> float:
        return timeout_of(self.metric)

    def run(self) -> measurement.Measurement:
        return settle(self.provider, self.metric, self.ctx)

    def failed(self, reason: str) -> measurement.Measurement:
        return _error(self.metric, self.ctx, reason)

    @property
    def lane(self) -> str | None:
        return None


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
        self._provider = provider
        self._calls: offloop.Runner[measurement.Measurement] = offloop.Runner(
            wake=wake, threads=threads, grace=grace
        )

    def take(
        self, key: base.Key, due: Sequence[tuple[policyspec.Metric, measurement.MeasureContext]]
    ) -> base.Taken:
        """The finished readings of `due`, starting those not in flight; never waits."""
        tasks = [_Reading(self._provider, metric, ctx) for metric, ctx in due]
        readings, pending = self._calls.take(key, tasks)
        return base.Taken(tuple(readings), tuple(pending))

    def forget(self, key: base.Key) -> None:
        """Drop the readings of a release that ended (those in flight end unheard)."""
        self._calls.forget(key)

    def in_flight(self) -> int:
        """Readings being taken, waiting for a thread, or stuck past their deadline."""
        return self._calls.in_flight()

    def threads(self) -> int:
        """Worker threads alive (at most `threads`)."""
        return self._calls.threads()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the watchdog and the idle workers (see `offloop.Runner.close`)."""
        self._calls.close(timeout)


# --- helpers ---------------------------------------------------------------------------


def _describe(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _error(
    metric: policyspec.Metric, ctx: measurement.MeasureContext, reason: str
) -> measurement.Measurement:
    return measurement.Measurement(
        metric=metric.name, at=ctx.now, error=printable.printable(reason)
    )
