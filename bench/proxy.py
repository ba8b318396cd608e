"""Data-plane benchmark: the local proxy versus calling a revision directly, in the
same run, with the same load generator and the same upstream.

The upstream is a small aiohttp app (a 13-byte `200 OK` body) in its own process;
the proxy is the real proxy process (`ensure_proxy` on a temporary state dir) with one
route sending 100% to that upstream (the proxy forwards only to revisions of its
state dir, so the benchmark writes the upstream's run file, as the local runtime
does for a revision); the load generator is `rollout.platforms.local.
loadgen` in this process. Per round, in alternating order (direct, proxy, then
proxy, direct, …, so drift in the machine's load hits both sides alike):

- **closed loop**: `--concurrency` connections sending back to back for `--duration`
  seconds → the most requests a second each path sustains, and its latency;
- **open loop**: `--rps` requests a second for `--duration` seconds → latency at a
  fixed, moderate rate; "added" is proxy minus direct.

Reported: the median over `--rounds` rounds of each figure, and the ratios
proxy/direct. Prints a table and one JSON line; writes `bench/results/proxy.md` with
the command, the machine and its load average (other work on the machine skews
results: run it when `uptime` shows a low load).

    .venv/bin/python bench/proxy.py [--duration 10] [--rounds 3] [--concurrency 8] [--rps 300]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from rollout.platforms.local import loadgen, processes
from rollout.platforms.local.proxy import client

ROOT = pathlib.Path(__file__).resolve().parents[1]


def serve_upstream() -> None:
    """The benchmark's upstream: print the port, then serve until killed."""
    from aiohttp import web

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello, world\n")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/", hello)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        print(port, flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def _start_upstream() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve-upstream"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the upstream prints its port when it listens
    if not line.strip():
        proc.kill()
        proc.wait()
        raise RuntimeError("the upstream did not start")
    return proc, f"http://127.0.0.1:{int(line)}"


def _measure(url: str, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    if mode == "closed":
        result = asyncio.run(
            loadgen.run_closed(url + "/", concurrency=args.concurrency, duration=args.duration)
        )
    else:
        result = asyncio.run(loadgen.run_open(url + "/", rps=args.rps, duration=args.duration))
    failed = result.failed + result.codes["4xx"]
    if failed:
        raise RuntimeError(f"{failed} failed requests to {url} ({mode} loop): {result.as_json()}")
    return {
        "rps": result.rps,
        "p50": result.latency["p50"],
        "p99": result.latency["p99"],
        "requests": result.done,
        "lagP99": result.lag_p99,
    }


def _write_run_file(state_dir: pathlib.Path, pid: int, url: str) -> None:
    """What the local runtime writes for revision bench/hello-00001."""
    start = processes.proc_start(pid)
    if start is None:
        raise RuntimeError("the upstream exited")
    path = state_dir / "run" / "bench.hello-00001.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = processes.RunRecord(
        pid=pid, port=int(url.rsplit(":", 1)[1]), started_at="bench", proc_start=start
    )
    processes.write_run_file(path, record)


def _median(rounds: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in rounds))


def run(args: argparse.Namespace) -> dict[str, Any]:
    upstream, direct_url = _start_upstream()
    with tempfile.TemporaryDirectory() as tmp:
        state_dir = pathlib.Path(tmp)
        try:
            _write_run_file(state_dir, upstream.pid, direct_url)
            proxy = client.ensure_proxy(state_dir)
            route = proxy.put_route(
                "bench",
                "hello",
                port=None,
                targets=[client.RouteTarget("hello-00001", direct_url, 100)],
            )
            paths = {"direct": direct_url, "proxy": route.url}
            for url in paths.values():  # warm up: connections, caches
                _measure(url, "open", argparse.Namespace(**{**vars(args), "duration": 1.0}))
            raw: dict[tuple[str, str], list[dict[str, Any]]] = {}
            for i in range(args.rounds):
                order = ["direct", "proxy"] if i % 2 == 0 else ["proxy", "direct"]
                for mode in ("closed", "open"):
                    for path in order:
                        figures = _measure(paths[path], mode, args)
                        raw.setdefault((mode, path), []).append(figures)
                        print(
                            f"round {i + 1} {mode:6} {path:6} {figures['rps']:8.0f} req/s"
                            f"  p50 {figures['p50'] * 1000:6.2f} ms"
                            f"  p99 {figures['p99'] * 1000:6.2f} ms",
                            file=sys.stderr,
                            flush=True,
                        )
        finally:
            client.stop_proxy(state_dir)
            upstream.terminate()
            upstream.wait(10)
    summary: dict[str, Any] = {}
    for (mode, path), rounds in raw.items():
        summary.setdefault(mode, {})[path] = {
            key: _median(rounds, key) for key in ("rps", "p50", "p99", "requests")
        }
    for sides in summary.values():
        d, p = sides["direct"], sides["proxy"]
        sides["ratio"] = {k: p[k] / d[k] for k in ("rps", "p50", "p99")}
        sides["addedMs"] = {k: (p[k] - d[k]) * 1000 for k in ("p50", "p99")}
    return summary


