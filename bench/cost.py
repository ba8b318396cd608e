"""Cost benchmark (issue 17): the replica-seconds a release costs, before and after
retired revisions scale down and the canary is sized to its weight.

The real controller and reconcilers, run synchronously with a fake clock on the
rehearsal platform (`sim`: the memory runtime, which logs every replica count it is
asked for, and simulated traffic of scenario `good`). A service of 10 replicas
(`spec.scaling.minReplicas: 10`) gets a new revision every `--every` (1 h), each released
under `policies/canary-standard.yaml`; new replicas are ready `--ready-after` (10 s)
after they are asked for. A release cycle runs from one release's start to the next
one's; per cycle: the replica-seconds of every revision of the service, split into the
release itself (start → Succeeded) and the rest of the cycle, and the overhead above
the 10 replicas that serve. Two cycles are reported: the first (one retired revision:
the marginal cost of one release) and the last of `--releases` (12) — with the
default `revisionHistoryLimit` (10), the steady state of revision garbage collection.

Variants — the committed policy, changed in these two fields only:
- `before`: retired revisions held until collected (`scaleDownDelay: 87600h`, longer
  than any run: nothing scales down), the canary at the stable's size;
- `scale-down`: `scaleDownDelay: 30s` (the default), the canary at full size;
- `match-weight`: held, `canaryScale: {matchWeight: true, minReplicas: 1}`;
- `after`: both.

    .venv/bin/python bench/cost.py [--releases 12] [--every 1h] [--ready-after 10] [--out PATH]

Prints a table and one JSON line; writes `bench/results/cost.md`.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import pathlib
import platform
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from rollout import clock as clocks
from rollout import logs
from rollout.api import durations, loader, policyspec, release, rolloutpolicy, service
from rollout.controller import manager
from rollout.platforms import memory, sim
from rollout.store import memory as memory_store

ROOT = pathlib.Path(__file__).resolve().parents[1]
REPLICAS = 10
HELD = timedelta(hours=87600)  # nothing retired scales down within a run
VARIANTS: dict[str, tuple[timedelta, policyspec.CanaryScale | None]] = {
    "before": (HELD, None),
    "scale-down": (timedelta(seconds=30), None),
    "match-weight": (HELD, policyspec.CanaryScale(match_weight=True, min_replicas=1)),
    "after": (timedelta(seconds=30), policyspec.CanaryScale(match_weight=True, min_replicas=1)),
}


def _policy(delay: timedelta, scale: policyspec.CanaryScale | None) -> rolloutpolicy.RolloutPolicy:
    parsed = loader.load_paths([ROOT / "policies" / "canary-standard.yaml"])
    assert not parsed.diagnostics, parsed.diagnostics
    committed = parsed.documents[0].resource
    assert isinstance(committed, rolloutpolicy.RolloutPolicy)
    spec = committed.spec.model_copy(update={"scale_down_delay": delay, "canary_scale": scale})
    return committed.model_copy(update={"spec": spec})


def _service(version: int) -> service.Service:
    return service.Service.model_validate(
        {
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "policy": "canary-standard",
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "app",
                                "command": ["app"],
                                "env": [{"name": "VERSION", "value": f"v{version}"}],
                            }
                        ]
                    }
                },
                "scaling": {"minReplicas": REPLICAS},
            },
        }
    )


class Run:
    """One variant: a controller on the sim platform, driven by a fake clock."""

    def __init__(self, policy: rolloutpolicy.RolloutPolicy, *, rps: float, ready_after: float):
        self.clock = clocks.FakeClock()
        self.store = memory_store.MemoryStore(now=self.clock.now)
        self.platform = sim.make(self.clock, "good", rps=rps)
        runtime = self.platform.runtime
        assert isinstance(runtime, memory.MemoryRuntime)
        runtime.ready_after = timedelta(seconds=ready_after)
        self.runtime = runtime
        self.controller = manager.Controller(self.store, self.platform, self.clock)
        self.store.create(policy)

    def advance(self, seconds: float) -> None:
        """Move the clock, running every reconcile that falls due on the way, in order."""
        target = self.clock.now() + timedelta(seconds=seconds)
        self.controller.run_until_idle(limit=1_000_000)
        while True:
            due = self.controller.next_due()
            if due is None or due > target:
                self.clock.set(target)
                self.controller.run_until_idle(limit=1_000_000)
                return
            if due > self.clock.now():
                self.clock.set(due)
            self.controller.run_until_idle(limit=1_000_000)

    def until(self, done: Callable[[], bool], *, within: float, what: str) -> None:
        waited = 0.0
        while not done():
            if waited >= within:
                raise RuntimeError(f"{what}: not within {within} s of clock time")
            self.advance(5)
            waited += 5

    def deploy(self, version: int) -> None:
        new = _service(version)
        try:
            current = self.store.get("Service", "default", "web")
        except Exception:
            self.store.create(new)
            return
        self.store.update(new.model_copy(update={"metadata": current.metadata}))

    def release(self, version: int) -> release.Release | None:
        try:
            found = self.store.get("Release", "default", f"web-{version:05d}")
        except Exception:
            return None
        return found if isinstance(found, release.Release) else None

    def stable(self) -> str | None:
        svc = self.store.get("Service", "default", "web")
        assert isinstance(svc, service.Service)
        return svc.status.stable_revision

    def replica_seconds(self, since: datetime.datetime, until: datetime.datetime) -> float:
        return sum(self.runtime.replica_seconds(since, until).values())


def run(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Every release of one variant; the first and the last cycles measured."""
    delay, scale = VARIANTS[name]
    r = Run(_policy(delay, scale), rps=args.rps, ready_after=args.ready_after)
    every = durations.parse_duration(args.every).total_seconds()
    r.deploy(1)
    r.until(lambda: r.stable() == "web-00001", within=600, what="the first deploy")
    r.advance(every)
    cycles = []
    for version in range(2, args.releases + 2):
        start = r.clock.now()
        r.deploy(version)
        r.until(
            lambda v=version: (
                (rel := r.release(v)) is not None and rel.status.phase in release.TERMINAL_PHASES
            ),
            within=every,
            what=f"release {version}",
        )
        rel = r.release(version)
        assert rel is not None
        assert rel.status.finished_at is not None
        end = rel.status.finished_at
        r.advance(every - (r.clock.now() - start).total_seconds())
        stop = r.clock.now()
        held = sum(1 for w in r.runtime.workloads.values() if w.replicas)
        cycles.append(
            {
                "release": version,
                "outcome": rel.status.phase.value,
                "releaseSeconds": (end - start).total_seconds(),
                "releaseReplicaSeconds": r.replica_seconds(start, end),
                "restReplicaSeconds": r.replica_seconds(end, stop),
                "cycleReplicaSeconds": r.replica_seconds(start, stop),
                "overheadReplicaSeconds": r.replica_seconds(start, stop) - REPLICAS * every,
                "revisionsRunningAtEnd": held,
            }
        )
    return {"variant": name, "first": cycles[0], "steady": cycles[-1], "cycles": cycles}


