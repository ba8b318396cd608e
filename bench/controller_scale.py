"""Controller-scale benchmark: how many concurrent releases one controller process
keeps on schedule, on the memory and the SQLite store, and how many store writes a
release step costs.

Per run (`--runs memory:5000,sqlite:1000`): a controller with `--workers` threads on
the rehearsal platform (`sim`, scenario `good`) and a real clock; N services are
deployed (v1) and rolled out; then every service gets a v2, spread evenly over
`--stagger` seconds, and each v2 is released under the bench policy
(setWeight 10 → pause → setWeight 50 → pause → 100%, pauses of `--pause`). The run
ends when every release has ended.

Reported per run:
- on schedule: releases whose every reconcile ran within 1 s of when it was due
  (a step's end, or the event that made it due); lateness p50 / p99 / max over all
  release reconciles;
- writes per step: store writes of Release status, Route spec and Route status,
  divided by the steps the releases went through (the issue's budget: 3), and all
  writes of phase 2 (revisions, services, releases created) per step;
- wall time, reconciles per second.

    .venv/bin/python bench/controller_scale.py [--runs memory:5000,sqlite:1000] [--out PATH]

Prints a table and one JSON line; writes `bench/results/controller_scale.md`.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import gc
import json
import logging
import os
import pathlib
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

from rollout import clock as clocks
from rollout import logs
from rollout.api import documents, kinds, release, route, service
from rollout.controller import manager
from rollout.platforms import sim
from rollout.reconcilers import base
from rollout.store import memory, port, sqlite

ROOT = pathlib.Path(__file__).resolve().parents[1]
ON_TIME = 1.0  # seconds


class CountingStore:
    """A Store that counts writes by (kind, operation)."""

    def __init__(self, inner: port.Store) -> None:
        self.inner = inner
        self._quiet = inner if isinstance(inner, port.QuietStatusWrites) else None
        self.writes: collections.Counter[tuple[str, str]] = collections.Counter()
        self._lock = threading.Lock()

    def _count(self, kind: str, op: str) -> None:
        with self._lock:
            self.writes[(kind, op)] += 1

    def get(self, kind: str, namespace: str, name: str) -> kinds.Resource:
        return self.inner.get(kind, namespace, name)

    def list(
        self, kind: str, namespace: str | None = None, *, labels: Mapping[str, str] | None = None
    ) -> port.Listed:
        return self.inner.list(kind, namespace, labels=labels)

    def create(self, obj: kinds.Resource) -> kinds.Resource:
        self._count(obj.kind, "create")
        return self.inner.create(obj)

    def update(self, obj: kinds.Resource) -> kinds.Resource:
        self._count(obj.kind, "spec")
        return self.inner.update(obj)

    def update_status(self, obj: kinds.Resource) -> kinds.Resource:
        self._count(obj.kind, "status")
        return self.inner.update_status(obj)

    def update_status_version(self, obj: kinds.Resource) -> str:
        """A status write that returns only the resourceVersion (the controller's cache
        uses it when the store has it: `port.QuietStatusWrites`)."""
        self._count(obj.kind, "status")
        assert self._quiet is not None, "the memory and SQLite stores write quietly"
        return self._quiet.update_status_version(obj)

    def delete(self, kind: str, namespace: str, name: str) -> None:
        self._count(kind, "delete")
        self.inner.delete(kind, namespace, name)

    def watch(self, kind: str, *, since: str, timeout: float) -> Iterator[port.WatchEvent]:
        return self.inner.watch(kind, since=since, timeout=timeout)

    def close(self) -> None:
        self.inner.close()


class TimedController(manager.Controller):
    """Records how late each Release reconcile ran, per release."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lateness: dict[str, list[float]] = collections.defaultdict(list)
        self.reconciles = 0
        self.by_kind: collections.Counter[str] = collections.Counter()
        self.recording = False

    def process(self, key: base.Key) -> None:
        now = self.clock.now()
        due = self.queue.due_of(key) or now
        if self.recording:
            self.reconciles += 1
            self.by_kind[key.kind] += 1
            if key.kind == "Release":
                self.lateness[key.name].append(max((now - due).total_seconds(), 0.0))
        super().process(key)


def _policy(pause: str) -> kinds.Resource:
    data = {
        "apiVersion": "rollout.dev/v1alpha1",
        "kind": "RolloutPolicy",
        "metadata": {"name": "bench"},
        "spec": {
            "steps": [
                {"setWeight": 10},
                {"pause": {"duration": pause}},
                {"setWeight": 50},
                {"pause": {"duration": pause}},
            ]
        },
    }
    obj, problems = documents.validate_data(data)
    assert obj is not None, problems
    return obj


