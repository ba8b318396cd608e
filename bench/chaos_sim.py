"""Chaos on the rehearsal platform: releases while controllers are SIGKILLed at random,
many times more often than on the local platform; whether every release still
decides as its policy says.

Set-up, in a work dir of its own (kept at the end, with the controllers' logs): two
state dirs, each with its own controller (`rollout controller --platform sim --speed S
--rps R --scrape-delay D --metrics-addr off`) — one whose every new revision behaves
like the stable (`--scenario good`), one whose canaries fail 20% of requests
(`--scenario bad-20pct`) — the benchmark's policy (as `chaos_local.py`: 10% then 50%,
30 s of errors-vs-stable analysis each, every 5 s, `minSamples` 20, `progressDeadline`
3m, in simulated time) and `--services` services in each.

The run: `--releases` template changes (at least; dealt round-robin over the
services of both state dirs, one release at a time per service, 1–4 s apart) and
`--kills` SIGKILLs of a controller with a release in flight, paced over the estimated
remaining time; a killed controller is started again `--restart-delay` seconds later
(the benchmark is its supervisor; a rehearsal's clock keeps running meanwhile, so a
release sees its controller's downtime `--speed` times over). When releases run out
before the kills, more are made until the kills are done.

Two settings keep the kills a test of the decisions rather than of start-up alone: a
controller runs `--min-uptime` seconds before it is killed again, and readings are
visible after `--scrape-delay` 2 simulated seconds (the platform's default is 10) —
the simulated traffic of a release lives in its controller's memory and starts again
from nothing after a restart (`rollout.platforms.sim`), so a controller killed every
few seconds with the default delay would never see a reading at all.

Reported (violations, target 0), per release from `rollout get releases -o json`:
wrong final phase (good → Succeeded, bad → RolledBack), stuck past deadline
(creation + progressDeadline + slack: `--kill-slack` simulated seconds per kill of its
controller and the controller's downtime), a step repeated or skipped or at a weight
the policy does not give it, a canary weight going down outside a rollback, an
increase or promotion whose history `evidence` shows an Error, mostly Inconclusive
readings or fewer canary requests than `minSamples` ("pending" while the history
carries no evidence), releases the benchmark did not ask for, controllers that exited
without being killed or did not stop on SIGTERM.

Print a table and one JSON line; `--write` replaces the sim section of
`bench/results/chaos.md`. Defaults: 5 services per state dir, 40 releases, 200 kills;
scale down for a trial, e.g.

    .venv/bin/python bench/chaos_sim.py --services 1 --releases 4 --kills 10 --time-limit 3m

Run by hand, never from the test suite (its judges, `chaos_checks`, are tested in
`tests/unit/bench/`); like `chaos_local.py` it talks to rollout only through the
`rollout` command and the state dirs' files, and drives releases with `chaos_driver`.
"""

from __future__ import annotations

import argparse
import collections
import json
import pathlib
import random
import sys
import tempfile
import time
from typing import Any

import chaos_checks as checks
import chaos_common as cc
import chaos_driver as driver

LANES = (("good", "good", 0.0), ("bad", "bad-20pct", 1.0))  # (lane, --scenario, bad share)


