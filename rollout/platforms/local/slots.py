"""One revision's process as the local runtime knows it (`Slot`), and the supervisor's
decisions on it: what a probe result means, what an exit means (restart backoff, crash
loop), when the process counts as stable again, and when to look next. A slot keeps
how its last process ended and that process's last lines of output (`last_exit`,
`log_tail`: read once, at the exit), reported with every state until the next exit.

A slot is a plain record guarded by the runtime's lock; every function here is called
with that lock held and the current `time.monotonic()` passed in (`now`). They take
no lock, start and stop nothing and probe nothing: `runtime` does that, then calls
them to decide. The only I/O is reading the log's last lines when a process ends.

Reasons: Starting, Ready, ProbeFailing, Restarting (exited, waiting for its backoff),
CrashLoop (failed: `crash_loop_after` restarts without staying ready for
`stable_after` seconds).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import structlog

from rollout.platforms import ports
from rollout.platforms.local import processes

__all__ = ["Key", "Readiness", "Slot", "Timing", "down", "next_wake", "probed", "started", "steady"]

log = structlog.get_logger(__name__)

Key = tuple[str, str]


@dataclasses.dataclass(frozen=True)
class Timing:
    """The runtime's supervision settings (see `LocalRuntime`)."""

    probe_interval: float
    backoff: float
    max_backoff: float
    crash_loop_after: int
    stable_after: float


@dataclasses.dataclass(frozen=True)
class Readiness:
    """The container's readiness probe as the local platform runs it, on the process's
    own port (`PORT`): HTTP GET `path` with `headers`, or a TCP connect (`tcp`) for a
    `tcpSocket` probe — and for `exec` and `grpc`, which the local platform cannot run
    (`podtemplate` reports them ignored). Kubernetes' defaults for the timings."""

    path: str = "/"
    headers: tuple[tuple[str, str], ...] = ()
    tcp: bool = False
    initial_delay_seconds: int = 0
    period_seconds: int = 10
    timeout_seconds: int = 1
    failure_threshold: int = 3

    @classmethod
    def of(cls, container: Mapping[str, Any]) -> Readiness:
        """The container's `readinessProbe`, or GET / when it has none."""
        probe = container.get("readinessProbe") or {}
        default = cls()

        def timing(key: str, otherwise: int) -> int:
            return int(probe[key]) if probe.get(key) is not None else otherwise

        timings = cls(
            initial_delay_seconds=timing("initialDelaySeconds", default.initial_delay_seconds),
            period_seconds=timing("periodSeconds", default.period_seconds),
            timeout_seconds=timing("timeoutSeconds", default.timeout_seconds),
            failure_threshold=timing("failureThreshold", default.failure_threshold),
        )
        http = probe.get("httpGet")
        if http is None and probe.keys() - _TIMINGS:
            return dataclasses.replace(timings, tcp=True)
        http = http or {}
        headers = tuple((str(h["name"]), str(h["value"])) for h in http.get("httpHeaders") or [])
        return dataclasses.replace(timings, path=str(http.get("path") or "/"), headers=headers)

    def describe(self) -> str:
        """`GET /healthz` or `a TCP connection`, for messages."""
        return "a TCP connection" if self.tcp else f"GET {self.path}"


_TIMINGS = {
    "initialDelaySeconds",
    "periodSeconds",
    "timeoutSeconds",
    "failureThreshold",
    "successThreshold",
    "terminationGracePeriodSeconds",
}