def _service(i: int, version: str) -> service.Service:
    data = {
        "apiVersion": "rollout.dev/v1alpha1",
        "kind": "Service",
        "metadata": {"name": f"svc-{i:05d}"},
        "spec": {
            "policy": "bench",
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "command": ["app"],
                            "env": [{"name": "V", "value": version}],
                        }
                    ]
                }
            },
        },
    }
    obj, problems = documents.validate_data(data)
    assert isinstance(obj, service.Service), problems
    return obj


def _shared(controller: manager.Controller, kind: str) -> list[kinds.Resource]:
    """Every object of `kind`, read-only, from the controller's cache. The harness runs in
    the controller's process: copying 5,000 releases from the store every second would
    take it about 0.6 CPU-second a second under the same GIL (a CLI is another process)."""
    assert controller.cache is not None
    return controller.cache.peek_list(kind)


def rolled_out(controller: manager.Controller) -> int:
    """How many services' first rollout is over, writes included: the stable revision
    is set, the route has applied its latest spec and the service has copied the split
    the route applied.

    The stable revision alone is not enough: the Service reconciler sets it in the
    reconcile that writes the route's new spec, before the Route reconciler applies it.
    On a saturated controller thousands of those route status writes (and the service
    status writes that copy them) were still queued when recording began, and were
    counted as release writes (3.17 core writes a step at 5,000, 2,230 such route
    status writes in an overloaded run of 5,000)."""
    routes = {r.metadata.name: r for r in _shared(controller, "Route")}
    done = 0
    for svc in _shared(controller, "Service"):
        rt = routes.get(svc.metadata.name)
        if (
            isinstance(svc, service.Service)
            and isinstance(rt, route.Route)
            and svc.status.stable_revision is not None
            and rt.status.observed_generation == rt.metadata.generation
            and svc.status.observed_generation == svc.metadata.generation
            and svc.status.traffic == rt.status.traffic
        ):
            done += 1
    return done