class Run:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.work = pathlib.Path(args.workdir or tempfile.mkdtemp(prefix="rollout-chaos-sim-"))
        self.policy = cc.Policy(step_s=args.step_seconds)
        self.services = [f"s{i + 1}" for i in range(args.services)]
        marker = f"chaos-{self.rng.getrandbits(40):010x}"
        self.lanes: list[driver.Lane] = []
        for name, scenario, share in LANES:
            state = self.work / name / "state"
            state.mkdir(parents=True, exist_ok=True)
            controller = driver.Controller(
                [cc.ROLLOUT, "controller", "--platform", "sim", "--scenario", scenario,
                 "--speed", str(args.speed), "--rps", str(args.rps),
                 "--scrape-delay", str(args.scrape_delay), "--metrics-addr", "off",
                 "--state-dir", str(state)],
                self.work / name / "controller.log",
                args.restart_delay,
            )  # fmt: skip
            self.lanes.append(
                driver.Lane(name, state, controller, services=self.services, policy=self.policy,
                        marker=marker, bad_share=share, speed=args.speed)
            )  # fmt: skip
        self.planned = driver.plan(
            self.rng,
            lanes=[(lane.name, self.services, lane.bad_share) for lane in self.lanes],
            releases=args.releases,
        )
        self.driver = driver.Driver(
            self.lanes, self.planned, rng=self.rng, kill_slack=args.kill_slack,
            give_up=args.give_up,
        )  # fmt: skip
        self.pacer = driver.Pacer(self.rng, kills=args.kills, low=args.min_gap, high=30.0)
        self.kills = self.driver.kills
        self.began = time.time()
        self.deadline = time.monotonic() + args.time_limit
        self.timed_out = False
        self.stops: dict[str, str] = {}

    def set_up(self) -> None:
        for lane in self.lanes:
            lane.controller.start()
            problem = lane.apply("policy", self.policy.yaml())
            for svc in self.services:
                problem = problem or lane.apply(f"{svc}-v1", lane.service_text(svc, "v1", False))
            if problem:
                raise RuntimeError(f"{lane.name}: apply failed: {problem}")
        deadline = time.monotonic() + 120
        while True:
            ready = 0
            for lane in self.lanes:
                lane.controller.tick()
                found = cc.peek(lane.state, ("Service",)) or {"Service": []}
                ready += sum(
                    bool(s.get("status", {}).get("latestReadyRevision")) for s in found["Service"]
                )
            if ready == len(self.lanes) * len(self.services):
                return
            if time.monotonic() > deadline:
                raise RuntimeError("the services' first revisions not ready within 120 s")
            time.sleep(0.3)

    def kill_one(self) -> bool:
        busy = {p.lane for p in self.driver.in_flight()}
        targets = [
            lane
            for lane in self.lanes
            if lane.controller.uptime() >= self.args.min_uptime and lane.name in busy
        ]
        if not targets:
            return False
        lane = self.rng.choice(targets)
        pid = lane.controller.kill()
        in_flight = [p.label for p in self.driver.in_flight() if p.lane == lane.name]
        self.kills.append(
            {"t": time.time(), "kind": "controller", "lane": lane.name, "pid": pid,
             "inFlight": in_flight}
        )  # fmt: skip
        return True

    def loop(self) -> None:
        last_look = 0.0
        self.pacer.schedule(time.monotonic(), self.driver.remaining_s())
        while not self.driver.finished(more=self.pacer.left > 0):
            if time.monotonic() > self.deadline:
                self.timed_out = True
                break
            for lane in self.lanes:
                lane.controller.tick()
            if time.monotonic() - last_look >= 1.0:
                self.driver.tick(more=self.pacer.left > 0)
                last_look = time.monotonic()
            if self.pacer.due(time.monotonic()) and self.driver.in_flight():
                if self.kill_one():
                    self.pacer.done(time.monotonic(), self.driver.remaining_s())
                else:
                    self.pacer.next_at = time.monotonic() + 0.5
            time.sleep(0.1)

    def tear_down(self) -> None:
        for lane in self.lanes:
            if not lane.controller.running:
                lane.controller.start()
        time.sleep(self.args.settle)
        for lane in self.lanes:
            self.stops[lane.name] = lane.controller.stop(60.0)

    def cleanup(self) -> None:
        for lane in self.lanes:
            if lane.controller.running:
                lane.controller.stop(30.0)


