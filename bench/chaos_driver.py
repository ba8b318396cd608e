"""The chaos benchmarks' driver: the controllers they supervise, the releases they make
and follow, and when the next kill is due.

- `Controller`: one controller process — started, SIGKILLed, started again
  `restart_delay` seconds after it died (killed or not; an exit without a kill is
  recorded), stopped with SIGTERM at the end; it knows its up and down times.
- `Lane`: a state dir with its controller, where releases are applied (`rollout
  apply -f`) and looked at; a rehearsal's lane reads its simulated clock.
- `Driver`: the planned releases, one at a time per (lane, service), 1–4 s apart,
  each followed to a terminal phase (or given up on well past its deadline); extra
  releases while kills remain; the deadline slack a release gets for the kills it saw.
- `Pacer`: the remaining kills spread over the releases' estimated remaining time.

Decides nothing about what a release should do (that is `chaos_checks`). Called by
`chaos_local.py` and `chaos_sim.py`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import pathlib
import random
import signal
import subprocess
import time
from collections.abc import Sequence
from typing import Any

import chaos_common as cc

# -- the controller, as its supervisor ---------------------------------------------------


class Controller:
    """A controller process the benchmark supervises: started, SIGKILLed, started again
    `delay` seconds after it died (killed or not), stopped with SIGTERM at the end."""

    def __init__(self, argv: list[str], log: pathlib.Path, delay: float) -> None:
        self.argv = argv
        self.log = log
        self.delay = delay
        self.proc: subprocess.Popen[bytes] | None = None
        self.restart_at: float | None = None
        self.up: list[tuple[float, float | None]] = []  # (started, ended), wall clock
        self.self_exits: list[str] = []

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def uptime(self) -> float:
        """Seconds the running controller has been up (0 when none runs)."""
        return time.time() - self.up[-1][0] if self.running else 0.0

    def start(self) -> None:
        with self.log.open("ab") as out:
            out.write(f"\n=== chaos: controller started at {time.time():.3f}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=out)
        self.up.append((time.time(), None))
        self.restart_at = None

    def _ended(self) -> None:
        started, _ = self.up[-1]
        self.up[-1] = (started, time.time())

    def kill(self) -> int:
        assert self.proc is not None
        pid = self.proc.pid
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._ended()
        self.proc = None
        self.restart_at = time.monotonic() + self.delay
        return pid

    def tick(self) -> None:
        """Notice a controller that exited on its own; start one when it is due."""
        if self.proc is not None and self.proc.poll() is not None:
            self._ended()
            self.self_exits.append(
                f"{self.log.parent.name}: exit code {self.proc.returncode}: {cc.tail(self.log)}"
            )
            self.proc = None
            self.restart_at = time.monotonic() + self.delay
        due = self.restart_at is not None and time.monotonic() >= self.restart_at
        if self.proc is None and due:
            self.start()

    def stop(self, timeout: float) -> str:
        """SIGTERM and wait; SIGKILL after `timeout`. What went wrong, or ''."""
        if self.proc is None:
            return ""
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
            problem = "" if self.proc.returncode == 0 else f"exit code {self.proc.returncode}"
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            problem = f"did not stop within {timeout:.0f} s of SIGTERM (killed)"
        self._ended()
        self.proc = None
        self.restart_at = None
        return problem

    def down_within(self, start: float, end: float) -> float:
        """Wall seconds in [start, end] with no controller running."""
        up = 0.0
        for a, b in self.up:
            b = end if b is None else b
            up += max(0.0, min(b, end) - max(a, start))
        return max(0.0, (end - start) - up)


# -- driving releases ----------------------------------------------------------------


@dataclasses.dataclass
class Planned:
    """One release the benchmark makes: a template change of `service` in `lane`.
    Times are wall-clock epochs except `started_at`, the release's creation in its
    lane's clock (a rehearsal's simulated time)."""

    lane: str  # a state dir's label (local: local; sim: good / bad)
    service: str
    version: str
    bad: bool
    extra: bool = False  # added beyond --releases to give the remaining kills a release
    applied_at: float | None = None
    release: str | None = None  # the Release's name once it exists
    started_at: float | None = None
    ended_at: float | None = None  # when the driver saw it terminal or gave up on it
    phase: str | None = None
    gave_up: bool = False  # not terminal long after its deadline: the driver moved on
    apply_error: str = ""

    @property
    def expected(self) -> str:
        return "RolledBack" if self.bad else "Succeeded"

    @property
    def label(self) -> str:
        return f"{self.lane}/{self.service}@{self.version}"


def plan(
    rng: random.Random, *, lanes: Sequence[tuple[str, Sequence[str], float]], releases: int
) -> list[Planned]:
    """`releases` releases dealt round-robin over every (lane, service); `lanes` gives
    each lane's services and share of bad canaries (a shuffled exact split)."""
    slots = [(lane, svc) for lane, services, _ in lanes for svc in services]
    per_slot: dict[tuple[str, str], int] = {}
    for i in range(releases):
        per_slot[slots[i % len(slots)]] = per_slot.get(slots[i % len(slots)], 0) + 1
    out: list[Planned] = []
    for lane, services, share in lanes:
        total = sum(per_slot.get((lane, s), 0) for s in services)
        bads = [True] * round(total * share) + [False] * (total - round(total * share))
        rng.shuffle(bads)
        for svc in services:
            for n in range(per_slot.get((lane, svc), 0)):
                out.append(Planned(lane, svc, f"v{n + 2}", bads.pop()))
    return out


