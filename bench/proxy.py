"""Data-plane benchmark: the local proxy beside HAProxy and beside calling a revision
directly, in the same run, with the same load generator and the same upstreams.

Two upstreams, each a small aiohttp app (a 13-byte `200 OK` body) in its own process,
stand for a stable and a canary revision (`hello-00001`, `hello-00002`). Paths:

- **direct**: the load generator calls the stable upstream;
- **haproxy**: HAProxy (the Debian package, `haproxy -db` in the foreground, started
  and stopped by its PID, its config in a temporary dir) splits 90/10 between the two
  upstreams with weighted random (`balance random(1)`), one thread (our proxy is one
  process), keep-alive to the upstreams (`http-reuse always`), and does the work our
  proxy does per request: `X-Forwarded-For` appended, `Rollout-Revision` set to the
  server that answered;
- **proxy**: the real proxy process (`ensure_proxy` on a temporary state dir) with one
  route splitting 90/10 the same way (the proxy forwards only to revisions of its
  state dir, so the benchmark writes the upstreams' run files, as the local runtime
  does for a revision);
- **proxy+rules** (when the proxy takes them: `--features auto` tries, and skips the
  path when the admin API answers that `headerRoutes`/`mirrors` are unknown fields;
  `on` fails instead, `off` never tries): the same split plus `FEATURE_RULES` — two
  header routes that the benchmark's requests do not match (every request is checked
  against them) and a mirror copying 10% of the requests to the canary.

Every path gets the same requests (`REQUEST_HEADERS`: a cookie and an Accept header)
from `rollout.platforms.local.loadgen` in this process, over keep-alive connections.
Per round, each path in turn, the order rotated from round to round (drift in the
machine's load hits every path alike):

- **closed loop**: `--concurrency` connections sending back to back for `--duration`
  seconds → the most requests a second each path sustains, and its latency;
- **open loop**: `--rps` requests a second for `--duration` seconds → latency at a
  fixed, moderate rate; "added" is a path's figure minus direct's.

Reported: the median over `--rounds` rounds of each figure; the ratios between paths
(proxy/direct, proxy/haproxy, haproxy/direct, rules/proxy) and the latency added to
direct's, each the median of the per-round figures (paths of the same round ran
seconds apart); and the goals of issue 20 checked on them. Prints a table and one JSON line; writes
`bench/results/proxy.md` with the command, the machine and its load average (other
work on the machine skews results: run it when `uptime` shows a low load).

    .venv/bin/python bench/proxy.py [--duration 10] [--rounds 3] [--concurrency 8]
        [--rps 300] [--features auto|on|off] [--haproxy PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import pathlib
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from rollout.platforms.local import loadgen, processes
from rollout.platforms.local.proxy import client

ROOT = pathlib.Path(__file__).resolve().parents[1]
NAMESPACE, SERVICE = "bench", "hello"
STABLE, CANARY = "hello-00001", "hello-00002"
WEIGHTS = {STABLE: 90, CANARY: 10}
PATHS = ("direct", "haproxy", "proxy", "proxy+rules")
OPEN_PATHS = ("direct", "haproxy", "proxy")  # the latency goal is about the plain split
REQUEST_HEADERS = {"Accept": "*/*", "Cookie": "session=0123456789abcdef; theme=dark"}
#: What the proxy+rules route adds to the split: the Route's `headerRoutes` and
#: `mirrors` (rollout.api.matching) as the admin API takes them.
FEATURE_RULES: dict[str, Any] = {
    "headerRoutes": [
        {
            "name": "beta-testers",
            "match": [
                {"header": "X-Beta", "exact": "on"},
                {"cookie": "canary", "regex": "always|yes"},
            ],
            "revisionName": CANARY,
        },
        {
            "name": "mobile",
            "match": [{"header": "User-Agent", "prefix": "rollout-mobile/"}],
            "revisionName": CANARY,
        },
    ],
    "mirrors": [{"name": "shadow", "percent": 10, "revisionName": CANARY}],
}
GOALS = {
    "proxy/direct rps": (">=", 0.6),
    "proxy/haproxy rps": (">=", 0.5),
    "proxy added p99 ms": ("<=", 1.0),
    "rules cost": ("<=", 0.15),
}


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


def _stop(proc: subprocess.Popen[Any]) -> None:
    """Stop one process we started, by its PID."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def haproxy_config(
    *, port: int, servers: dict[str, int], weights: dict[str, int], socket: str | None = None
) -> str:
    """HAProxy's config for the benchmark: the same weighted split, the same per-request
    work (X-Forwarded-For, Rollout-Revision), keep-alive both ways, one thread; with
    `socket`, its runtime API on that Unix socket."""
    lines = [
        "global",
        "    nbthread 1",
        "    maxconn 4096",
        *([f"    stats socket {socket} mode 600 level admin"] if socket else []),
        "defaults",
        "    mode http",
        "    timeout connect 5s",
        "    timeout client 30s",
        "    timeout server 30s",
        "    option http-keep-alive",
        "    http-reuse always",
        "frontend bench",
        f"    bind 127.0.0.1:{port}",
        "    option forwardfor",
        f"    default_backend {SERVICE}",
        f"backend {SERVICE}",
        "    balance random(1)",
        "    http-response set-header Rollout-Revision %[srv_name]",
    ]
    lines += [
        f"    server {name} 127.0.0.1:{upstream} weight {weights[name]}"
        for name, upstream in servers.items()
    ]
    return "\n".join(lines) + "\n"


