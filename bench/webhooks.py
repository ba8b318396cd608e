"""Webhook benchmark: one hanging webhook endpoint must not hold up other releases.

Three runs of the same workload, on the rehearsal platform (`sim`, scenario `good`) with
the memory store, a real clock and real HTTP: N services rolled out, then each given a
v2 (spread over `--stagger` seconds), each release under a policy with a
`confirm-promotion` gate and an `event` hook, both answered 200 by a gate server on
127.0.0.1 (setWeight 10 → pause → setWeight 50 → pause → gate → 100%).

- `baseline`: every hook answers at once;
- `hanging`: the same, but service 0's policy points its gate at an endpoint that holds
  every request for `--hang` seconds (60 s: the longest timeout a hook may have);
- `shared`: a tenth of the services (20 of 200) share that hanging endpoint — more
  hanging calls than the controller has webhook threads for one endpoint.

Reported per run, over the other releases: on schedule (every reconcile within 1 s
of when it was due), lateness p50 / p99 / max of their reconciles, how long each
waited at its own gate (WaitingForConfirmation to Confirmed), releases succeeded,
webhook calls answered. The issue's bar: the hanging run's p99 lateness
within 1 s of the baseline's (`p99 delta`), and every other release promoted.

    .venv/bin/python bench/webhooks.py [--releases 200] [--hang 60] [--out PATH]

Prints a table and one JSON line; writes `bench/results/webhooks.md`.
"""

from __future__ import annotations

import argparse
import datetime
import http.server
import json
import logging
import pathlib
import platform
import sys
import threading
import time
from typing import Any

import controller_scale as scale  # bench/controller_scale.py: the timed controller

from rollout import clock as clocks
from rollout import logs
from rollout.api import documents, kinds, release
from rollout.controller import hooking
from rollout.platforms import sim
from rollout.store import memory

ROOT = pathlib.Path(__file__).resolve().parents[1]


class Gate:
    """A webhook endpoint on 127.0.0.1 answering 200 — after `hang` seconds (or when
    closed) if it hangs. Counts the calls."""

    def __init__(self, hang: float = 0.0) -> None:
        self.count = 0
        closing = threading.Event()
        lock = threading.Lock()
        gate = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with lock:
                    gate.count += 1
                if hang:
                    closing.wait(hang)
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the controller gave up at its deadline

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._closing = closing
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,))
        self._thread.start()

    def close(self) -> None:
        self._closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


def _policy(name: str, gate_url: str, log_url: str, timeout: str) -> kinds.Resource:
    data = {
        "apiVersion": "rollout.dev/v1alpha1",
        "kind": "RolloutPolicy",
        "metadata": {"name": name},
        "spec": {
            "steps": [
                {"setWeight": 10},
                {"pause": {"duration": "10s"}},
                {"setWeight": 50},
                {"pause": {"duration": "10s"}},
            ],
            "webhooks": [
                {
                    "name": "approve",
                    "type": "confirm-promotion",
                    "url": f"{gate_url}/approve",
                    "timeout": timeout,
                    "retries": 0,
                },
                {"name": "log", "type": "event", "url": f"{log_url}/log", "timeout": "5s"},
            ],
        },
    }
    obj, problems = documents.validate_data(data)
    assert obj is not None, problems
    return obj


def _service(i: int, version: str, policy: str) -> kinds.Resource:
    svc = scale._service(i, version)
    return svc.model_copy(update={"spec": svc.spec.model_copy(update={"policy": policy})})


def _gate_waits(rel: release.Release) -> list[float]:
    """Seconds from each WaitingForConfirmation to the Confirmed that ended it."""
    waits, since = [], None
    for h in rel.status.history:
        if h.event == "WaitingForConfirmation":
            since = h.at
        elif h.event == "Confirmed" and since is not None:
            waits.append((h.at - since).total_seconds())
            since = None
    return waits


def run(
    n: int, *, hang: float, stagger: float, workers: int, hung: int = 1, label: str = ""
) -> dict[str, Any]:
    fast, slow = Gate(), Gate(hang=hang)
    clock = clocks.WallClock()
    store = memory.MemoryStore()
    controller = scale.TimedController(store, sim.make(clock, "good"), clock, workers=workers)
    stop = threading.Event()
    thread = threading.Thread(target=controller.run, args=(stop,))
    thread.start()
    try:
        store.create(_policy("gated", fast.url, fast.url, "10s"))
        store.create(_policy("hung", slow.url if hang else fast.url, fast.url, "60s"))
        policies = ["hung" if i < hung else "gated" for i in range(n)]
        for i in range(n):
            store.create(_service(i, "v1", policies[i]))
        if not scale._wait(lambda: scale.rolled_out(controller) == n, timeout=60 + n / 20):
            raise RuntimeError("v1 never rolled out everywhere")
        controller.recording = True
        started = time.monotonic()
        for i in range(n):
            delay = started + stagger * i / n - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            current = store.get("Service", "default", f"svc-{i:05d}")
            new = _service(i, "v2", policies[i])
            store.update(new.model_copy(update={"metadata": current.metadata}))

        hung_names = {f"svc-{i:05d}-00002" for i in range(hung)}

        def others_done() -> bool:
            items = scale._shared(controller, "Release")
            done = [
                r
                for r in items
                if r.metadata.name not in hung_names and r.status.phase in release.TERMINAL_PHASES  # type: ignore[union-attr]
            ]
            return len(done) == n - hung

        ended = scale._wait(others_done, timeout=stagger + 300, every=0.5)
        wall = time.monotonic() - started
        first = store.get("Release", "default", "svc-00000-00002")
    finally:
        stop.set()
        thread.join()
        fast.close()
        slow.close()
    rels = [r for r in store.list("Release").items if isinstance(r, release.Release)]
    others = {r.metadata.name for r in rels} - hung_names
    waits = [w for r in rels if r.metadata.name in others for w in _gate_waits(r)]
    lateness = [x for name, xs in controller.lateness.items() if name in others for x in xs]
    on_time = sum(
        1 for name in others if max(controller.lateness.get(name, [0.0])) <= scale.ON_TIME
    )
    succeeded = sum(
        1 for r in rels if r.metadata.name in others and r.status.phase is release.Phase.SUCCEEDED
    )
    assert isinstance(first, release.Release)
    return {
        "run": label or ("hanging" if hang else "baseline"),
        "releases": n,
        "hungReleases": hung if hang else 0,
        "gateWaitP50": scale._percentile(waits, 0.5),
        "gateWaitP99": scale._percentile(waits, 0.99),
        "ended": ended,
        "succeeded": succeeded,
        "onSchedule": on_time,
        "latenessP50": scale._percentile(lateness, 0.5),
        "latenessP99": scale._percentile(lateness, 0.99),
        "latenessMax": max(lateness, default=0.0),
        "gateCalls": fast.count + slow.count,
        "hungCalls": slow.count,
        "hungPhase": first.status.phase.value,
        "hungMessage": first.status.message,
        "wallS": wall,
    }