class Lane:
    """A state dir with its controller: where releases are applied and looked at.
    `speed` > 0 is a rehearsal's: its releases' times are simulated (read `clock.json`)."""

    def __init__(
        self,
        name: str,
        state_dir: pathlib.Path,
        controller: Controller,
        *,
        services: Sequence[str],
        policy: cc.Policy,
        marker: str,
        ports: dict[str, int] | None = None,
        bad_share: float = 0.5,
        speed: float = 0.0,
    ) -> None:
        self.name = name
        self.state = state_dir
        self.controller = controller
        self.services = list(services)
        self.policy = policy
        self.marker = marker
        self.ports = ports or {}
        self.bad_share = bad_share
        self.speed = speed
        self.yaml_dir = state_dir.parent / f"yaml-{name}"
        self.yaml_dir.mkdir(parents=True, exist_ok=True)
        self.releases: dict[str, dict[str, Any]] = {}  # by name, latest look
        self.revision_version: dict[str, str] = {}
        self._cli_look = 0.0

    def apply(self, name: str, text: str) -> str:
        """`rollout apply -f` a document; the CLI's complaint, or ''."""
        path = self.yaml_dir / f"{name}.yaml"
        path.write_text(text)
        result = cc.cli(self.state, "apply", "-f", str(path))
        return "" if result.returncode == 0 else (result.stderr or result.stdout).strip()[-300:]

    def service_text(self, svc: str, version: str, bad: bool) -> str:
        return cc.service_yaml(
            svc,
            policy=self.policy.name,
            version=version,
            error_rate=0.2 if bad else 0.0,
            port=self.ports.get(svc),
            marker=self.marker,
        )

    def look(self) -> None:
        """The lane's releases and revisions: from `state.db` read-only, else (another
        schema, a locked file) from the CLI, at most every 5 s."""
        found = cc.peek(self.state, ("Release", "Revision"))
        if found is None:
            if time.monotonic() - self._cli_look < 5.0:
                return
            self._cli_look = time.monotonic()
            releases, revisions = (
                cc.get_json(self.state, "releases"),
                cc.get_json(self.state, "revisions"),
            )
            if releases is None or revisions is None:
                return
            found = {"Release": releases, "Revision": revisions}
        for rev in found["Revision"]:
            version = cc.version_of(rev)
            if version is not None:
                self.revision_version[rev["metadata"]["name"]] = version
        self.releases = {r["metadata"]["name"]: r for r in found["Release"]}

    def now(self) -> float:
        """The lane's clock: the wall clock, or the rehearsal's simulated time."""
        if not self.speed:
            return time.time()
        with contextlib.suppress(OSError, ValueError, KeyError):
            data = json.loads((self.state / "clock.json").read_text())
            start = datetime.datetime.fromisoformat(data["start"]).timestamp()
            anchor = datetime.datetime.fromisoformat(data["anchor"]).timestamp()
            return start + (time.time() - anchor) * float(data["speed"])
        return time.time()

    def to_wall(self, t: float) -> float:
        """A time of the lane's clock on the wall clock (for matching kills)."""
        if not self.speed:
            return t
        return time.time() - (self.now() - t) / self.speed

    def scale(self) -> float:
        """Lane seconds per wall second."""
        return self.speed or 1.0