def _start_haproxy(
    binary: str, tmp: pathlib.Path, servers: dict[str, int]
) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    config = tmp / "haproxy.cfg"
    socket_path = str(tmp / "haproxy.sock")
    config.write_text(
        haproxy_config(port=port, servers=servers, weights=WEIGHTS, socket=socket_path)
    )
    check = subprocess.run([binary, "-c", "-q", "-f", str(config)], capture_output=True)
    if check.returncode != 0:
        raise RuntimeError(f"haproxy rejects its config: {check.stderr.decode().strip()}")
    proc = subprocess.Popen(
        [binary, "-db", "-f", str(config)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"haproxy exited with code {proc.returncode} at start")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return proc, f"http://127.0.0.1:{port}"
        time.sleep(0.05)
    _stop(proc)
    raise RuntimeError("haproxy did not listen within 10 s")


def haproxy_command(socket_path: str, command: str) -> str:
    """One command to HAProxy's runtime API; its answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(socket_path)
        sock.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode().strip()


def runtime_weights(socket_path: str, url: str) -> dict[str, Any]:
    """Move HAProxy's split from 90/10 to 50/50 through its runtime API (no reload, no
    dropped connection), as a controller would drive it, and see the traffic follow."""
    began = time.monotonic()
    answers = [
        haproxy_command(socket_path, f"set weight {SERVICE}/{revision} 50")
        for revision in (STABLE, CANARY)
    ]
    took = time.monotonic() - began
    shown = haproxy_command(socket_path, f"get weight {SERVICE}/{CANARY}")
    result = asyncio.run(
        loadgen.run_open(url + "/", rps=500, duration=2.0, headers=REQUEST_HEADERS)
    )
    served = sum(result.by_revision.values()) or 1
    return {
        "commandMs": took * 1000,
        "answers": answers,
        "canaryWeight": shown,
        "canaryShare": result.by_revision.get(CANARY, 0) / served,
        "requests": result.done,
        "failed": result.failed,
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _measure(
    url: str, mode: str, args: argparse.Namespace, pid: int | None = None
) -> dict[str, Any]:
    """One measurement; with `pid`, also that process's CPU time per request (µs)."""
    cpu_before = cpu_seconds(pid) if pid else 0.0
    if mode == "closed":
        result = asyncio.run(
            loadgen.run_closed(
                url + "/",
                concurrency=args.concurrency,
                duration=args.duration,
                headers=REQUEST_HEADERS,
            )
        )
    else:
        result = asyncio.run(
            loadgen.run_open(
                url + "/", rps=args.rps, duration=args.duration, headers=REQUEST_HEADERS
            )
        )
    cpu = cpu_seconds(pid) - cpu_before if pid else 0.0
    failed = result.failed + result.codes["4xx"]
    if failed:
        raise RuntimeError(f"{failed} failed requests to {url} ({mode} loop): {result.as_json()}")
    return {
        "cpuUs": cpu / max(result.done, 1) * 1e6,
        "rps": result.rps,
        "p50": result.latency["p50"],
        "p99": result.latency["p99"],
        "requests": result.done,
        "lagP99": result.lag_p99,
    }