def _table(summary: dict[str, Any], args: argparse.Namespace) -> str:
    rows = [["load", "path", "req/s", "p50 ms", "p99 ms"]]
    labels = {
        "closed": f"closed, {args.concurrency} conns",
        "open": f"open, {args.rps:.0f} req/s",
    }
    for mode in ("closed", "open"):
        sides = summary[mode]
        for path in ("direct", "proxy"):
            s = sides[path]
            rows.append(
                [
                    labels[mode],
                    path,
                    f"{s['rps']:.0f}",
                    f"{s['p50'] * 1000:.2f}",
                    f"{s['p99'] * 1000:.2f}",
                ]
            )
        r, a = sides["ratio"], sides["addedMs"]
        rows.append(
            [
                labels[mode],
                "proxy/direct",
                f"{r['rps']:.2f}×",
                f"{r['p50']:.2f}× (+{a['p50']:.2f})",
                f"{r['p99']:.2f}× (+{a['p99']:.2f})",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows
    )


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8, help="closed-loop connections")
    parser.add_argument("--rps", type=float, default=300.0, help="open-loop rate")
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "bench/results/proxy.md")
    parser.add_argument("--serve-upstream", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_upstream:
        serve_upstream()
        return
    load_before = _load()
    began = time.monotonic()
    summary = run(args)
    load_after = _load()
    table = _table(summary, args)
    print(table)
    print(
        json.dumps(
            {
                "benchmark": "proxy",
                "results": summary,
                "loadAverage": {"before": load_before, "after": load_after},
            }
        )
    )
    command = f".venv/bin/python bench/proxy.py {' '.join(sys.argv[1:])}".strip()
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    closed, opened = summary["closed"], summary["open"]
    args.out.write_text(
        f"""# Data plane: the local proxy versus calling the revision directly

Generated {datetime.date.today()} by `{command}` on {machine}, in
{(time.monotonic() - began) / 60:.1f} minutes. Load average (1 / 5 / 15 min) before
the run: {load_before}; after: {load_after}.

Same run, same upstream (an aiohttp app in its own process answering a 13-byte body),
same load generator (`rollout.platforms.local.loadgen`, in the benchmark process); the
proxy is the real proxy process with one route sending 100% to that upstream. Each
figure is the median of {args.rounds} rounds of {args.duration:.0f} s; direct and
proxy alternate within a round. Closed loop: {args.concurrency} connections back to
back (the most each path sustains). Open loop: {args.rps:.0f} requests a second,
latency from each request's due time to the end of its body.

```
{table}
```

- Throughput through the proxy: {closed["ratio"]["rps"]:.2f}× direct
  ({closed["proxy"]["rps"]:.0f} vs {closed["direct"]["rps"]:.0f} req/s).
- Added latency at {args.rps:.0f} req/s: p50 +{opened["addedMs"]["p50"]:.2f} ms,
  p99 +{opened["addedMs"]["p99"]:.2f} ms.

On {os.cpu_count()} cores the load generator, the proxy and the upstream share the
CPUs (three Python processes), so the closed-loop figures are bounded by the machine,
not by the proxy alone: the ratio is the meaningful figure. The proxy spends its time
in aiohttp's request parsing and client pool (one pooled ClientSession, streaming
both bodies); it records stats and Prometheus metrics on every request.
"""
    )


if __name__ == "__main__":
    main()
