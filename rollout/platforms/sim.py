"""The rehearsal platform (`rollout controller --platform sim --scenario bad-5pct`):
the memory runtime, and traffic from the simulator, so a policy goes through the whole
controller — store, reconcilers, commands — with no processes.

Each release (service, canary revision) gets its own simulated `World` of the chosen
scenario, seeded from the names; its time 0 is when the router first sees the canary.
The router advances the world to the present at the old weight before it applies a
new one, so the traffic each revision got follows the applied weights second by
second; metrics come from `rollout.sim.readings.read`, the same readings
`rollout simulate` uses, behind the world's scrape delay.

A world is drawn only when someone reads it (a metric, `canary_failed`): until then a
run keeps the advances it owes — (until, weight) pairs — and replays them in order
first, so the world is the same as if it had been advanced at each apply. A policy
without analysis (the controller-scale benchmark's) never pays for simulated traffic
(building and drawing a world cost about a tenth of the CPU of such a release).

No I/O; time from the injected clock.
"""

from __future__ import annotations

import functools
import threading
import zlib
from collections.abc import Callable
from datetime import datetime

from rollout import clock as clocks
from rollout.analysis import measurement
from rollout.api import policyspec, route
from rollout.platforms import memory, ports
from rollout.sim import readings, scenarios, world

__all__ = ["SimTraffic", "make"]


class _Run:
    """One release's traffic: its world, drawn when first read (`world()`)."""

    def __init__(self, make: Callable[[], world.World], origin: datetime) -> None:
        self.origin = origin
        self.weight = 0
        self.now = 0.0  # seconds from `origin` the traffic has reached
        self._make: Callable[[], world.World] | None = make
        self._world: world.World | None = None
        self._owed: list[tuple[float, float]] = []  # advances not drawn yet: (until, weight)

    def advance(self, seconds: float) -> None:
        """Traffic at the current weight up to `seconds` (drawn now if the world is)."""
        if seconds <= self.now:
            return
        self.now = seconds
        if self._world is None:
            self._owed.append((seconds, self.weight / 100))
        else:
            self._world.advance(seconds, self.weight / 100)

    def world(self) -> world.World:
        """The world, with every advance owed drawn, in order."""
        if self._world is None:
            assert self._make is not None
            self._world, self._make = self._make(), None
            for until, weight in self._owed:
                self._world.advance(until, weight)
            self._owed.clear()
        return self._world


class SimTraffic:
    """TrafficRouter and MetricProvider over simulated worlds, one per release."""

    def __init__(
        self,
        clock: clocks.Clock,
        scenario: scenarios.Scenario,
        *,
        rps: float = 10.0,
        p0: float = 0.001,
        scrape_delay: float = 10.0,
    ) -> None:
        self.clock = clock
        self.scenario = scenario
        self.rps = rps
        self.p0 = p0
        self.scrape_delay = scrape_delay
        self.router = memory.MemoryRouter(clock)
        self._runs: dict[tuple[str, str, str], _Run] = {}
        self._lock = threading.Lock()

    def _run(self, namespace: str, service: str, canary: str) -> _Run:
        key = (namespace, service, canary)
        run = self._runs.get(key)
        if run is None:
            make = functools.partial(
                world.World,
                self.scenario,
                seed=zlib.crc32("/".join(key).encode()),
                rps=self.rps,
                p0=self.p0,
                scrape_delay=self.scrape_delay,
            )
            run = self._runs[key] = _Run(make, self.clock.now())
        return run

    def _advance(self, run: _Run) -> None:
        run.advance((self.clock.now() - run.origin).total_seconds())

    # --- TrafficRouter ----------------------------------------------------------------

    def apply(self, rt: route.Route) -> ports.AppliedRoute:
        namespace = rt.metadata.namespace or "default"
        canary = next((t for t in rt.spec.traffic if t.tag == "canary"), None)
        with self._lock:
            if canary is not None:
                run = self._run(namespace, rt.spec.service, canary.revision_name)
                self._advance(run)
                run.weight = canary.percent
            return self.router.apply(rt)

    def remove(self, namespace: str, name: str) -> None:
        self.router.remove(namespace, name)

    # --- MetricProvider ---------------------------------------------------------------

    def measure(
        self, metric: policyspec.Metric, ctx: ports.MeasureContext
    ) -> measurement.Measurement:
        with self._lock:
            run = self._run(ctx.namespace, ctx.service, ctx.canary)
            self._advance(run)
            since = ctx.measured_until
            if since is not None and since < run.origin:
                since = run.origin  # a world made after a restart starts at its creation
            return readings.read(metric, run.world(), origin=run.origin, measured_until=since)

    def canary_failed(self, namespace: str, service: str, canary: str) -> int:
        """Failed requests the canary served so far (ground truth)."""
        with self._lock:
            run = self._run(namespace, service, canary)
            self._advance(run)
            return run.world().canary_failed


def make(
    clock: clocks.Clock, scenario: str, *, rps: float = 10.0, scrape_delay: float = 10.0
) -> ports.Platform:
    """The rehearsal platform for one scenario name (`good`, `bad-5pct`, …)."""
    traffic = SimTraffic(clock, scenarios.get(scenario), rps=rps, scrape_delay=scrape_delay)
    return ports.Platform(
        name="sim",
        runtime=memory.MemoryRuntime(clock),
        router=traffic,
        metrics=traffic,
        events=memory.MemoryEvents(),
        metrics_may_block=False,  # simulated readings: pure CPU, measured inline
    )