def _write_run_file(state_dir: pathlib.Path, revision: str, pid: int, url: str) -> None:
    """What the local runtime writes for a revision of bench/hello."""
    start = processes.proc_start(pid)
    if start is None:
        raise RuntimeError("the upstream exited")
    path = state_dir / "run" / f"{NAMESPACE}.{revision}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = processes.RunRecord(
        pid=pid, port=int(url.rsplit(":", 1)[1]), started_at="bench", proc_start=start
    )
    processes.write_run_file(path, record)


def _put_rules(proxy: client.ProxyClient, targets: list[client.RouteTarget]) -> str | None:
    """A second service with the split plus `FEATURE_RULES`; its URL, or None when the
    proxy does not know the fields."""
    body = {"port": None, "targets": [t.as_json() for t in targets], **FEATURE_RULES}
    try:
        answer = proxy._call("PUT", f"/v1/routes/{NAMESPACE}/{SERVICE}-rules", body)
    except client.ProxyError as exc:
        if exc.status == 400 and "unknown field" in str(exc):
            return None
        raise
    return str(client.Route.from_json(answer).url)


def run(args: argparse.Namespace) -> dict[str, Any]:
    upstreams = [_start_upstream(), _start_upstream()]
    urls = {STABLE: upstreams[0][1], CANARY: upstreams[1][1]}
    haproxy: subprocess.Popen[bytes] | None = None
    runtime: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        state_dir = pathlib.Path(tmp) / "state"
        try:
            for (proc, url), revision in zip(upstreams, urls, strict=True):
                _write_run_file(state_dir, revision, proc.pid, url)
            proxy = client.ensure_proxy(state_dir)
            targets = [client.RouteTarget(r, u, WEIGHTS[r]) for r, u in urls.items()]
            route = proxy.put_route(NAMESPACE, SERVICE, port=None, targets=targets)
            haproxy, haproxy_url = _start_haproxy(
                args.haproxy,
                pathlib.Path(tmp),
                {r: int(u.rsplit(":", 1)[1]) for r, u in urls.items()},
            )
            paths = {"direct": urls[STABLE], "haproxy": haproxy_url, "proxy": route.url}
            # Whose CPU a path's figure counts: the data plane's (direct: the upstream's).
            pids = {"direct": upstreams[0][0].pid, "haproxy": haproxy.pid}
            pids["proxy"] = pids["proxy+rules"] = proxy.pid or 0
            if args.features != "off":
                rules_url = _put_rules(proxy, targets)
                if rules_url is None and args.features == "on":
                    raise RuntimeError("the proxy does not take headerRoutes/mirrors")
                if rules_url is not None:
                    paths["proxy+rules"] = rules_url
            for url in paths.values():  # warm up: connections, caches
                _measure(url, "open", argparse.Namespace(**{**vars(args), "duration": 1.0}))
            raw: dict[str, dict[str, list[dict[str, Any]]]] = {}
            for i in range(args.rounds):
                for mode in ("closed", "open"):
                    names = [
                        p for p in PATHS if p in paths and (mode == "closed" or p in OPEN_PATHS)
                    ]
                    shift = i % len(names)
                    for path in names[shift:] + names[:shift]:
                        figures = _measure(paths[path], mode, args, pids[path])
                        raw.setdefault(mode, {}).setdefault(path, []).append(figures)
                        print(
                            f"round {i + 1} {mode:6} {path:11} {figures['rps']:8.0f} req/s"
                            f"  p50 {figures['p50'] * 1000:6.2f} ms"
                            f"  p99 {figures['p99'] * 1000:6.2f} ms"
                            f"  cpu {figures['cpuUs']:6.1f} µs/req",
                            file=sys.stderr,
                            flush=True,
                        )
            runtime = runtime_weights(str(pathlib.Path(tmp) / "haproxy.sock"), haproxy_url)
        finally:
            if haproxy is not None:
                _stop(haproxy)
            client.stop_proxy(state_dir)
            for proc, _ in upstreams:
                _stop(proc)
    summary = summarize(raw)
    summary["haproxyRuntimeApi"] = runtime
    summary["proxyEventLoop"] = _event_loop()
    return summary