def analyse(run: Run) -> dict[str, Any]:
    findings: dict[str, list[str]] = collections.defaultdict(list)
    pending = False
    unexpected: list[str] = []
    for lane in run.lanes:
        releases = cc.get_json(lane.state, "releases") or list(lane.releases.values())
        by_name = {r["metadata"]["name"]: r for r in releases}
        end = lane.now()
        mine = [i for i in run.planned if i.lane == lane.name and i.applied_at is not None]
        unexpected += [
            f"{lane.name}/{n}" for n in sorted(by_name) if n not in {i.release for i in mine}
        ]
        for item in mine:
            rel = by_name.get(item.release or "")
            if rel is None:
                what = item.phase or "no release"
                findings["phase"].append(f"{item.label}: {what} {item.apply_error}".strip())
                continue
            item.phase = rel["status"].get("phase")
            f = checks.check_release(rel, expected=item.expected, policy=run.policy)
            name = f"{lane.name}/{rel['metadata']['name']}"
            if item.phase in cc.TERMINAL:
                findings["phase"] += [f"{lane.name}/{x}" for x in f.phase]
            for key in ("steps", "backwards", "evidence"):
                findings[key] += [f"{lane.name}/{x}" for x in getattr(f, key)]
            pending = pending or f.evidence_pending
            start = item.started_at or end
            finished = cc.epoch(rel["status"].get("finishedAt"))
            slack = run.driver.slack(item, start, finished or end)
            if (finished or end) > start + run.policy.deadline_s + slack:
                state = f"took {finished - start:.0f} s" if finished else f"still {item.phase}"
                findings["stuck"].append(
                    f"{name}: {state} (simulated); deadline {run.policy.deadline_s} s"
                    f" + slack {slack:.0f} s"
                )
            elif item.phase not in cc.TERMINAL:
                findings["unfinished"].append(f"{name}: {item.phase} when the run ended")
    history_evidence: int | str = len(findings["evidence"])
    if pending and not history_evidence:
        history_evidence = "pending"
    exits = [x for lane in run.lanes for x in lane.controller.self_exits]
    stops = [f"{k}: {v}" for k, v in run.stops.items() if v]
    per_lane = collections.Counter(k["lane"] for k in run.kills)
    return {
        "releases": {
            "planned": sum(not i.extra for i in run.planned),
            "extra": sum(i.extra for i in run.planned),
            "started": sum(i.applied_at is not None for i in run.planned),
            "phases": dict(collections.Counter(str(i.phase) for i in run.planned if i.applied_at)),
            "unfinished": len(findings["unfinished"]),
        },
        "kills": {
            "total": len(run.kills),
            **{lane.name: per_lane.get(lane.name, 0) for lane in run.lanes},
            "outsideReleases": sum(not k["inFlight"] for k in run.kills),
        },
        "violations": {
            "wrongPhase": len(findings["phase"]),
            "stuck": len(findings["stuck"]),
            "steps": len(findings["steps"]),
            "backwards": len(findings["backwards"]),
            "historyEvidence": history_evidence,
            "unexpectedReleases": len(unexpected),
            "controllerExits": len(exits),
            "controllerStop": len(stops),
        },
        "details": {
            **{k: v[:30] for k, v in findings.items()},
            "unexpectedReleases": unexpected[:30],
            "controllerExits": exits[:10],
            "controllerStop": stops,
        },
        "durationS": round(time.time() - run.began, 1),
        "timedOut": run.timed_out,
        "workdir": str(run.work),
    }


def render(result: dict[str, Any]) -> str:
    v, k, r = result["violations"], result["kills"], result["releases"]
    rows = [
        ["measure", "value", "target"],
        ["releases made (planned + extra)", f"{r['started']} ({r['planned']} + {r['extra']})", ""],
        ["  not terminal when the run ended", str(r["unfinished"]), ""],
        ["controller SIGKILLs: good / bad state dir", f"{k['good']} / {k['bad']}", ""],
        ["wrong final phase", str(v["wrongPhase"]), "0"],
        ["stuck past deadline (+ kill slack)", str(v["stuck"]), "0"],
        ["step repeated / skipped / off-policy", str(v["steps"]), "0"],
        ["canary weight backwards outside rollback", str(v["backwards"]), "0"],
        ["increase/promotion without evidence (history)", str(v["historyEvidence"]), "0"],
        ["releases the benchmark did not ask for", str(v["unexpectedReleases"]), "0"],
        ["controller exits without a kill", str(v["controllerExits"]), "0"],
        ["controller graceful stop failed", str(v["controllerStop"]), "0"],
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
        ("controllerExits", "controller exit"),
        ("controllerStop", "controller stop"),
        ("unfinished", "not terminal at the end (not counted)"),
    ):
        lines += [f"- {title}: {x}" for x in d.get(key, [])]
    return lines