@dataclasses.dataclass(eq=False)
class Slot:
    """One revision's process and what the supervisor knows of it (guarded by the
    runtime's lock)."""

    key: Key
    argv: list[str]  # as written: `$(NAME)` is expanded from `variables` at each start
    env: dict[str, str]  # what the process gets, but PORT
    cwd: Path
    probe: Readiness
    log_path: Path
    run_path: Path
    variables: dict[str, str] = dataclasses.field(default_factory=dict)  # for $(NAME), but PORT
    cwd_origin: str = ""  # what a relative working directory was resolved against
    notices: tuple[ports.RevisionNotice, ...] = ()
    port: int = 0
    replicas: int = 1  # asked for: the one process stands for them (reported so)
    process: processes.Process | None = None
    ready: bool = False
    reason: str = "Starting"
    message: str = ""
    restarts: int = 0
    streak: int = 0  # restarts since it last stayed ready for `stable_after`
    backoff: float = 0.0  # the next restart's delay
    failed: bool = False
    crash_message: str = ""
    last_exit: str = ""  # how the last process ended ("killed by SIGKILL"), or could not start
    log_tail: tuple[str, ...] = ()  # its last lines of output, read when it ended
    passed_once: bool = False  # a probe passed since the last start
    failures: int = 0  # consecutive probe failures
    ready_since: float | None = None
    next_probe: float = 0.0
    restart_at: float | None = None
    stop: threading.Event = dataclasses.field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def state(self) -> ports.RuntimeState:
        failed = self.failed and not self.ready
        return ports.RuntimeState(
            ready=self.ready,
            reason="CrashLoop" if failed else self.reason,
            message=self.crash_message if failed else self.message,
            replicas=self.replicas,
            ready_replicas=self.replicas if self.ready else 0,
            restarts=self.restarts,
            url=self.url if self.ready else None,
            failed=failed,
            notices=self.notices,
            last_exit=self.last_exit,
            log_tail=self.log_tail,
        )

    def waiting(self) -> str:
        return f"waiting for {self.probe.describe()} on port {self.port}"


def started(slot: Slot, proc: processes.Process, now: float) -> None:
    """`proc` now runs the revision: starting, first probe after the initial delay."""
    slot.process = proc
    slot.ready, slot.reason, slot.message = False, "Starting", slot.waiting()
    slot.passed_once, slot.failures, slot.ready_since = False, 0, None
    slot.next_probe = now + slot.probe.initial_delay_seconds
    slot.restart_at = None


def down(slot: Slot, why: str, now: float, timing: Timing) -> None:
    """It exited (or could not start): schedule the restart; a crash loop fails."""
    slot.process = None
    slot.ready, slot.ready_since, slot.passed_once, slot.failures = False, None, False, 0
    delay = slot.backoff
    slot.backoff = min(slot.backoff * 2, timing.max_backoff)
    slot.restart_at = now + delay
    slot.reason, slot.message = "Restarting", f"restarting in {delay:g}s"
    slot.last_exit, slot.log_tail = why, processes.last_lines(slot.log_path)
    if slot.streak >= timing.crash_loop_after and not slot.failed:
        slot.failed = True
        slot.crash_message = (
            f"{slot.streak} restarts without staying ready for {timing.stable_after:g}s"
            f" (working directory {slot.cwd}: {slot.cwd_origin})"
        )
    log.warning(
        "revision down",
        namespace=slot.key[0],
        revision=slot.key[1],
        why=why,
        restarts=slot.restarts,
        restart_in=delay,
        crash_loop=slot.failed,
    )


def steady(slot: Slot, now: float, timing: Timing) -> None:
    """Ready for `stable_after`: the restart streak, backoff and crash loop are forgiven."""
    if slot.ready_since is not None and now - slot.ready_since >= timing.stable_after:
        slot.streak, slot.backoff, slot.failed = 0, timing.backoff, False


def probed(slot: Slot, result: processes.ProbeResult, now: float, timing: Timing) -> None:
    """Take a readiness probe's result: ready on a pass; not ready on a failure when
    starting or after `failureThreshold` failures in a row."""
    probe = slot.probe
    period = float(probe.period_seconds)
    if not slot.passed_once:  # starting: look often, to be ready soon
        period = min(period, timing.probe_interval)
    slot.next_probe = now + period
    if result.ok:
        slot.failures = 0
        if not slot.ready:
            slot.ready, slot.reason, slot.message = True, "Ready", ""
            slot.ready_since, slot.passed_once = now, True
        return
    slot.failures += 1
    detail = f"{probe.describe()} on port {slot.port}: {result.detail}"
    if not slot.ready and result.refused:  # not listening yet (a stable message:
        slot.reason, slot.message = "Starting", slot.waiting()  # no wake-ups)
    elif not slot.ready or slot.failures >= probe.failure_threshold:
        slot.ready, slot.ready_since = False, None
        slot.reason, slot.message = "ProbeFailing", detail


def next_wake(slot: Slot, now: float, timing: Timing) -> float:
    """The monotonic time of the next thing to do: a probe, a look for exits, a due
    restart, or the end of the stability wait."""
    times = []
    if slot.process is not None:
        times += [slot.next_probe, now + timing.probe_interval]  # probe; look for exits
    elif slot.restart_at is not None:
        times.append(slot.restart_at)
    if slot.ready_since is not None and (slot.streak or slot.failed):
        times.append(slot.ready_since + timing.stable_after)
    return min(times, default=now + timing.probe_interval)