class Driver:
    """Makes the planned releases, one at a time per (lane, service), 1–4 s apart, and
    follows each to a terminal phase (or gives up on it `give_up` lane seconds past its
    deadline + slack). While kills remain once every planned release has started, an
    idle service gets an extra release."""

    def __init__(
        self,
        lanes: Sequence[Lane],
        planned: list[Planned],
        *,
        rng: random.Random,
        kill_slack: float,
        give_up: float,
    ) -> None:
        self.lanes = {lane.name: lane for lane in lanes}
        self.planned = planned
        self.rng = rng
        self.kill_slack = kill_slack
        self.give_up = give_up
        self.slots = [(lane.name, s) for lane in lanes for s in lane.services]
        self.queue = {k: [p for p in planned if (p.lane, p.service) == k] for k in self.slots}
        self.current: dict[tuple[str, str], Planned | None] = dict.fromkeys(self.slots)
        self.next_apply = dict.fromkeys(self.slots, 0.0)
        self.versions = dict.fromkeys(self.slots, 1)
        self.kills: list[dict[str, Any]] = []  # appended by the benchmark: {"t", "kind", …}

    def in_flight(self) -> list[Planned]:
        return [p for p in self.current.values() if p is not None]

    def remaining_s(self) -> float:
        """A rough estimate of the wall seconds the releases still need."""
        now = time.time()
        per_slot = []
        for key in self.slots:
            lane = self.lanes[key[0]]
            total = sum(lane.policy.expected_s(p.bad) / lane.scale() + 2.5 for p in self.queue[key])
            cur = self.current[key]
            if cur is not None:
                spent = now - (cur.applied_at or now)
                total += max(lane.policy.expected_s(cur.bad) / lane.scale() - spent, 5.0)
            per_slot.append(total)
        return max([*per_slot, 5.0])

    def tick(self, *, more: bool) -> None:
        """Look at the lanes and move every slot on; `more`: kills remain."""
        for lane in self.lanes.values():
            lane.look()
        started_all = not any(self.queue.values())
        for key in self.slots:
            cur = self.current[key]
            if cur is not None:
                self._follow(key, cur)
                continue
            if not self.queue[key] and more and started_all:
                self.queue[key].append(self._extra(key))
            if self.queue[key] and time.monotonic() >= self.next_apply[key]:
                self._start(key, self.queue[key].pop(0))

    def finished(self, *, more: bool) -> bool:
        return not any(self.queue.values()) and not self.in_flight() and not more

    def _extra(self, key: tuple[str, str]) -> Planned:
        lane = self.lanes[key[0]]
        n = self.versions[key] + 1
        extra = Planned(key[0], key[1], f"v{n}", self.rng.random() < lane.bad_share, extra=True)
        self.planned.append(extra)
        return extra

    def _start(self, key: tuple[str, str], item: Planned) -> None:
        lane = self.lanes[key[0]]
        self.versions[key] = int(item.version[1:])
        item.applied_at = time.time()
        text = lane.service_text(item.service, item.version, item.bad)
        problem = lane.apply(f"{item.service}-{item.version}", text)
        if problem:
            item.apply_error = problem
            item.phase = "ApplyFailed"
            self.next_apply[key] = time.monotonic() + 2.0
            return
        self.current[key] = item

    def _follow(self, key: tuple[str, str], cur: Planned) -> None:
        lane = self.lanes[key[0]]
        now = time.time()
        assert cur.applied_at is not None
        if cur.release is None:
            for name, rel in lane.releases.items():
                canary = rel["spec"].get("canaryRevision")
                same = rel["spec"].get("service") == cur.service
                if same and lane.revision_version.get(canary) == cur.version:
                    cur.release = name
                    cur.started_at = cc.epoch(rel["metadata"].get("creationTimestamp"))
            grace = 90.0 + lane.controller.down_within(cur.applied_at, now)
            if cur.release is None and now - cur.applied_at > grace:
                cur.phase = "NoRelease"
                self._done(key, cur)
            return
        found = lane.releases.get(cur.release)
        phase = found["status"].get("phase") if found else None
        if phase in cc.TERMINAL:
            cur.phase = phase
            self._done(key, cur)
            return
        start = cur.started_at or lane.now()
        end = lane.now()
        slack = self.slack(cur, start, end)
        if end > start + lane.policy.deadline_s + slack + self.give_up * lane.scale():
            cur.phase = phase
            cur.gave_up = True
            self._done(key, cur)

    def _done(self, key: tuple[str, str], cur: Planned) -> None:
        cur.ended_at = time.time()
        self.current[key] = None
        self.next_apply[key] = time.monotonic() + self.rng.uniform(1.0, 4.0)

    def slack(self, item: Planned, start: float, end: float) -> float:
        """Deadline slack, in lane seconds, for a release alive over [start, end] (lane
        clock): `kill_slack` per kill that touched it (a controller of its lane, the
        proxy, its own canary) and the time its lane's controller was down."""
        lane = self.lanes[item.lane]
        a, b = lane.to_wall(start), lane.to_wall(end)
        n = sum(1 for k in self.kills if a <= k["t"] <= b and touches(k, item))
        return n * self.kill_slack + lane.controller.down_within(a, b) * lane.scale()


def touches(kill: dict[str, Any], item: Planned) -> bool:
    if kill["kind"] == "canary":
        return bool(
            kill.get("service") == item.service and kill.get("lane", item.lane) == item.lane
        )
    if kill["kind"] == "controller":
        return bool(kill.get("lane", item.lane) == item.lane)
    return True


class Pacer:
    """When the next kill is due: the remaining kills spread over the estimated
    remaining time of the releases, jittered ×[0.5, 1.5], within [low, high] s."""

    def __init__(self, rng: random.Random, *, kills: int, low: float, high: float) -> None:
        self.rng = rng
        self.left = kills
        self.low = low
        self.high = high
        self.next_at: float | None = None

    def schedule(self, now: float, remaining_s: float) -> None:
        if self.left <= 0:
            self.next_at = None
            return
        gap = min(max(remaining_s / self.left, self.low), self.high)
        self.next_at = now + gap * self.rng.uniform(0.5, 1.5)

    def due(self, now: float) -> bool:
        return self.left > 0 and self.next_at is not None and now >= self.next_at

    def done(self, now: float, remaining_s: float) -> None:
        self.left -= 1
        self.schedule(now, remaining_s)