def _table(results: list[dict[str, Any]]) -> str:
    head = (
        f"{'variant':14s}{'cycle':>8s}{'outcome':>11s}{'release s':>11s}"
        f"{'release r·s':>13s}{'rest r·s':>12s}{'cycle r·s':>12s}{'overhead r·s':>14s}"
        f"{'running':>9s}"
    )
    lines = [head]
    for result in results:
        for which in ("first", "steady"):
            c = result[which]
            lines.append(
                f"{result['variant']:14s}{which:>8s}{c['outcome']:>11s}"
                f"{c['releaseSeconds']:>11.0f}{c['releaseReplicaSeconds']:>13,.0f}"
                f"{c['restReplicaSeconds']:>12,.0f}{c['cycleReplicaSeconds']:>12,.0f}"
                f"{c['overheadReplicaSeconds']:>14,.0f}{c['revisionsRunningAtEnd']:>9d}"
            )
    return "\n".join(lines)


def _ratios(results: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """before / after, per cycle: the whole cycle, the release itself, the overhead."""
    by = {r["variant"]: r for r in results}
    out: dict[str, dict[str, float]] = {}
    for which in ("first", "steady"):
        before, after = by["before"][which], by["after"][which]
        out[which] = {
            key: before[key] / after[key]
            for key in ("cycleReplicaSeconds", "releaseReplicaSeconds", "overheadReplicaSeconds")
            if after[key]
        }
    return out


def _report(
    args: argparse.Namespace,
    results: list[dict[str, Any]],
    table: str,
    ratios: dict[str, Any],
    took: float,
) -> str:
    load = os.getloadavg()
    steady, first = ratios["steady"], ratios["first"]
    by = {r["variant"]: r for r in results}
    slower = by["after"]["steady"]["releaseSeconds"] - by["before"]["steady"]["releaseSeconds"]
    return f"""# Cost: replica-seconds per release, before and after scale-down (issue 17)

Generated {datetime.date.today().isoformat()} by `.venv/bin/python bench/cost.py --releases \
{args.releases} --every {args.every} --ready-after {args.ready_after:g} --rps {args.rps:g}` on \
{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, in {took:.1f} s
(load average {load[0]:.2f}).

A 10-replica service (`spec.scaling.minReplicas: 10`) releases a new revision every
{args.every} under `policies/canary-standard.yaml` (1% → 5% → 25% → 50% → 100%), on the
rehearsal platform with simulated traffic of scenario `good` ({args.rps:g} requests/s)
and a fake clock: the real controller and reconcilers; new replicas are ready
{args.ready_after:g} s after they are asked for. A cycle runs from one release's start
to the next one's; r·s = replica-seconds of every revision of the service, from the
replica counts the runtime was asked for; overhead = the cycle's r·s above the
10 replicas that serve. `first`: the first release (one retired revision: the
marginal cost of a release); `steady`: release {args.releases + 1}, when revision
garbage collection (`revisionHistoryLimit: 10`) is in its steady state. `running`:
revisions with replicas at the end of the cycle.

- `before`: retired revisions held until collected, the canary at the stable's size
  (what the controller did before issue 17);
- `scale-down`: retired revisions to 0 after `scaleDownDelay: 30s`;
- `match-weight`: `canaryScale: {{matchWeight: true, minReplicas: 1}}` (1, 1, 3, 5
  replicas at 1, 5, 25, 50%, 10 before it takes 100%);
- `after`: both.

```
{table}
```

**before / after** — in the steady state, **{steady["cycleReplicaSeconds"]:.1f}×** the
replica-seconds per release cycle (the overhead above the serving replicas:
{steady["overheadReplicaSeconds"]:.0f}×; the release itself, start → Succeeded:
{steady["releaseReplicaSeconds"]:.1f}×). For the first release:
{first["cycleReplicaSeconds"]:.2f}× per cycle (overhead {first["overheadReplicaSeconds"]:.1f}×,
the release itself {first["releaseReplicaSeconds"]:.2f}×). The price: each scale-up of
the matched canary waits for its new replicas, so the release took {slower:.0f} s longer
({by["after"]["steady"]["releaseSeconds"]:.0f} s against
{by["before"]["steady"]["releaseSeconds"]:.0f} s).

Before, every retired revision kept its 10 replicas until collected: in the steady
state ten of them run beside the stable, so a cycle costs about eleven times the
serving replicas, whatever the cadence. After, a retired revision stops 30 s after
its release ended, and the canary runs 1–5 replicas until its promotion, so the
overhead of a release is the promotion's overlap (the canary at 10 replicas before it
takes all traffic, the old stable until 30 s after) and a few replicas during the
steps. `matchWeight` alone saves during the release; scale-down alone saves the
hours after it — the two together give the figure.
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=12)
    parser.add_argument("--every", default="1h")
    parser.add_argument("--ready-after", type=float, default=10.0)
    parser.add_argument("--rps", type=float, default=50.0)
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "bench/results/cost.md")
    args = parser.parse_args()
    logs.configure(json_lines=True, level=logging.WARNING)
    started = time.perf_counter()
    results = []
    for name in VARIANTS:
        t = time.perf_counter()
        results.append(run(name, args))
        print(f"{name:14s} {time.perf_counter() - t:6.1f}s", file=sys.stderr)
    took = time.perf_counter() - started
    table = _table(results)
    ratios = _ratios(results)
    print(table)
    print(json.dumps(ratios))
    print(json.dumps({"benchmark": "cost", "ratios": ratios, "results": results}))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(_report(args, results, table, ratios, took), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
