"""The rehearsal platform (`rollout controller --platform sim --scenario bad-5pct`):
the memory runtime, and traffic from the simulator, so a policy goes through the whole
controller — store, reconcilers, commands — with no processes.

Each release (service, canary revision) gets its own simulated `World` of the chosen
scenario, seeded from the names; its time 0 is when the router first sees the canary.
The router advances the world to the present at the old weight before it applies a
new one, so the traffic each revision got follows the applied weights second by
second; metrics come from `rollout.sim.readings.read`, the same readings
`rollout simulate` uses, behind the world's scrape delay.

No I/O; time from the injected clock.
"""

from __future__ import annotations

import threading
import zlib
from datetime import datetime

from rollout import clock as clocks
from rollout.analysis import measurement
from rollout.api import policyspec, route
from rollout.platforms import memory, ports
from rollout.sim import readings, scenarios, world

__all__ = ["SimTraffic", "make"]


class _Run:
    def __init__(self, w: world.World, origin: datetime) -> None:
        self.world = w
        self.origin = origin
        self.weight = 0


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
            seed = zlib.crc32("/".join(key).encode())
            w = world.World(
                self.scenario,
                seed=seed,
                rps=self.rps,
                p0=self.p0,
                scrape_delay=self.scrape_delay,
            )
            run = self._runs[key] = _Run(w, self.clock.now())
        return run

    def _advance(self, run: _Run) -> None:
        seconds = (self.clock.now() - run.origin).total_seconds()
        if seconds > run.world.now:
            run.world.advance(seconds, run.weight / 100)

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
            return readings.read(metric, run.world, origin=run.origin, measured_until=since)

    def canary_failed(self, namespace: str, service: str, canary: str) -> int:
        """Failed requests the canary served so far (ground truth)."""
        with self._lock:
            run = self._run(namespace, service, canary)
            self._advance(run)
            return run.world.canary_failed


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
    )