def _event_loop() -> str:
    """The proxy's event loop (it runs on this interpreter: uvloop when installed)."""
    try:
        import uvloop  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return "asyncio"
    return f"uvloop {uvloop.__version__}"


def _median(rounds: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in rounds))


def summarize(raw: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    """Medians per path; the ratios between paths and the added latency, each the
    median over rounds of that round's figure (two paths measured minutes apart in
    different rounds are never compared: the machine's load moves between rounds);
    the goals (pure)."""
    summary: dict[str, Any] = {}
    for mode, by_path in raw.items():
        sides: dict[str, Any] = {
            path: {key: _median(rounds, key) for key in ("rps", "p50", "p99", "requests", "cpuUs")}
            for path, rounds in by_path.items()
        }
        pairs = [("proxy", "direct"), ("haproxy", "direct"), ("proxy", "haproxy")]
        pairs += [("proxy+rules", "proxy")]
        sides["ratio"] = {
            f"{a}/{b}": {
                k: statistics.median(
                    x[k] / y[k] for x, y in zip(by_path[a], by_path[b], strict=True)
                )
                for k in ("rps", "p50", "p99", "cpuUs")
            }
            for a, b in pairs
            if a in by_path and b in by_path
        }
        sides["addedMs"] = {
            path: {
                k: statistics.median(
                    (x[k] - y[k]) * 1000
                    for x, y in zip(by_path[path], by_path["direct"], strict=True)
                )
                for k in ("p50", "p99")
            }
            for path in by_path
            if path != "direct"
        }
        summary[mode] = sides
    closed, opened = summary["closed"]["ratio"], summary["open"]["addedMs"]
    figures = {
        "proxy/direct rps": closed["proxy/direct"]["rps"],
        "proxy/haproxy rps": closed["proxy/haproxy"]["rps"],
        "proxy added p99 ms": opened["proxy"]["p99"],
    }
    if "proxy+rules/proxy" in closed:
        figures["rules cost"] = 1 - closed["proxy+rules/proxy"]["rps"]
    summary["goals"] = {
        name: {
            "figure": figure,
            "goal": f"{GOALS[name][0]} {GOALS[name][1]}",
            "met": figure >= GOALS[name][1] if GOALS[name][0] == ">=" else figure <= GOALS[name][1],
        }
        for name, figure in figures.items()
    }
    return summary


def table(summary: dict[str, Any], args: argparse.Namespace) -> str:
    rows = [["load", "path", "req/s", "p50 ms", "p99 ms", "cpu µs/req"]]
    labels = {
        "closed": f"closed, {args.concurrency} conns",
        "open": f"open, {args.rps:.0f} req/s",
    }
    for mode in ("closed", "open"):
        sides = summary[mode]
        for path in PATHS:
            if path not in sides:
                continue
            s = sides[path]
            added = sides["addedMs"].get(path)
            rows.append(
                [
                    labels[mode],
                    path,
                    f"{s['rps']:.0f}",
                    f"{s['p50'] * 1000:.2f}" + (f" ({added['p50']:+.2f})" if added else ""),
                    f"{s['p99'] * 1000:.2f}" + (f" ({added['p99']:+.2f})" if added else ""),
                    f"{s['cpuUs']:.0f}",
                ]
            )
        for pair, r in sides["ratio"].items():
            rows.append(
                [
                    labels[mode],
                    pair,
                    f"{r['rps']:.2f}×",
                    f"{r['p50']:.2f}×",
                    f"{r['p99']:.2f}×",
                    f"{r['cpuUs']:.2f}×",
                ]
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def goals_lines(summary: dict[str, Any]) -> str:
    out = []
    for name, g in summary["goals"].items():
        out.append(
            f"- {name}: {g['figure']:.2f} (goal {g['goal']}): {'met' if g['met'] else 'NOT met'}"
        )
    if "rules cost" not in summary["goals"]:
        out.append("- rules cost: not measured (this proxy does not take headerRoutes/mirrors)")
    return "\n".join(out)


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8, help="closed-loop connections")
    parser.add_argument("--rps", type=float, default=300.0, help="open-loop rate")
    parser.add_argument(
        "--features",
        choices=("auto", "on", "off"),
        default="auto",
        help="the proxy+rules path: when the proxy takes it (auto), always (on), never (off)",
    )
    parser.add_argument("--haproxy", default=shutil.which("haproxy") or "/usr/sbin/haproxy")
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
    text = table(summary, args)
    print(text)
    print(goals_lines(summary))
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
    haproxy_version = subprocess.run(
        [args.haproxy, "-v"], capture_output=True, text=True
    ).stdout.split("\n")[0]
    args.out.write_text(
        REPORT.format(
            date=datetime.date.today(),
            command=command,
            machine=machine,
            minutes=(time.monotonic() - began) / 60,
            load_before=load_before,
            load_after=load_after,
            haproxy=haproxy_version.split(" - ")[0],
            rounds=args.rounds,
            duration=args.duration,
            concurrency=args.concurrency,
            rps=args.rps,
            table=text,
            goals=goals_lines(summary),
            loop=summary["proxyEventLoop"],
            runtime_ms=summary["haproxyRuntimeApi"]["commandMs"],
            canary_weight=summary["haproxyRuntimeApi"]["canaryWeight"],
            canary_share=summary["haproxyRuntimeApi"]["canaryShare"],
            runtime_requests=summary["haproxyRuntimeApi"]["requests"],
            runtime_failed=summary["haproxyRuntimeApi"]["failed"],
            json=json.dumps({"benchmark": "proxy", "results": summary}),
            cpus=os.cpu_count(),
        )
    )


REPORT = """# Data plane: the local proxy beside HAProxy and beside calling the revision directly

Generated {date} by `{command}`
on {machine}; {haproxy}; the proxy on {loop}; in {minutes:.1f} minutes.
Load average (1 / 5 / 15 min) before the run: {load_before}; after: {load_after}.

Same run, same two upstreams (aiohttp apps, each in its own process, answering a
13-byte body: the stable and the canary revision), same load generator
(`rollout.platforms.local.loadgen`, in the benchmark process, keep-alive connections,
the same request headers on every path). **direct** calls the stable upstream;
**haproxy** is HAProxy (one thread, keep-alive to the upstreams, `X-Forwarded-For`
and `Rollout-Revision` set) and **proxy** the real proxy process, both splitting
90/10 between the two upstreams by weighted random; **proxy+rules** adds two header
routes the requests do not match and a 10% mirror to the canary (only when the proxy
takes them). Each figure is the median of {rounds} rounds of {duration:.0f} s; the
paths take turns within a round, the order rotated from round to round. Closed loop:
{concurrency} connections back to back (the most each path sustains). Open loop:
{rps:.0f} requests a second, latency from each request's due time to the end of its
body. Ratios (the `a/b` rows) and the latency added to direct's (in brackets) are
the medians of each round's own figure, paths of a round being seconds apart. `cpu
µs/req` is the CPU time (user + system) of the path's data-plane process per request
— the proxy's, HAProxy's; for direct, the upstream's — the figure least moved by
other work on the machine.

```
{table}
```

Goals of issue 20, as ratios of this run:

{goals}

HAProxy's runtime API, as a controller would drive it (after the measurements): `set
weight` of both servers to 50 over its stats socket took {runtime_ms:.1f} ms, no reload;
the canary's weight then read {canary_weight!r}, and it served {canary_share:.0%} of
{runtime_requests} requests sent at 500 req/s ({runtime_failed} failed).

Where the proxy's time goes (py-spy on the proxy process under the closed loop, in
the session that made this table): before, a third of its CPU was aiohttp's client
(ClientSession request and response objects, the connector, timers), a sixth its
server side (request parsing, response objects), a quarter the event loop and the
socket syscalls, 3% the stats and metrics, 3% the header copies. Now the forwarding
path uses `upstream.Pool` (one Protocol per keep-alive connection, the answer parsed in
one pass) and, with uvloop, about 80% of the proxy's CPU is the event loop and the two
socket writes and reads per request; our Python (pick, headers, stats, metrics,
parsing the answer) is under a fifth.

On {cpus} cores the load generator, the data plane and the upstreams share the CPUs
(a Python load generator and upstreams, so direct is bounded by them, not by the
network stack): the ratios are the meaningful figures, absolute req/s move with the
machine's load.

```json
{json}
```
"""


if __name__ == "__main__":
    main()
