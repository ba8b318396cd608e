"""The rehearsal platform (`rollout controller --platform sim --scenario bad-5pct`):
the memory runtime, and traffic from the simulator, so a policy goes through the whole
controller — store, reconcilers, commands — with no processes.

Each release (service, canary revision) gets its own simulated `World` of the chosen
scenario, seeded from the names; its time 0 is when the router first sees the canary.
The router advances the world to the present at the old weight before it applies a
new one, so the traffic each revision got follows the applied weights second by
second — the canary's share being its weight plus the requests its header routes and
mirrors send it (`rollout.sim.requests.canary_share`: a fixed 5 % of the requests
matches any header route; mirrored copies count as canary requests), so a weight-0
A/B test gets canary readings; metrics come from `rollout.sim.readings.read`, the same readings
`rollout simulate` uses, behind the world's scrape delay. A world is the canary's,
not its release's: a release retried after a rollback continues the same world, and
its readings count only what came after its start (or its last `retry`:
`MeasureContext.fresh_since`), never the first release's traffic.

A world is drawn only when someone reads it (a metric, `canary_failed`): until then a
run keeps the advances it owes — (until, weight) pairs — and replays them in order
first, so the world is the same as if it had been advanced at each apply. A policy
without analysis (the controller-scale benchmark's) never pays for simulated traffic
(building and drawing a world cost about a tenth of the CPU of such a release).

A restarted controller continues the same traffic: with a `journal` (the rehearsal
controller keeps `<state-dir>/sim-traffic.jsonl`), every weight a release's run is
given is appended there — one line `{"key", "origin", "t", "weight"}` — and a run
made again after a restart is rebuilt from its lines: the same origin, the same
weights at the same times, the same seed, so the same world. Without it (a new
world at each restart) a controller killed every few seconds lost the canary's
traffic each time, and a bad canary could pass its steps on the little that was
left (found by `bench/chaos_sim.py`).

I/O: only that journal (appended, read once when the platform starts); time from the
injected clock.
"""

from __future__ import annotations

import contextlib
import functools
import json
import pathlib
import threading
import zlib
from collections.abc import Callable
from datetime import datetime

from rollout import clock as clocks
from rollout.analysis import measurement
from rollout.api import policyspec, route
from rollout.platforms import memory, ports
from rollout.sim import readings, requests, scenarios, world

__all__ = ["JOURNAL_FILE", "SimTraffic", "make"]

JOURNAL_FILE = "sim-traffic.jsonl"
_Key = tuple[str, str, str]


class _Run:
    """One release's traffic: its world, drawn when first read (`world()`)."""

    def __init__(self, make: Callable[[], world.World], origin: datetime) -> None:
        self.origin = origin
        self.weight = 0.0  # the canary's share of the requests, in percent
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
        journal: pathlib.Path | None = None,
    ) -> None:
        self.clock = clock
        self.scenario = scenario
        self.rps = rps
        self.p0 = p0
        self.scrape_delay = scrape_delay
        self.router = memory.MemoryRouter(clock)
        self._runs: dict[tuple[str, str, str], _Run] = {}
        self._lock = threading.Lock()
        self._journal = journal
        # What the journal says of runs not made yet: key → (origin, [(t, weight)]).
        self._journaled: dict[_Key, tuple[datetime, list[tuple[float, float]]]] = (
            _read_journal(journal) if journal is not None else {}
        )

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
            journaled = self._journaled.pop(key, None)
            if journaled is None:
                run = self._runs[key] = _Run(make, self.clock.now())
            else:  # made before a restart: the same origin and weights, so the same world
                origin, weights = journaled
                run = self._runs[key] = _Run(make, origin)
                for at, weight in weights:
                    run.advance(at)
                    run.weight = weight
        return run

    def _record(self, key: _Key, run: _Run) -> None:
        """Append the run's new weight to the journal (best effort: a rehearsal)."""
        if self._journal is None:
            return
        line = {"key": list(key), "origin": run.origin.isoformat(), "t": run.now}
        line["weight"] = run.weight
        with contextlib.suppress(OSError), self._journal.open("a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")

    def _advance(self, run: _Run) -> None:
        run.advance((self.clock.now() - run.origin).total_seconds())

    # --- TrafficRouter ----------------------------------------------------------------

    def apply(self, rt: route.Route) -> ports.AppliedRoute:
        namespace = rt.metadata.namespace or "default"
        canary = next((t for t in rt.spec.traffic if t.tag == "canary"), None)
        with self._lock:
            if canary is not None:
                key = (namespace, rt.spec.service, canary.revision_name)
                run = self._run(*key)
                self._advance(run)
                share = 100 * requests.canary_share(
                    canary.percent, rt.spec.header_routes, rt.spec.mirrors
                )
                if run.weight != share:
                    run.weight = share
                    self._record(key, run)
            return self.router.apply(rt)

    def remove(self, namespace: str, name: str) -> None:
        self.router.remove(namespace, name)

    # --- MetricProvider ---------------------------------------------------------------

    def measure(
        self, metric: policyspec.Metric, ctx: measurement.MeasureContext
    ) -> measurement.Measurement:
        with self._lock:
            run = self._run(ctx.namespace, ctx.service, ctx.canary)
            self._advance(run)
            # The world of a canary outlives its release: a retried release reads
            # from its own start (or its last retry), as the local provider does.
            since = ctx.measured_until or ctx.fresh_since or ctx.release_started_at
            if since is not None and since < run.origin:
                since = run.origin  # a world made after a restart starts at its creation
            return readings.read(
                metric,
                run.world(),
                origin=run.origin,
                measured_until=since,
                slower_than=ctx.slower_than,
                not_before=ctx.fresh_since,
            )

    def canary_failed(self, namespace: str, service: str, canary: str) -> int:
        """Failed requests the canary served so far (ground truth)."""
        with self._lock:
            run = self._run(namespace, service, canary)
            self._advance(run)
            return run.world().canary_failed


def _read_journal(path: pathlib.Path) -> dict[_Key, tuple[datetime, list[tuple[float, float]]]]:
    """The runs a journal holds (a torn last line, from a kill mid-write, is skipped)."""
    runs: dict[_Key, tuple[datetime, list[tuple[float, float]]]] = {}
    with contextlib.suppress(FileNotFoundError):
        for text in path.read_text(encoding="utf-8").splitlines():
            try:
                line = json.loads(text)
                key = (str(line["key"][0]), str(line["key"][1]), str(line["key"][2]))
                origin = datetime.fromisoformat(line["origin"])
                entry = runs.setdefault(key, (origin, []))
                entry[1].append((float(line["t"]), float(line["weight"])))
            except (ValueError, KeyError, TypeError, IndexError):
                continue
    return runs


def make(
    clock: clocks.Clock,
    scenario: str,
    *,
    rps: float = 10.0,
    scrape_delay: float = 10.0,
    journal: pathlib.Path | None = None,
) -> ports.Platform:
    """The rehearsal platform for one scenario name (`good`, `bad-5pct`, …); with a
    `journal`, its simulated traffic continues across controller restarts."""
    traffic = SimTraffic(
        clock, scenarios.get(scenario), rps=rps, scrape_delay=scrape_delay, journal=journal
    )
    return ports.Platform(
        name="sim",
        runtime=memory.MemoryRuntime(clock),
        router=traffic,
        metrics=traffic,
        events=memory.MemoryEvents(),
        metrics_may_block=False,  # simulated readings: pure CPU, measured inline
    )
