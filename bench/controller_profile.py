"""Controller profile: the CPU one release costs, measured deterministically.

The real controller and reconcilers, run synchronously (`Controller.run_until_idle`)
with a fake clock on the rehearsal platform (`sim`, scenario `good`): N services are
deployed (v1); then every service gets a v2, spread over `--stagger` seconds of clock
time, and each is released under the bench policy of `bench/controller_scale.py`
(setWeight 10 → pause → setWeight 50 → pause → 100%). The clock moves in `--tick`
steps; after each, every reconcile due runs, each followed by one look at every watch.
The same inputs give the same reconciles in the same order, so the instruction count
of the release phase repeats exactly — unlike CPU-seconds on a shared machine.

Prints, for the release phase only: reconciles and store writes per release by kind,
CPU milliseconds per release, and with `--callgrind` the instructions per release
(the script runs itself under `valgrind --tool=callgrind`, collecting only inside the
release phase, which runs through `operator.call` for that purpose).

    .venv/bin/python bench/controller_profile.py [--releases 60] [--store memory|sqlite]
    .venv/bin/python bench/controller_profile.py --callgrind          # instructions
    /tmp/pyspy/bin/py-spy record -o /tmp/p.svg -- .venv/bin/python bench/controller_profile.py

Threads, real time and load are left out on purpose (`bench/controller_scale.py`
measures those): this is for comparing the cost of the work itself, change by change.
"""

from __future__ import annotations

import argparse
import collections
import gc
import json
import logging
import operator
import pathlib
import re
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import controller_scale  # the bench policy, services and counting store (next to this file)

from rollout import clock as clocks
from rollout import logs
from rollout.api import release
from rollout.controller import manager
from rollout.platforms import sim
from rollout.reconcilers import base
from rollout.store import memory, port, sqlite

_TOGGLE = "_operator_call"  # the C function of operator.call: callgrind collects inside


class CountingController(manager.Controller):
    """Counts reconciles by kind while `recording`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.by_kind: collections.Counter[str] = collections.Counter()
        self.recording = False

    def process(self, key: base.Key) -> None:
        if self.recording:
            self.by_kind[key.kind] += 1
        super().process(key)


def _tick(controller: manager.Controller, clock: clocks.FakeClock, tick: timedelta) -> None:
    clock.advance(tick)
    controller.run_until_idle(limit=1_000_000)


def _ended(controller: manager.Controller) -> int:
    assert controller.cache is not None
    return sum(
        1
        for r in controller.cache.peek_list("Release")
        if isinstance(r, release.Release) and r.status.phase in release.TERMINAL_PHASES
    )


def profile(
    n: int, *, backend: str, tick: float, stagger: float, pause: str, tmp: pathlib.Path
) -> dict[str, Any]:
    clock = clocks.FakeClock()
    inner: port.Store = (
        memory.MemoryStore(now=clock.now)
        if backend == "memory"
        else sqlite.SqliteStore(tmp / "state.db", now=clock.now)
    )
    store = controller_scale.CountingStore(inner)
    controller = CountingController(store, sim.make(clock, "good"), clock)
    step = timedelta(seconds=tick)
    store.create(controller_scale._policy(pause))
    for i in range(n):
        store.create(controller_scale._service(i, "v1"))
    controller.run_until_idle(limit=1_000_000)
    while controller_scale.rolled_out(controller) < n:
        _tick(controller, clock, step)

    def releases() -> float:
        """The release phase: v2 everywhere, spread over `stagger`, until all ended."""
        started = time.process_time()
        begin = clock.now()
        for i in range(n):
            while clock.now() - begin < timedelta(seconds=stagger * i / n):
                _tick(controller, clock, step)
            current = store.get("Service", "default", f"svc-{i:05d}")
            new = controller_scale._service(i, "v2")
            store.update(new.model_copy(update={"metadata": current.metadata}))
        while True:
            for _ in range(int(5 / tick)):  # look every 5 s of clock time
                _tick(controller, clock, step)
            if _ended(controller) == n:
                return time.process_time() - started

    store.writes.clear()
    controller.recording = True
    thresholds = gc.get_threshold()
    gc.set_threshold(*manager.GC_THRESHOLDS)  # as `Controller.run` does
    try:
        cpu = operator.call(releases)
    finally:
        gc.set_threshold(*thresholds)
        controller.recording = False
    store.close()
    return {
        "releases": n,
        "store": backend,
        "cpuMsPerRelease": 1000 * cpu / n,
        "reconcilesPerRelease": sum(controller.by_kind.values()) / n,
        "reconcilesByKindPerRelease": {k: v / n for k, v in sorted(controller.by_kind.items())},
        "writesPerRelease": {f"{k}.{op}": v / n for (k, op), v in sorted(store.writes.items())},
    }


def _callgrind(argv: list[str], n: int) -> None:
    """Run this script under callgrind, collecting the release phase only."""
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "callgrind.out"
        command = [
            "valgrind",
            "--tool=callgrind",
            "--collect-atstart=no",
            f"--toggle-collect={_TOGGLE}",
            f"--callgrind-out-file={out}",
            sys.executable,
            __file__,
            *argv,
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        print(done.stdout, end="")
        text = out.read_text(errors="replace")
    match = re.search(r"^(?:summary|totals): (\d+)", text, re.MULTILINE)
    assert match is not None, "no totals in the callgrind output"
    instructions = int(match.group(1))
    print(json.dumps({"instructions": instructions, "instructionsPerRelease": instructions / n}))
    print(f"instructions per release: {instructions / n / 1e6:.2f} M")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--releases", type=int, default=60)
    parser.add_argument("--store", choices=("memory", "sqlite"), default="memory")
    parser.add_argument("--tick", type=float, default=0.25, help="clock seconds per step")
    parser.add_argument("--stagger", type=float, default=60.0, help="clock seconds for all v2s")
    parser.add_argument("--pause", default="1m", help="each pause step of the bench policy")
    parser.add_argument("--callgrind", action="store_true", help="count instructions")
    args = parser.parse_args()
    logs.configure(json_lines=True, level=logging.WARNING)  # as the scale bench: no console
    if args.callgrind:
        _callgrind([a for a in sys.argv[1:] if a != "--callgrind"], args.releases)
        return
    with tempfile.TemporaryDirectory() as tmp:
        result = profile(
            args.releases,
            backend=args.store,
            tick=args.tick,
            stagger=args.stagger,
            pause=args.pause,
            tmp=pathlib.Path(tmp),
        )
    print(
        f"{result['releases']} releases on {result['store']}: "
        f"{result['cpuMsPerRelease']:.1f} ms CPU and "
        f"{result['reconcilesPerRelease']:.1f} reconciles per release ("
        + ", ".join(f"{k} {v:.2f}" for k, v in result["reconcilesByKindPerRelease"].items())
        + "); writes per release: "
        + ", ".join(f"{k} {v:.2f}" for k, v in result["writesPerRelease"].items())
    )
    print(json.dumps({"benchmark": "controller_profile", **result}))


if __name__ == "__main__":
    main()