def _wait(predicate: Any, *, timeout: float, every: float = 1.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False


def _conflicts(controller: manager.Controller) -> int:
    """Reconciles that ended in a Conflict (whole run, v1 included)."""
    return int(
        sum(
            sample.value
            for metric in controller.metrics.errors.collect()
            for sample in metric.samples
            if sample.name.endswith("_total") and sample.labels.get("error") == "Conflict"
        )
    )


def _load() -> float:
    """The machine's 1-minute load average (other processes share the CPUs)."""
    return os.getloadavg()[0]


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def run(backend: str, n: int, *, workers: int, stagger: float, pause: str) -> dict[str, Any]:
    gc.collect()  # the previous run's garbage, now rather than during this run (seconds)
    with tempfile.TemporaryDirectory() as tmp:
        clock = clocks.WallClock()
        inner: port.Store = (
            memory.MemoryStore()
            if backend == "memory"
            else sqlite.SqliteStore(pathlib.Path(tmp) / "state.db")
        )
        store = CountingStore(inner)
        controller = TimedController(store, sim.make(clock, "good"), clock, workers=workers)
        stop = threading.Event()
        thread = threading.Thread(target=controller.run, args=(stop,))
        thread.start()
        try:
            store.create(_policy(pause))
            for i in range(n):
                store.create(_service(i, "v1"))

            if not _wait(lambda: rolled_out(controller) == n, timeout=60 + n / 20):
                raise RuntimeError("v1 never rolled out everywhere")
            store.writes.clear()
            controller.recording = True
            started, cpu_started, load_started = time.monotonic(), time.process_time(), _load()
            for i in range(n):  # v2 everywhere, spread over `stagger` seconds
                target = started + stagger * i / n
                delay = target - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                current = store.get("Service", "default", f"svc-{i:05d}")
                new = _service(i, "v2")
                store.update(new.model_copy(update={"metadata": current.metadata}))

            def finished() -> bool:
                items = _shared(controller, "Release")
                done = [r for r in items if r.status.phase in release.TERMINAL_PHASES]  # type: ignore[union-attr]
                return len(done) == n

            ended = _wait(finished, timeout=stagger + 600)
            wall, cpu = time.monotonic() - started, time.process_time() - cpu_started
            load_ended = _load()
        finally:
            stop.set()
            thread.join()
        rels = [r for r in store.list("Release").items if isinstance(r, release.Release)]
        store.close()
    succeeded = sum(1 for r in rels if r.status.phase is release.Phase.SUCCEEDED)
    steps = sum(len(r.spec.policy.expanded_steps()) + 1 for r in rels)  # + the promotion
    lateness = [x for values in controller.lateness.values() for x in values]
    on_time = sum(1 for values in controller.lateness.values() if max(values) <= ON_TIME)
    core = (
        store.writes[("Release", "status")]
        + store.writes[("Route", "spec")]
        + store.writes[("Route", "status")]
    )
    return {
        "store": backend,
        "releases": n,
        "workers": workers,
        "ended": ended,
        "succeeded": succeeded,
        "onSchedule": on_time,
        "onScheduleShare": on_time / n if n else 0.0,
        "latenessP50": _percentile(lateness, 0.5),
        "latenessP99": _percentile(lateness, 0.99),
        "latenessMax": max(lateness, default=0.0),
        "steps": steps,
        "coreWritesPerStep": core / steps if steps else 0.0,
        "allWritesPerStep": sum(store.writes.values()) / steps if steps else 0.0,
        "writes": {f"{k}.{op}": v for (k, op), v in sorted(store.writes.items())},
        "wallS": wall,
        "reconcilesPerS": controller.reconciles / wall if wall else 0.0,
        "cpuS": cpu,  # this process, all threads, during the releases
        "reconcilesPerCpuS": controller.reconciles / cpu if cpu else 0.0,
        "loadAvg1m": [load_started, load_ended],  # the machine's, at start and end
        "reconcilesByKind": dict(sorted(controller.by_kind.items())),
        "conflicts": _conflicts(controller),  # reconciles retried after a Conflict
    }


HEADERS = (
    "store", "releases", "on schedule", "lateness p50 s", "p99 s", "max s",
    "core writes/step", "all writes/step", "succeeded", "wall s", "reconciles/s",
    "reconciles/CPU-s", "load 1m",
)  # fmt: skip


def _row(r: dict[str, Any]) -> list[str]:
    return [
        r["store"],
        str(r["releases"]),
        f"{r['onSchedule']} ({100 * r['onScheduleShare']:.1f}%)",
        f"{r['latenessP50']:.3f}",
        f"{r['latenessP99']:.3f}",
        f"{r['latenessMax']:.2f}",
        f"{r['coreWritesPerStep']:.2f}",
        f"{r['allWritesPerStep']:.2f}",
        str(r["succeeded"]),
        f"{r['wallS']:.0f}",
        f"{r['reconcilesPerS']:.0f}",
        f"{r['reconcilesPerCpuS']:.0f}",
        "→".join(f"{x:.1f}" for x in r["loadAvg1m"]),
    ]


def _table(results: list[dict[str, Any]]) -> str:
    rows = [list(HEADERS)] + [_row(r) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADERS))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", default="memory:1000,memory:5000,sqlite:500,sqlite:1000")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--stagger", type=float, default=60.0, help="seconds to start all v2s")
    parser.add_argument("--pause", default="1m", help="each pause step of the bench policy")
    parser.add_argument(
        "--out", type=pathlib.Path, default=ROOT / "bench/results/controller_scale.md"
    )
    args = parser.parse_args()
    # Warnings only: the run measures the controller, not a console renderer (at INFO,
    # every event is a line — about 20,000 a minute at 5,000 releases).
    logs.configure(json_lines=True, level=logging.WARNING)
    began = time.monotonic()
    results = []
    for spec in args.runs.split(","):
        backend, _, count = spec.partition(":")
        result = run(
            backend, int(count), workers=args.workers, stagger=args.stagger, pause=args.pause
        )
        results.append(result)
        print(_table([result]).splitlines()[-1], flush=True)
    table = _table(results)
    print(table)
    print(json.dumps({"benchmark": "controller_scale", "results": results}))
    command = f".venv/bin/python bench/controller_scale.py {' '.join(sys.argv[1:])}".strip()
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    writes = "\n".join(
        f"- {r['store']} × {r['releases']}: "
        + ", ".join(f"{k} {v}" for k, v in r["writes"].items())
        for r in results
    )
    args.out.write_text(
        f"""# Controller scale: concurrent releases in one controller process

Generated {datetime.date.today()} by `{command}` on {machine}, in
{(time.monotonic() - began) / 60:.1f} minutes.

Each run: N services on the rehearsal platform (`sim`, scenario `good`), one
controller process with {args.workers} worker threads and a real clock; every
service gets a new revision, spread over {args.stagger:.0f} s, released under a
policy of setWeight 10 → pause {args.pause} → setWeight 50 → pause {args.pause} →
100%. "On schedule": every reconcile of the release ran within {ON_TIME:.0f} s of
when it was due. "Core writes/step": Release status + Route spec + Route status
writes per release step (budget: 3); "all writes/step" adds the revisions, services
and releases created and their status.

```
{table}
```

Writes by kind and operation during the releases:

{writes}
"""
    )


if __name__ == "__main__":
    main()
