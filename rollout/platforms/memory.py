"""The in-memory platform: revisions that become ready after a delay, a router that
records every split it is given, scripted metrics, and events in a list.

For scenario tests (with a fake clock) and as the base of the rehearsal platform
(`sim`). Tests script it: `runtime.never_ready`, `runtime.crashing`, `metrics.script`.

No I/O; time from the injected clock.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from rollout import clock as clocks
from rollout.analysis import measurement
from rollout.api import policyspec, revision, route, split
from rollout.platforms import ports

__all__ = ["MemoryEvents", "MemoryRouter", "MemoryRuntime", "ScriptedMetrics", "healthy", "make"]

_Key = tuple[str, str]


class MemoryRuntime:
    """Revisions are Ready `ready_after` (clock time) after they are first ensured; one
    that was Ready before a restart is adopted as running."""

    def __init__(self, clock: clocks.Clock, *, ready_after: timedelta = timedelta(seconds=2)):
        self.clock = clock
        self.ready_after = ready_after
        self.started: dict[_Key, datetime] = {}
        self.removed: list[_Key] = []
        self.never_ready: set[str] = set()  # revision names that never pass their probe
        self.crashing: set[str] = set()  # revision names that crash-loop
        self._lock = threading.Lock()

    def ensure(self, rev: revision.Revision) -> ports.RuntimeState:
        key = (rev.metadata.namespace or "default", rev.metadata.name)
        now = self.clock.now()
        # A revision already Ready when first seen was running before a restart: adopt it.
        first = now - self.ready_after if rev.status.ready else now
        with self._lock:
            started = self.started.setdefault(key, first)
        name = rev.metadata.name
        replicas = rev.spec.scaling.min_replicas if rev.spec.scaling else 1
        if name in self.crashing:
            return ports.RuntimeState(
                ready=False,
                reason="CrashLoop",
                message="the process exited 5 times in a row",
                replicas=replicas,
                restarts=5,
                failed=True,
            )
        if name in self.never_ready or now - started < self.ready_after:
            return ports.RuntimeState(
                ready=False,
                reason="Starting" if name not in self.never_ready else "ProbeFailing",
                message="waiting for the readiness probe",
                replicas=replicas,
            )
        return ports.RuntimeState(
            ready=True,
            reason="Ready",
            replicas=replicas,
            ready_replicas=replicas,
            url=f"memory://{key[0]}/{name}",
        )

    def remove(self, namespace: str, name: str) -> None:
        with self._lock:
            if self.started.pop((namespace, name), None) is not None:
                self.removed.append((namespace, name))


class MemoryRouter:
    """Applies every split at once and remembers it (`history` for assertions)."""

    def __init__(self, clock: clocks.Clock) -> None:
        self.clock = clock
        self.applied: dict[_Key, list[split.TrafficStatus]] = {}
        self.history: list[tuple[datetime, str, tuple[tuple[str, int], ...]]] = []
        self._lock = threading.Lock()

    def apply(self, rt: route.Route) -> ports.AppliedRoute:
        key = (rt.metadata.namespace or "default", rt.metadata.name)
        traffic = [
            split.TrafficStatus(
                revision_name=t.revision_name,
                percent=t.percent,
                tag=t.tag,
                url=f"memory://{key[0]}/{key[1]}?tag={t.tag}" if t.tag else None,
            )
            for t in rt.spec.traffic
        ]
        with self._lock:
            if self.applied.get(key) != traffic:
                self.applied[key] = traffic
                self.history.append(
                    (
                        self.clock.now(),
                        key[1],
                        tuple((t.revision_name, t.percent) for t in traffic),
                    )
                )
            return ports.AppliedRoute(list(traffic), url=f"memory://{key[0]}/{key[1]}")

    def remove(self, namespace: str, name: str) -> None:
        with self._lock:
            self.applied.pop((namespace, name), None)

    def weight_of(self, namespace: str, name: str, revision_name: str) -> int:
        with self._lock:
            traffic = self.applied.get((namespace, name), [])
        return sum(t.percent for t in traffic if t.revision_name == revision_name)


Script = Callable[[policyspec.Metric, measurement.MeasureContext], measurement.Measurement]


def healthy(metric: policyspec.Metric, ctx: measurement.MeasureContext) -> measurement.Measurement:
    """A reading that passes any sensible gate: plenty of traffic, no errors, 50 ms."""
    if metric.compare is not None and metric.compare.method is policyspec.CompareMethod.SEQUENTIAL:
        return measurement.Measurement(
            metric=metric.name,
            at=ctx.now,
            until=ctx.now,
            canary=measurement.Counts(1000, 0),
            stable=measurement.Counts(1000, 0),
        )
    samples = tuple(0.05 + 0.001 * (i % 7) for i in range(100))
    return measurement.Measurement(
        metric=metric.name,
        at=ctx.now,
        until=ctx.now,
        value=0.0,
        samples=1000,
        canary_values=samples if metric.compare else (),
        stable_values=samples if metric.compare else (),
    )


@dataclasses.dataclass
class ScriptedMetrics:
    """Readings from `script` (default `healthy`); every call is kept in `calls`."""

    script: Script = healthy
    calls: list[tuple[str, measurement.MeasureContext]] = dataclasses.field(default_factory=list)

    def measure(
        self, metric: policyspec.Metric, ctx: measurement.MeasureContext
    ) -> measurement.Measurement:
        self.calls.append((metric.name, ctx))
        return self.script(metric, ctx)


class MemoryEvents:
    """Events in a list."""

    def __init__(self) -> None:
        self.events: list[ports.RecordedEvent] = []
        self._lock = threading.Lock()

    def record(self, event: ports.RecordedEvent) -> None:
        with self._lock:
            self.events.append(event)

    def reasons(self, name: str | None = None) -> list[str]:
        with self._lock:
            return [e.reason for e in self.events if name is None or e.name == name]


def make(clock: clocks.Clock, *, ready_after: timedelta = timedelta(seconds=2)) -> ports.Platform:
    """A memory platform: MemoryRuntime, MemoryRouter, ScriptedMetrics, MemoryEvents."""
    return ports.Platform(
        name="memory",
        runtime=MemoryRuntime(clock, ready_after=ready_after),
        router=MemoryRouter(clock),
        metrics=ScriptedMetrics(),
        events=MemoryEvents(),
        metrics_may_block=False,  # scripted readings: measured inline (tests may say True)
    )
