"""Chaos on the local platform: releases under real load while the controller, the
proxy and canary processes are SIGKILLed at random; what users and the release loop
lost.

Set-up, in a work dir of its own (kept at the end, with every log): a controller
(`rollout controller --platform local --metrics-addr off`), the benchmark's policy (10%
then 50% of traffic, each step a 30 s analysis with an errors-vs-stable sequential
comparison every 5 s, `minSamples` 20, `progressDeadline` 3m) and `--services`
services on fixed 127.0.0.1 ports running the demo app. A load process of its own
(`chaos_load.py`) sends `--rps` requests a second to every service, open loop with
keep-alive like `rollout load`, and records every answer: when it was sent and
answered, the status, the `Rollout-Revision` header and, for a failure, why (the demo
app's own `…: failed` 500s; the proxy's `rollout proxy: …` 502s with their reason;
refused, reset or timed out connections).

The run: `--releases` template changes (at least; dealt round-robin over the
services, one release at a time per service, 1–4 s apart), half of them canaries
failing 20% of requests (`ERROR_RATE: 0.2`); meanwhile `--kills` SIGKILLs, a third
each (shuffled) on the controller, the proxy and the canary process of a release in
flight, paced over the estimated remaining time of the releases (a controller runs
`--min-uptime` seconds before it is killed again). The benchmark plays
the controller's supervisor: a killed controller is started again after
`--restart-delay` seconds (the proxy and the revisions are the controller's to
restart). When all the kills are done before the releases, the releases simply finish;
when releases run out first, more are made until the kills are done. At the end the
load stops, the controller gets SIGTERM, and every process the run caused must be gone.

Reported (violations: target 0):
- **wrong final phase**: a bad canary not RolledBack, a good one not Succeeded, or a
  template change that started no release;
- **stuck past deadline**: a release not terminal by its creation + progressDeadline +
  slack (`--kill-slack` seconds per kill during it, plus the controller's downtime);
- **increase without evidence (observed)**: a history entry that raised the canary's
  weight or promoted it while the canary had served 0 requests (HTTP answers with its
  `Rollout-Revision`, counted by the load process) since the entry that set the weight
  it left — or since a resume; those with fewer than `minSamples` are shown beside it;
- **history evidence**: the `evidence` those entries carry names a gating metric whose
  latest reading was an Error, whose readings were mostly Inconclusive, or whose
  canary requests were below `minSamples` ("pending" while the history has none);
- **steps / backwards**: a step repeated or skipped, a step at a weight the policy does
  not give it, a canary weight going down outside a rollback;
- **data plane**: requests failed by the data plane — 502 "no revision … ready" / "…
  is not ready", 502 from a revision sent to after it was killed (and before its
  restart was noticed), other upstream 502s, connections refused after the service
  answered again following a proxy kill (or with no proxy kill at all), other
  connection errors;
- **releases not asked for**: a release whose canary is no template change of the
  benchmark's (two controllers fighting made such releases);
- **proxy never back**: a proxy kill after which a service was not served again
  before the load stopped;
- **controller exits**: a controller that ended without being killed, or did not stop
  within 60 s of SIGTERM;
- **orphans**: revision processes (found by the `CHAOS_RUN` marker in their env, and
  by the pids their run files named) or a proxy of the state dir alive after the
  controller's graceful stop.
Reported, not violations: the **proxy restart gap** per proxy kill — from the kill to
the first HTTP answer on each service (and, beside it, to the new proxy process
answering its admin `/healthz`); requests in that gap; requests in flight cut by a
proxy or a canary kill; the demo app's own 500s.

Print a table and one JSON line; `--write` replaces the local section of
`bench/results/chaos.md`. Default numbers are the issue's (5 services, 40 releases, 60
kills, 20 req/s); scale down for a trial, e.g.

    .venv/bin/python bench/chaos_local.py --services 1 --releases 2 --kills 3 --time-limit 3m

Every process started here is stopped by its pid (the load process and controllers by
this script; revisions and proxies by the controller's graceful stop, and by this
script when that fails — then reported as orphans).

Run by hand (it takes about ten minutes and both cores of a small machine; never from
the test suite, which tests its judges in `tests/unit/bench/`). It talks to rollout
only through the `rollout` command and the state dir's files (`chaos_common`), never
through its Python modules, so that what it measures is what a user gets. The driver
of releases and controllers is `chaos_driver`, the judges `chaos_checks` (pure); this
file is one run — set-up, kills, teardown, the report — read top to bottom, which is
why it is longer than our usual module.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import pathlib
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import chaos_checks as checks
import chaos_common as cc
import chaos_driver as driver

PROXY_MODULE = "rollout.platforms.local.proxy"
KINDS = ("controller", "proxy", "canary")
LOAD_SCRIPT = pathlib.Path(__file__).with_name("chaos_load.py")


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


# -- the run ----------------------------------------------------------------------------


class Run:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.work = pathlib.Path(args.workdir or tempfile.mkdtemp(prefix="rollout-chaos-local-"))
        self.state = self.work / "state"
        self.state.mkdir(parents=True, exist_ok=True)
        self.records_path = self.work / "load.jsonl"
        self.marker = f"chaos-{self.rng.getrandbits(40):010x}"
        self.policy = cc.Policy(step_s=args.step_seconds)
        self.services = [f"s{i + 1}" for i in range(args.services)]
        self.ports = dict(zip(self.services, _free_ports(len(self.services)), strict=True))
        self.controller = driver.Controller(
            [cc.ROLLOUT, "controller", "--platform", "local", "--metrics-addr", "off",
             "--state-dir", str(self.state)],
            self.work / "controller.log",
            args.restart_delay,
        )  # fmt: skip
        self.lane = driver.Lane(
            "local",
            self.state,
            self.controller,
            services=self.services,
            policy=self.policy,
            marker=self.marker,
            ports=self.ports,
            bad_share=args.bad_share,
        )
        self.planned = driver.plan(
            self.rng, lanes=[("local", self.services, args.bad_share)], releases=args.releases
        )
        self.driver = driver.Driver(
            [self.lane], self.planned, rng=self.rng, kill_slack=args.kill_slack,
            give_up=args.give_up,
        )  # fmt: skip
        kinds = [KINDS[i % 3] for i in range(args.kills)]
        self.rng.shuffle(kinds)
        self.kinds = kinds
        self.pacer = driver.Pacer(self.rng, kills=args.kills, low=args.min_gap, high=30.0)
        self.kills = self.driver.kills
        self.load: subprocess.Popen[bytes] | None = None
        self.seen_pids: dict[int, dict[str, Any]] = {}  # revision processes from run files
        self.proxies: dict[int, dict[str, Any]] = {}  # proxy processes from proxy.json
        self.began = time.time()
        self.deadline = time.monotonic() + args.time_limit
        self.timed_out = False
        self.load_ended = self.began
        self.notes: list[str] = []

    # -- set-up --------------------------------------------------------------------

    def set_up(self) -> None:
        self.controller.start()
        problem = self.lane.apply("policy", self.policy.yaml())
        for svc in self.services:
            problem = problem or self.lane.apply(
                f"{svc}-v1", self.lane.service_text(svc, "v1", False)
            )
        if problem:
            raise RuntimeError(f"apply failed: {problem}")
        deadline = time.monotonic() + 120
        waiting = set(self.services)
        while waiting:
            for svc in sorted(waiting):
                try:
                    url = f"http://127.0.0.1:{self.ports[svc]}/"
                    with urllib.request.urlopen(url, timeout=2) as resp:
                        if resp.status == 200:
                            waiting.discard(svc)
                except (urllib.error.URLError, OSError):
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"services {sorted(waiting)} not serving within 120 s")
            self.controller.tick()
            time.sleep(0.3)
        config = {
            "rps": self.args.rps,
            "out": str(self.records_path),
            "services": {s: f"http://127.0.0.1:{p}/" for s, p in self.ports.items()},
        }
        self.watch_files()
        (self.work / "load.json").write_text(json.dumps(config))
        with (self.work / "load.log").open("ab") as log:
            self.load = subprocess.Popen(
                [sys.executable, str(LOAD_SCRIPT), str(self.work / "load.json")],
                stdout=log,
                stderr=log,
            )

    # -- watching ------------------------------------------------------------------------

    def watch(self, stop: threading.Event) -> None:
        """The watcher thread: the state dir's process files every 0.1 s (the main loop
        blocks on CLI calls for a second at times)."""
        while not stop.wait(0.1):
            self.watch_files()

    def watch_files(self) -> None:
        """Remember every revision process and proxy the state dir names (for orphans
        and the proxy's restart time)."""
        now = time.time()
        for path in (self.state / "run").glob("*.json"):
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                pid = int(json.loads(path.read_text())["pid"])
                stat = cc.proc_stat(pid)
                if pid not in self.seen_pids and stat is not None:  # (gone already: no orphan)
                    self.seen_pids[pid] = {
                        "revision": path.stem.partition(".")[2],
                        "start": stat[1],
                        "first": now,
                    }
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            info = json.loads((self.state / "proxy.json").read_text())
            pid, admin = int(info["pid"]), str(info["admin"])
            stat = cc.proc_stat(pid)
            if pid not in self.proxies and stat is not None:
                self.proxies[pid] = {"start": stat[1], "first": now, "admin": admin,
                                     "healthy": None}  # fmt: skip
            entry = self.proxies.get(pid, {"healthy": 0})
            if entry["healthy"] is None and cc.alive(pid, entry["start"]):
                try:
                    with urllib.request.urlopen(admin + "/healthz", timeout=0.3):
                        entry["healthy"] = time.time()
                except urllib.error.HTTPError:
                    entry["healthy"] = time.time()  # it answers (a locked admin API, say)
                except (urllib.error.URLError, OSError):
                    pass

    # -- kills -------------------------------------------------------------------------------

    def kill_one(self) -> bool:
        """SIGKILL the next kind in the shuffled list, or the first other kind that has
        a target now; False when nothing can be killed now."""
        order = [self.kinds[0], *[k for k in KINDS if k != self.kinds[0]]]
        for kind in order:
            at = time.time()  # before the signal: a request sent after it may be refused
            record = getattr(self, f"_kill_{kind}")()
            if record is not None:
                self.kinds.remove(kind if kind in self.kinds else self.kinds[0])
                in_flight = [p.label for p in self.driver.in_flight()]
                record.update(kind=kind, t=at, inFlight=in_flight)
                self.kills.append(record)
                return True
        return False

    def _kill_controller(self) -> dict[str, Any] | None:
        if self.controller.uptime() < self.args.min_uptime:
            return None
        return {"pid": self.controller.kill()}

    def _kill_proxy(self) -> dict[str, Any] | None:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            pid = int(json.loads((self.state / "proxy.json").read_text())["pid"])
            argv = cc.cmdline(pid)
            if cc.alive(pid) and PROXY_MODULE in argv and str(self.state) in argv:
                os.kill(pid, signal.SIGKILL)
                return {"pid": pid}
        return None

    def _kill_canary(self) -> dict[str, Any] | None:
        """A live canary of a release that still has a stable to fall back to: read from
        `state.db` right before the signal (the lane's copy may be a second old, and a
        revision promoted meanwhile is its service's only one, not a canary)."""
        fresh = cc.peek(self.state, ("Release",))
        releases = (
            {r["metadata"]["name"]: r for r in fresh["Release"]}
            if fresh is not None
            else self.lane.releases
        )
        targets = []
        for cur in self.driver.in_flight():
            rel = releases.get(cur.release or "")
            if rel is None or rel["status"].get("phase") not in ("Progressing", "Paused"):
                continue
            canary = rel["spec"]["canaryRevision"]
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                run = self.state / "run" / f"{cc.NAMESPACE}.{canary}.json"
                pid = int(json.loads(run.read_text())["pid"])
                if cc.alive(pid) and cc.environ(pid).get("CHAOS_RUN") == self.marker:
                    targets.append((cur.service, canary, pid))
        if not targets:
            return None
        service, canary, pid = self.rng.choice(targets)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        return {"pid": pid, "service": service, "revision": canary}

    # -- the loop -------------------------------------------------------------------------------

    def loop(self) -> None:
        stop = threading.Event()
        watcher = threading.Thread(target=self.watch, args=(stop,), daemon=True)
        watcher.start()
        try:
            self._loop()
        finally:
            stop.set()
            watcher.join(5)

    def _loop(self) -> None:
        last_look = 0.0
        self.pacer.schedule(time.monotonic(), self.driver.remaining_s())
        while not self.driver.finished(more=self.pacer.left > 0):
            if time.monotonic() > self.deadline:
                self.timed_out = True
                self.notes.append(f"stopped by --time-limit {self.args.time_limit:.0f} s")
                break
            self.controller.tick()
            if time.monotonic() - last_look >= 1.0:
                self.driver.tick(more=self.pacer.left > 0)
                last_look = time.monotonic()
            if self.pacer.due(time.monotonic()) and self.driver.in_flight():
                if self.kill_one():
                    self.pacer.done(time.monotonic(), self.driver.remaining_s())
                else:
                    self.pacer.next_at = time.monotonic() + 1.0
            if self.load is not None and self.load.poll() is not None:
                raise RuntimeError(f"the load process exited: {cc.tail(self.work / 'load.log')}")
            time.sleep(0.2)

    def tear_down(self) -> dict[str, Any]:
        """Stop the load and the controller; what is left alive is an orphan (then killed)."""
        out: dict[str, Any] = {"controllerStop": "", "orphans": []}
        if self.load is not None and self.load.poll() is None:
            self.load.send_signal(signal.SIGTERM)
            try:
                self.load.wait(30)
            except subprocess.TimeoutExpired:
                self.load.kill()
                self.load.wait()
        self.load_ended = time.time()
        if not self.controller.running:
            # The last kill may have left it down: it must come back, adopt, then stop.
            self.controller.start()
        time.sleep(self.args.settle)
        self.watch_files()
        out["controllerStop"] = self.controller.stop(60.0)
        time.sleep(1.0)
        out["orphans"] = self.orphans()
        for orphan in out["orphans"]:
            cc.kill_tree(orphan["pid"])
        return out

    def orphans(self) -> list[dict[str, Any]]:
        found: dict[int, dict[str, Any]] = {}
        for pid, info in self.seen_pids.items():
            if cc.alive(pid, info["start"]):
                found[pid] = {"pid": pid, "what": f"revision {info['revision']} (run file)"}
        for pid, info in self.proxies.items():
            if cc.alive(pid, info["start"]):
                found[pid] = {"pid": pid, "what": "proxy (proxy.json)"}
        for pid in cc.all_pids():
            if pid in found or pid == os.getpid() or not cc.alive(pid):
                continue
            argv = cc.cmdline(pid)
            if PROXY_MODULE in argv and str(self.state) in argv:
                found[pid] = {"pid": pid, "what": "proxy (found in /proc)"}
            elif cc.environ(pid).get("CHAOS_RUN") == self.marker:
                revision = cc.environ(pid).get("ROLLOUT_REVISION", "?")
                found[pid] = {"pid": pid, "what": f"revision {revision} (found in /proc)"}
        return sorted(found.values(), key=lambda o: o["pid"])

    def cleanup(self) -> None:
        """Whatever happened: nothing this run started may outlive it."""
        if self.load is not None and self.load.poll() is None:
            self.load.kill()
            self.load.wait()
        if self.controller.running:
            self.controller.stop(30.0)
        for orphan in self.orphans():
            cc.kill_tree(orphan["pid"])


# -- analysis ---------------------------------------------------------------------------------


def read_records(path: pathlib.Path) -> list[list[Any]]:
    out = []
    with contextlib.suppress(OSError), path.open() as f:
        for line in f:
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
    return out


def analyse(run: Run, teardown: dict[str, Any]) -> dict[str, Any]:
    releases = cc.get_json(run.state, "releases") or list(run.lane.releases.values())
    by_name = {r["metadata"]["name"]: r for r in releases}
    records = read_records(run.records_path)
    end = time.time()
    findings: dict[str, list[str]] = collections.defaultdict(list)
    pending = False
    checked = []
    for item in run.planned:
        if item.applied_at is None:
            continue
        rel = by_name.get(item.release or "")
        if rel is None:
            what = item.phase or "no release"
            findings["phase"].append(f"{item.label}: {what} {item.apply_error}".strip())
            continue
        checked.append(rel)
        item.phase = rel["status"].get("phase")
        f = checks.check_release(rel, expected=item.expected, policy=run.policy)
        if item.phase in cc.TERMINAL:
            findings["phase"] += f.phase
        for key in ("steps", "backwards", "evidence"):
            findings[key] += getattr(f, key)
        pending = pending or f.evidence_pending
        start = item.started_at or item.applied_at
        finished = cc.epoch(rel["status"].get("finishedAt"))
        slack = run.driver.slack(item, start, finished or end)
        name = rel["metadata"]["name"]
        if (finished or end) > start + run.policy.deadline_s + slack:
            state = f"took {finished - start:.0f} s" if finished else f"still {item.phase}"
            findings["stuck"].append(
                f"{name}: {state}; deadline {run.policy.deadline_s} s + slack {slack:.0f} s"
            )
        elif item.phase not in cc.TERMINAL:
            findings["unfinished"].append(f"{name}: {item.phase} when the run ended")
    planned_names = {i.release for i in run.planned}
    unexpected = sorted(n for n in by_name if n not in planned_names)
    for kill in run.kills:  # a canary killed after its release promoted it (a race)
        if kill["kind"] == "canary":
            rel = by_name.get(kill["revision"])
            promoted = [
                cc.epoch(h.get("at"))
                for h in (rel or {}).get("status", {}).get("history", [])
                if h.get("event") == "Promoting"
            ]
            kill["sole"] = any(p is not None and p <= kill["t"] for p in promoted)
    plane = checks.data_plane(
        records,
        kills=run.kills,
        services=run.services,
        proxies=run.proxies,
        began=run.began,
        load_ended=run.load_ended,
    )
    observed = checks.observed_evidence(checked, records, min_samples=run.policy.min_samples)
    gaps = [g["serviceGapS"] for g in plane["proxyKills"] if g["serviceGapS"] is not None]
    process = [g["processBackS"] for g in plane["proxyKills"] if g["processBackS"] is not None]
    kinds = collections.Counter(k["kind"] for k in run.kills)
    history_evidence: int | str = len(findings["evidence"])
    if pending and not history_evidence:
        history_evidence = "pending"
    return {
        "releases": {
            "planned": sum(not i.extra for i in run.planned),
            "extra": sum(i.extra for i in run.planned),
            "started": sum(i.applied_at is not None for i in run.planned),
            "unexpected": unexpected,
            "phases": dict(collections.Counter(str(i.phase) for i in run.planned if i.applied_at)),
            "unfinished": len(findings["unfinished"]),
        },
        "kills": {
            "total": len(run.kills),
            **{k: kinds.get(k, 0) for k in KINDS},
            "outsideReleases": sum(not k["inFlight"] for k in run.kills),
            "list": [
                {
                    "at": round(k["t"] - run.began, 1),
                    "kind": k["kind"],
                    "target": k.get("revision", k["kind"]),
                    "pid": k["pid"],
                }
                for k in run.kills
            ],
        },
        "violations": {
            "wrongPhase": len(findings["phase"]),
            "stuck": len(findings["stuck"]),
            "noEvidenceObserved": len(observed["none"]),
            "historyEvidence": history_evidence,
            "steps": len(findings["steps"]),
            "backwards": len(findings["backwards"]),
            "unexpectedReleases": len(unexpected),
            "dataPlane": plane["dataPlaneFailed"],
            "controllerExits": len(run.controller.self_exits),
            "controllerStop": 1 if teardown["controllerStop"] else 0,
            "orphans": len(teardown["orphans"]),
        },
        "dataPlane": plane,
        "proxyGap": {
            "kills": len(plane["proxyKills"]),
            "meanS": round(sum(gaps) / len(gaps), 2) if gaps else None,
            "maxS": max(gaps, default=None),
            "never": sum(bool(g["never"]) for g in plane["proxyKills"]),
            "processMeanS": round(sum(process) / len(process), 2) if process else None,
            "processMaxS": max(process, default=None),
        },
        "evidenceObserved": observed,
        "details": {
            **{k: v[:30] for k, v in findings.items()},
            "unexpectedReleases": unexpected,
            "controllerExits": run.controller.self_exits[:10],
            "controllerStop": teardown["controllerStop"],
            "orphans": teardown["orphans"],
        },
        "requests": len(records),
        "durationS": round(end - run.began, 1),
        "timedOut": run.timed_out,
        "notes": run.notes,
        "workdir": str(run.work),
    }


def render(result: dict[str, Any]) -> str:
    v, c, g = result["violations"], result["dataPlane"]["counts"], result["proxyGap"]
    k, r, ev = result["kills"], result["releases"], result["evidenceObserved"]

    def s(x: Any) -> str:
        return "-" if x is None else str(x)

    rows = [
        ["measure", "value", "target"],
        ["releases made (planned + extra)", f"{r['started']} ({r['planned']} + {r['extra']})", ""],
        ["  not terminal when the run ended", str(r["unfinished"]), ""],
        ["SIGKILLs: controller / proxy / canary",
         f"{k['controller']} / {k['proxy']} / {k['canary']}", ""],
        ["requests sent", str(result["requests"]), ""],
        ["wrong final phase", str(v["wrongPhase"]), "0"],
        ["stuck past deadline (+ kill slack)", str(v["stuck"]), "0"],
        ["increase/promotion, canary served 0 in step", str(v["noEvidenceObserved"]), "0"],
        ["  … served < minSamples (shown, not counted)", str(len(ev["thin"])), ""],
        ["history evidence problems", str(v["historyEvidence"]), "0"],
        ["step repeated / skipped / off-policy", str(v["steps"]), "0"],
        ["canary weight backwards outside rollback", str(v["backwards"]), "0"],
        ["releases the benchmark did not ask for", str(v["unexpectedReleases"]), "0"],
        ["data plane: 502 no revision / not ready", str(c.get("noRevision", 0)), "0"],
        ["data plane: 502 to a killed revision", str(c.get("deadUpstream", 0)), "0"],
        ["data plane: other 502 upstream", str(c.get("upstreamOther", 0)), "0"],
        ["data plane: refused beyond proxy gap", str(c.get("refusedBeyondGap", 0)), "0"],
        ["data plane: other connection errors", str(c.get("connectionOther", 0)), "0"],
        ["data plane: other HTTP errors", str(c.get("httpOther", 0)), "0"],
        ["proxy restart gap, mean / max s", f"{s(g['meanS'])} / {s(g['maxS'])}", "reported"],
        ["  proxy kills never served again after", str(g["never"]), "0"],
        ["  proxy process back, mean / max s",
         f"{s(g['processMeanS'])} / {s(g['processMaxS'])}", "reported"],
        ["requests in the proxy gap", str(c.get("proxyGap", 0)), "reported"],
        ["cut in flight: proxy kill / canary kill",
         f"{c.get('cutByProxyKill', 0)} / {c.get('cutByCanaryKill', 0)}", "reported"],
        ["502s while a just-promoted sole revision was down",
         str(c.get("soleRevisionOutage", 0)), "reported"],
        ["the demo app's own 500s", str(c.get("app", 0)), ""],
        ["controller exits without a kill", str(v["controllerExits"]), "0"],
        ["controller graceful stop failed", str(v["controllerStop"]), "0"],
        ["orphan processes after SIGTERM", str(v["orphans"]), "0"],
    ]  # fmt: skip
    return cc.table(rows)


def violation_lines(result: dict[str, Any]) -> list[str]:
    d = result["details"]
    lines = []
    for key, title in (
        ("phase", "wrong final phase"),
        ("stuck", "stuck past deadline"),
        ("steps", "steps"),
        ("backwards", "weight backwards"),
        ("evidence", "history evidence"),
        ("unexpectedReleases", "release not asked for"),
        ("unfinished", "not terminal at the end (not counted)"),
    ):
        lines += [f"- {title}: {x}" for x in d.get(key, [])]
    lines += [f"- no canary request in step: {x}" for x in result["evidenceObserved"]["none"]]
    lines += [f"- data plane ({n}×): {why}" for why, n in result["dataPlane"]["reasons"].items()]
    lines += [f"- controller exit: {x}" for x in d["controllerExits"]]
    if d["controllerStop"]:
        lines.append(f"- controller stop: {d['controllerStop']}")
    lines += [f"- orphan: pid {o['pid']} {o['what']}" for o in d["orphans"]]
    return lines


def markdown(result: dict[str, Any], args: argparse.Namespace, command: str, load: str) -> str:
    gaps = ", ".join(
        f"{g['serviceGapS']}" + (f" (never: {', '.join(g['never'])})" if g["never"] else "")
        for g in result["dataPlane"]["proxyKills"]
    )
    kills = ", ".join(f"{k['at']:g} {k['target']}" for k in result["kills"]["list"])
    lines = violation_lines(result)
    stopped = " (stopped by the time limit)" if result["timedOut"] else ""
    return f"""## Local platform

Generated {time.strftime("%Y-%m-%d")} by `{command}`
on {load}; {result["durationS"] / 60:.1f} minutes{stopped}.

{args.services} services at {args.rps:g} req/s each through the local proxy (open loop,
keep-alive); releases of the demo app under the benchmark's policy (10% then 50%,
{args.step_seconds} s of errors-vs-stable analysis each), half the canaries failing 20%
of requests; SIGKILLs of the controller (after at least {args.min_uptime:g} s up;
restarted {args.restart_delay:g} s later), the proxy and canary processes; seed
{args.seed}.

```
{render(result)}
```

Proxy restart gap per proxy kill (s, until every service answered again; "never": not
before the load stopped): {gaps or "none"}.

Kills (s from the start, target): {kills or "none"}.

{"Violations:" if lines else "No violations."}
{chr(10).join(lines[:60])}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=5)
    parser.add_argument("--releases", type=int, default=40, help="at least this many")
    parser.add_argument("--kills", type=int, default=60)
    parser.add_argument("--rps", type=float, default=20.0, help="requests/s per service")
    parser.add_argument("--bad-share", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--step-seconds", type=int, default=30, help="each analysis step")
    parser.add_argument("--restart-delay", type=float, default=1.0, help="controller restart")
    parser.add_argument("--kill-slack", type=float, default=15.0, help="deadline slack per kill")
    parser.add_argument("--min-gap", type=float, default=3.0, help="least seconds between kills")
    parser.add_argument("--min-uptime", type=float, default=2.0,
                        help="least seconds a controller runs before it is killed")  # fmt: skip
    parser.add_argument("--give-up", type=float, default=60.0,
                        help="seconds past deadline + slack before moving on")  # fmt: skip
    parser.add_argument("--settle", type=float, default=5.0,
                        help="seconds the last controller runs before its SIGTERM")  # fmt: skip
    parser.add_argument("--time-limit", default="45m", help="wall-clock bound: 90s, 10m, 1h")
    parser.add_argument("--workdir", type=pathlib.Path, default=None)
    parser.add_argument("--write", action="store_true", help=f"write {cc.RESULTS}")
    parser.add_argument("--out", type=pathlib.Path, default=cc.RESULTS)
    args = parser.parse_args()
    args.time_limit = cc.seconds(args.time_limit)
    if min(args.services, args.releases, args.kills + 1) < 1 or args.rps <= 0:
        parser.error("--services and --releases must be at least 1, --kills 0, --rps above 0")
    load_before = cc.machine()
    run = Run(args)
    print(f"chaos (local): work dir {run.work}", file=sys.stderr, flush=True)
    try:
        run.set_up()
        run.loop()
        teardown = run.tear_down()
    except RuntimeError as exc:
        sys.exit(f"chaos (local): {exc}; logs in {run.work}")
    finally:
        run.cleanup()
    result = analyse(run, teardown)
    print(render(result))
    for line in violation_lines(result)[:40]:
        print(line)
    settings = {k: v for k, v in vars(args).items() if k != "out"}
    settings["workdir"] = str(run.work)
    print(json.dumps({"benchmark": "chaos", "platform": "local", "args": settings,
                      "results": result}))  # fmt: skip
    if args.write:
        command = f".venv/bin/python bench/chaos_local.py {' '.join(sys.argv[1:])}".strip()
        cc.write_section(args.out, "local", markdown(result, args, command, load_before))


if __name__ == "__main__":
    main()