HEADERS = (
    "run", "releases on the hanging endpoint", "other releases", "succeeded", "on schedule",
    "lateness p50 s", "p99 s", "max s", "gate wait p50 s", "p99 s", "webhook calls",
    "calls to the hanging endpoint", "release 0", "wall s",
)  # fmt: skip


def _row(r: dict[str, Any]) -> list[str]:
    return [
        r["run"],
        str(r["hungReleases"]),
        str(r["releases"] - max(r["hungReleases"], 1)),
        str(r["succeeded"]),
        str(r["onSchedule"]),
        f"{r['latenessP50']:.3f}",
        f"{r['latenessP99']:.3f}",
        f"{r['latenessMax']:.2f}",
        f"{r['gateWaitP50']:.2f}",
        f"{r['gateWaitP99']:.2f}",
        str(r["gateCalls"]),
        str(r["hungCalls"]),
        r["hungPhase"],
        f"{r['wallS']:.0f}",
    ]


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(_row(r)) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=200)
    parser.add_argument("--hang", type=float, default=60.0)
    parser.add_argument("--stagger", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--out", default=str(ROOT / "bench/results/webhooks.md"))
    args = parser.parse_args()
    logs.configure(json_lines=True, level=logging.WARNING)
    shared = max(args.releases // 10, 1)
    rows = [
        run(args.releases, hang=0.0, stagger=args.stagger, workers=args.workers),
        run(args.releases, hang=args.hang, stagger=args.stagger, workers=args.workers),
        run(
            args.releases,
            hang=args.hang,
            stagger=args.stagger,
            workers=args.workers,
            hung=shared,
            label="shared",
        ),
    ]
    base, hanging, many = rows
    delta = hanging["latenessP99"] - base["latenessP99"]
    shared_delta = many["latenessP99"] - base["latenessP99"]
    verdict = {
        "p99DeltaS": delta,
        "sharedP99DeltaS": shared_delta,
        "withinOneSecond": delta <= 1.0 and shared_delta <= 1.0,
        "gateWaitP99DeltaS": many["gateWaitP99"] - base["gateWaitP99"],
        "allOthersPromoted": all(
            r["succeeded"] == r["releases"] - max(r["hungReleases"], 1) for r in rows
        ),
    }
    text = table(rows)
    print(text)
    print(
        f"p99 lateness, hanging − baseline: {delta:+.3f} s; shared − baseline:"
        f" {shared_delta:+.3f} s ({'within' if verdict['withinOneSecond'] else 'NOT within'}"
        f" 1 s); gate wait p99, shared − baseline: {verdict['gateWaitP99DeltaS']:+.2f} s"
    )
    print(json.dumps({"runs": rows, **verdict}))
    out = pathlib.Path(args.out)
    out.write_text(
        "# Webhooks: one hanging endpoint and everyone else\n\n"
        f"`bench/webhooks.py --releases {args.releases} --hang {args.hang:g}` on"
        f" {platform.machine()}, Python {sys.version.split()[0]},"
        f" {datetime.date.today().isoformat()}.\n\n"
        f"{__doc__.split(chr(10) + chr(10), 1)[1].split('    .venv')[0].strip()}\n\n"
        f"{text}\n\n"
        f"p99 lateness of the other releases, hanging − baseline: **{delta:+.3f} s**,"
        f" shared − baseline: **{shared_delta:+.3f} s** (the bar: within 1 s); the other"
        f" releases' wait at their own gate, p99, shared − baseline:"
        f" **{verdict['gateWaitP99DeltaS']:+.2f} s** (calls to one endpoint hold at most"
        f" {hooking.LANE_LIMIT} of the {hooking.MAX_THREADS} webhook threads); every other"
        f" release promoted: **{verdict['allOthersPromoted']}**.\n\n"
        f"```json\n{json.dumps({'runs': rows, **verdict})}\n```\n"
    )


if __name__ == "__main__":
    main()
