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


@dataclasses.dataclass
class _Workload:
    """One revision's replicas: `replicas` asked for, `ready` of them ready as of
    `grown` (when the count last grew); all are ready `ready_after` after that."""

    replicas: int
    ready: int
    grown: datetime


class MemoryRuntime:
    """Revisions are Ready `ready_after` (clock time) after they are first ensured;
    replicas added later are ready `ready_after` after they are asked for (those
    removed go at once); asked for 0, a revision is scaled to zero (and starts afresh
    when asked again). One that was Ready with ready replicas before a restart is
    adopted as running.

    `replica_seconds(until)` integrates the replicas asked for over clock time, per
    revision (bench/cost.py: what a release costs)."""

    def __init__(self, clock: clocks.Clock, *, ready_after: timedelta = timedelta(seconds=2)):
        self.clock = clock
        self.ready_after = ready_after
        self.workloads: dict[_Key, _Workload] = {}
        self.removed: list[_Key] = []
        self.never_ready: set[str] = set()  # revision names that never pass their probe
        self.crashing: set[str] = set()  # revision names that crash-loop
        # (time, key, replicas asked): every change of a revision's replica count
        self.scale_log: list[tuple[datetime, _Key, int]] = []
        self._lock = threading.Lock()

    def ensure(self, rev: revision.Revision, *, replicas: int) -> ports.RuntimeState:
        key = (rev.metadata.namespace or "default", rev.metadata.name)
        now = self.clock.now()
        with self._lock:
            work = self._scale(key, rev, replicas, now)
        name = rev.metadata.name
        if work is None:
            return ports.RuntimeState(ready=False, reason="ScaledToZero", message="scaled to zero")
        if name in self.crashing:
            return ports.RuntimeState(
                ready=False,
                reason="CrashLoop",
                message="the process exited 5 times in a row",
                replicas=work.replicas,
                restarts=5,
                failed=True,
                last_exit="exited with code 1",
            )
        ready = 0 if name in self.never_ready else self._ready(work, now)
        if ready < work.replicas:
            return ports.RuntimeState(
                ready=False,
                reason="Starting" if name not in self.never_ready else "ProbeFailing",
                message="waiting for the readiness probe",
                replicas=work.replicas,
                ready_replicas=ready,
                url=f"memory://{key[0]}/{name}" if ready else None,
            )
        return ports.RuntimeState(
            ready=True,
            reason="Ready",
            replicas=work.replicas,
            ready_replicas=work.replicas,
            url=f"memory://{key[0]}/{name}",
        )

    def _scale(
        self, key: _Key, rev: revision.Revision, replicas: int, now: datetime
    ) -> _Workload | None:
        """The workload with `replicas` asked for (None: scaled to zero); under the lock."""
        work = self.workloads.get(key)
        before = work.replicas if work is not None else 0
        if replicas == 0:
            self.workloads.pop(key, None)
        elif work is None:
            # Ready with ready replicas when first seen: running before a restart, adopt it.
            adopted = rev.status.ready and rev.status.ready_replicas > 0
            grown = now - self.ready_after if adopted else now
            work = self.workloads[key] = _Workload(replicas, 0, grown)
        elif replicas > work.replicas:
            work.ready, work.replicas, work.grown = self._ready(work, now), replicas, now
        else:
            work.ready, work.replicas = min(self._ready(work, now), replicas), replicas
        if replicas != before:
            self.scale_log.append((now, key, replicas))
        return self.workloads.get(key)

    def _ready(self, work: _Workload, now: datetime) -> int:
        return work.replicas if now - work.grown >= self.ready_after else work.ready

    def remove(self, namespace: str, name: str) -> None:
        key = (namespace, name)
        with self._lock:
            self.removed.append(key)
            if self.workloads.pop(key, None) is not None:
                self.scale_log.append((self.clock.now(), key, 0))

    def replicas_of(self, namespace: str, name: str) -> int:
        """The replicas asked for now (0: scaled to zero or never run)."""
        with self._lock:
            work = self.workloads.get((namespace, name))
            return work.replicas if work is not None else 0

    def ready_replicas_of(self, namespace: str, name: str) -> int:
        """The replicas ready now (0: scaled to zero, never run, or not ready yet)."""
        with self._lock:
            work = self.workloads.get((namespace, name))
            if work is None or name in self.never_ready or name in self.crashing:
                return 0
            return self._ready(work, self.clock.now())

    def replica_seconds(self, since: datetime, until: datetime) -> dict[_Key, float]:
        """Replicas asked for × seconds, per revision, between `since` and `until`."""
        with self._lock:
            log = sorted(self.scale_log, key=lambda entry: entry[0])
        total: dict[_Key, float] = {}
        count: dict[_Key, tuple[datetime, int]] = {}  # key → (from, replicas)
        for at, key, replicas in [*log, *((until, k, 0) for k in {k for _, k, _ in log})]:
            if key in count:
                start, held = count[key]
                seconds = (min(at, until) - max(start, since)).total_seconds()
                total[key] = total.get(key, 0.0) + held * max(seconds, 0.0)
            count[key] = (at, replicas)
        return total


class MemoryRouter:
    """Applies every split and request rule at once and remembers them (`history` and
    `rules` for assertions); reads the rules back as applied (so a Route's Ready holds
    here as on a real data plane that took them)."""

    def __init__(self, clock: clocks.Clock) -> None:
        self.clock = clock
        self.applied: dict[_Key, list[split.TrafficStatus]] = {}
        self.history: list[tuple[datetime, str, tuple[tuple[str, int], ...]]] = []
        self.rules: dict[_Key, route.Rules] = {}
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
        rules = route.Rules.of(rt.spec)
        with self._lock:
            self.rules[key] = rules
            if self.applied.get(key) != traffic:
                self.applied[key] = traffic
                self.history.append(
                    (
                        self.clock.now(),
                        key[1],
                        tuple((t.revision_name, t.percent) for t in traffic),
                    )
                )
            return ports.AppliedRoute(
                list(traffic),
                url=f"memory://{key[0]}/{key[1]}",
                header_routes=list(rules.header_routes),
                mirrors=list(rules.mirrors),
                session_affinity=rules.session_affinity,
            )

    def remove(self, namespace: str, name: str) -> None:
        with self._lock:
            self.applied.pop((namespace, name), None)
            self.rules.pop((namespace, name), None)

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