def markdown(result: dict[str, Any], args: argparse.Namespace, command: str, load: str) -> str:
    lines = violation_lines(result)
    stopped = " (stopped by the time limit)" if result["timedOut"] else ""
    return f"""## Rehearsal platform (`--platform sim`)

Generated {time.strftime("%Y-%m-%d")} by `{command}`
on {load}; {result["durationS"] / 60:.1f} minutes{stopped}.

Two state dirs, one controller each (`--scenario good` and `--scenario bad-20pct`,
`--speed {args.speed:g}`, `--scrape-delay {args.scrape_delay:g}`, simulated
{args.rps:g} req/s per service), {args.services} services in each; the benchmark's
policy ({args.step_seconds} s steps) in simulated time; SIGKILLs of a controller with a
release in flight (after at least {args.min_uptime:g} s up), restarted
{args.restart_delay:g} s later; seed {args.seed}.

```
{render(result)}
```

{"Violations:" if lines else "No violations."}
{chr(10).join(lines[:60])}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=5, help="per state dir")
    parser.add_argument("--releases", type=int, default=40, help="at least this many")
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--speed", type=float, default=4.0, help="simulated seconds per second")
    parser.add_argument("--scrape-delay", type=float, default=2.0,
                        help="simulated seconds before a reading is visible")  # fmt: skip
    parser.add_argument("--min-uptime", type=float, default=3.0,
                        help="least seconds a controller runs before it is killed")  # fmt: skip
    parser.add_argument("--rps", type=float, default=20.0, help="simulated requests/s")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--step-seconds", type=int, default=30, help="each analysis step")
    parser.add_argument("--restart-delay", type=float, default=0.5, help="controller restart")
    parser.add_argument("--kill-slack", type=float, default=15.0,
                        help="simulated seconds of deadline slack per kill")  # fmt: skip
    parser.add_argument("--min-gap", type=float, default=1.0, help="least seconds between kills")
    parser.add_argument("--give-up", type=float, default=60.0,
                        help="seconds past deadline + slack before moving on")  # fmt: skip
    parser.add_argument("--settle", type=float, default=3.0,
                        help="seconds the last controllers run before their SIGTERM")  # fmt: skip
    parser.add_argument("--time-limit", default="45m", help="wall-clock bound: 90s, 10m, 1h")
    parser.add_argument("--workdir", type=pathlib.Path, default=None)
    parser.add_argument("--write", action="store_true", help=f"write {cc.RESULTS}")
    parser.add_argument("--out", type=pathlib.Path, default=cc.RESULTS)
    args = parser.parse_args()
    args.time_limit = cc.seconds(args.time_limit)
    if min(args.services, args.releases, args.kills + 1) < 1 or args.speed <= 0:
        parser.error("--services and --releases must be at least 1, --kills 0, --speed above 0")
    load_before = cc.machine()
    run = Run(args)
    print(f"chaos (sim): work dir {run.work}", file=sys.stderr, flush=True)
    try:
        run.set_up()
        run.loop()
        run.tear_down()
    except RuntimeError as exc:
        sys.exit(f"chaos (sim): {exc}; logs in {run.work}")
    finally:
        run.cleanup()
    result = analyse(run)
    print(render(result))
    for line in violation_lines(result)[:40]:
        print(line)
    settings = {k: v for k, v in vars(args).items() if k != "out"}
    settings["workdir"] = str(run.work)
    print(json.dumps({"benchmark": "chaos", "platform": "sim", "args": settings,
                      "results": result}))  # fmt: skip
    if args.write:
        command = f".venv/bin/python bench/chaos_sim.py {' '.join(sys.argv[1:])}".strip()
        cc.write_section(args.out, "sim", markdown(result, args, command, load_before))


if __name__ == "__main__":
    main()
