"""The local platform's Runtime: each revision is a process on this machine.

`ensure(rev)` starts what `podtemplate.plan` makes of the pod template — the first
container's `command` + `args` (the image is ignored locally; other containers are not
run), its environment as the kubelet would make it (`podenv`: Secrets and ConfigMaps
from `<state-dir>/secrets|configmaps/<namespace>/<name>/<key>`, `configfiles`), in
its working directory (relative to the applied file's directory) — with `PORT` (a
free 127.0.0.1 port), `ROLLOUT_REVISION` and `ROLLOUT_SERVICE`, and `$(NAME)` in the
arguments expanded from that environment, in a session of its own so that it
outlives a controller killed with SIGKILL. Its output is appended to
`<state-dir>/logs/<namespace>.<revision>.log`; `<state-dir>/run/<namespace>.<revision>.json`
names its pid, port and start time, so a restarted controller adopts it instead of
starting a second one (the proxy also reads it: it forwards only to ports a run file
names). One process per revision (`scaling` is not applied locally): it stands for
the replicas asked for, and is reported as that many once ready, so that a canary
sized to its weight (`canaryScale`) can take the weight. Asked for 0 replicas
(`ensure(rev, replicas=0)`: a retired revision after its scaleDownDelay), the
process is stopped as `remove` stops it and the revision reported `ScaledToZero`;
asked for replicas again, it is started afresh. It runs with the user's umask
(`files.user_umask()`), not the controller's private one. What the template asks for
that the local platform cannot honour (`podtemplate.ignored`) is reported with every
state as the notice `IgnoredOnLocal`.

Adopting is confirming: `ensure` probes an adopted process once before it answers
(outside the lock), and the process is ready only if that probe passed — never
because the revision was ready before the restart.

`endpoint(namespace, revision)` tells the router what it may send the proxy:
- a URL: the revision is ready (its last probe passed);
- no URL, `known=True`: this runtime knows it cannot serve — starting, exited,
  probe failing, crash-looping, or no process runs it at all;
- no URL, `known=False`: a process an earlier controller started runs it (its run
  file names a live process) and this runtime has not probed it yet (its Revision
  has not been ensured since the restart). The router then keeps the proxy's last
  split rather than take the revision out.

A supervisor thread per revision probes readiness (`slots.Readiness`: HTTP GET on
`readinessProbe.httpGet.path` with its `httpHeaders`, default `/`, or a TCP connect
for `tcpSocket`, `exec` and `grpc`; always on `PORT`: the process listens there),
notices exits and restarts with exponential backoff. Every state reports how the last
process ended (`last_exit`: `killed by SIGKILL`, `exited with code 3`, `cannot start
…`), its restarts and its last lines of output (`log_tail`: at most 3, each cut to 200
characters, the runtime's own `[rollout]` lines left out), which the Revision's Ready
message names while it is not ready.
After `crash_loop_after` restarts without staying ready for `stable_after` seconds,
the next exit reports `failed=True`, reason `CrashLoop`, with the working directory
(and what it was resolved against); it keeps restarting
(with the capped backoff) in case it recovers. Every change of
the reported state calls `on_change(namespace, revision)`. What each probe result and
exit means is decided in `slots` (one record per revision, under this runtime's lock);
this module owns the lock, the threads and the I/O around those decisions.

Reasons: Starting, Ready, ProbeFailing, Restarting (exited, waiting for its
backoff), CrashLoop (failed), NoCommand (failed: nothing to run),
CreateContainerConfigError (failed: a Secret, ConfigMap or key it needs is missing,
or a `valueFrom` Kubernetes would refuse; no process is started, and the next
`ensure` tries again), ShuttingDown, ScaledToZero.

The runtime's own lines in a revision's log (starts — with the working directory and
what it was resolved against —, exits) begin with `[rollout]`.

Called by the Revision reconciler (`ensure`, `remove`, on every pass), the controller
command (`shutdown`), the router (`endpoint`), and tests and diagnostics (`url_of`,
`ready_revisions`, `state_of`, `describe`, `detach`). The OS side lives in `processes`;
this module and `slots` decide. Time is `time.monotonic` only.
"""

from __future__ import annotations

import dataclasses
import decimal
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import structlog

from rollout import files
from rollout.api import condition, revision
from rollout.platforms import ports
from rollout.platforms.local import configfiles, podenv, podtemplate, processes, slots

__all__ = ["INHERITED_ENV", "Endpoint", "LocalRuntime", "ProcessInfo"]

log = structlog.get_logger(__name__)

# What a revision inherits from the controller's environment (and every LC_*):
# enough to find programs and speak the locale, not the controller's secrets.
INHERITED_ENV = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR")

_Key = slots.Key
OnChange = Callable[[str, str], None]
_SHUTTING_DOWN = ports.RuntimeState(False, "ShuttingDown", "the runtime is shutting down")
_SCALED_TO_ZERO = ports.RuntimeState(False, "ScaledToZero", "scaled to zero: no process runs")


@dataclasses.dataclass(frozen=True)
class ProcessInfo:
    """What runs for a revision (for tests, the demo and `rollout` diagnostics)."""

    pid: int | None
    port: int
    restarts: int
    adopted: bool
    log_path: Path
    run_path: Path


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """Where a revision serves, as far as this runtime knows (see the module docstring)."""

    url: str | None  # http://127.0.0.1:PORT when ready
    known: bool = True  # False: a live process left by an earlier controller, not probed yet


class LocalRuntime:
    """Revisions as local processes; see the module docstring."""

    def __init__(
        self,
        state_dir: Path,
        *,
        on_change: OnChange | None = None,
        cwd: Path | None = None,
        sources: podenv.Sources | None = None,
        host: podtemplate.Host | None = None,
        probe_interval: float = 0.5,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        crash_loop_after: int = 5,
        stable_after: float = 60.0,
        stop_timeout: float = 5.0,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.logs_dir = self.state_dir / "logs"
        self.run_dir = self.state_dir / "run"
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.on_change = on_change
        self.cwd = cwd or Path.cwd()
        self.sources: podenv.Sources = sources or configfiles.ConfigFiles(self.state_dir)
        self.host = host or _this_host(self.state_dir)
        self.timing = slots.Timing(
            probe_interval=probe_interval,
            backoff=backoff,
            max_backoff=max_backoff,
            crash_loop_after=crash_loop_after,
            stable_after=stable_after,
        )
        self.stop_timeout = stop_timeout
        self._slots: dict[_Key, slots.Slot] = {}
        self._closed = False
        self._lock = threading.Lock()

    # --- the Runtime port -------------------------------------------------------------

    def ensure(self, rev: revision.Revision, *, replicas: int) -> ports.RuntimeState:
        """Start (or adopt) the revision's process if this runtime has none; return its
        state. A new process is probed in the background (`ensure` answers at once); an
        adopted one is probed once before `ensure` answers. `replicas=0`: stop it (it
        is scaled to zero), and report so."""
        key = (rev.metadata.namespace or "default", rev.metadata.name)
        if replicas == 0:
            self._stop_one(key)
            return _SCALED_TO_ZERO
        with self._lock:
            slot = self._slots.get(key)
            if slot is not None:
                slot.replicas = replicas
                return slot.state()
            if self._closed:
                return _SHUTTING_DOWN
        # Planned outside the lock: it reads the Secrets and ConfigMaps it names.
        notices = _notices(podtemplate.ignored(rev.spec.template.spec))
        try:
            launch = podtemplate.plan(
                rev, default_dir=self.cwd, host=self.host, sources=self.sources
            )
        except podtemplate.CannotRun as e:
            log.warning(
                "revision cannot run", namespace=key[0], revision=key[1], reason=e.reason,
                message=e.message,
            )  # fmt: skip
            return ports.RuntimeState(
                ready=False,
                reason=e.reason,
                message=e.message,
                replicas=1,
                failed=True,
                notices=notices,
            )
        slot = self._new_slot(key, rev, launch, notices)
        slot.replicas = replicas
        # What an earlier controller left running, probed now (outside the lock: a
        # probe may take its timeout).
        record = processes.read_run_file(slot.run_path)
        proc = processes.adopt(record) if record else None
        probed = _probe(slot.probe, proc.port) if proc is not None else None
        with self._lock:
            raced = self._slots.get(key)
            if raced is not None:  # another call adopted or started it meanwhile
                return raced.state()
            if self._closed:
                return _SHUTTING_DOWN
            self._begin(slot, record, proc, probed)
            self._slots[key] = slot
            slot.thread = threading.Thread(
                target=self._supervise, args=(slot,), name=f"rollout-runtime:{key[0]}.{key[1]}"
            )
            slot.thread.daemon = True
            slot.thread.start()
            return slot.state()

    def remove(self, namespace: str, name: str) -> None:
        """Stop the revision's process group (SIGTERM, then SIGKILL after
        `stop_timeout`) and delete its run file; nothing happens when there is none."""
        self._stop_one((namespace, name))

    def _stop_one(self, key: _Key) -> None:
        namespace, name = key
        with self._lock:
            slot = self._slots.pop(key, None)
        run_path = self._run_path(key)
        if slot is not None:
            self._halt([slot])
            proc = slot.process
        else:  # left by an earlier controller
            record = processes.read_run_file(run_path)
            proc = processes.adopt(record) if record else None
        if proc is not None:
            processes.stop([proc], timeout=self.stop_timeout)
            log.info("revision stopped", namespace=namespace, revision=name, pid=proc.pid)
        processes.remove_file(run_path)

    # --- for the controller, the router and the metrics -------------------------------

    def shutdown(self) -> None:
        """Stop every process this runtime started or adopted (no orphans); later
        `ensure` calls start nothing."""
        with self._lock:
            self._closed = True
            held = list(self._slots.values())
            self._slots.clear()
        self._halt(held)
        procs = [s.process for s in held if s.process is not None]
        processes.stop(procs, timeout=self.stop_timeout)
        for s in held:
            processes.remove_file(s.run_path)
        log.info("local runtime shut down", stopped=[p.pid for p in procs])

    def detach(self) -> None:
        """Stop supervising but leave every process running with its run file, as a
        controller killed with SIGKILL would (a later runtime adopts them)."""
        with self._lock:
            self._closed = True
            held = list(self._slots.values())
            self._slots.clear()
        self._halt(held)
        for s in held:
            if s.process is not None:
                processes.abandon(s.process)

    def state_of(self, namespace: str, name: str) -> ports.RuntimeState | None:
        """The last known state of a revision this runtime runs, without ensuring it."""
        with self._lock:
            slot = self._slots.get((namespace, name))
            return slot.state() if slot else None

    def endpoint(self, namespace: str, name: str) -> Endpoint:
        """Where the revision serves, or why not (see the module docstring)."""
        with self._lock:
            slot = self._slots.get((namespace, name))
            if slot is not None:
                return Endpoint(slot.url if slot.ready else None)
            if self._closed:
                return Endpoint(None)
        record = processes.read_run_file(self._run_path((namespace, name)))
        left_running = record is not None and processes.adopt(record) is not None
        return Endpoint(None, known=not left_running)

    def url_of(self, namespace: str, name: str) -> str | None:
        """`http://127.0.0.1:<port>` when the revision is ready, else None."""
        with self._lock:
            slot = self._slots.get((namespace, name))
            return slot.url if slot and slot.ready else None

    def ready_revisions(self) -> dict[tuple[str, str], str]:
        """(namespace, revision) → URL of every ready revision."""
        with self._lock:
            return {k: s.url for k, s in self._slots.items() if s.ready}

    def describe(self, namespace: str, name: str) -> ProcessInfo | None:
        with self._lock:
            slot = self._slots.get((namespace, name))
            if slot is None:
                return None
            proc = slot.process
            return ProcessInfo(
                pid=proc.pid if proc else None,
                port=slot.port,
                restarts=slot.restarts,
                adopted=proc.adopted if proc else False,
                log_path=slot.log_path,
                run_path=slot.run_path,
            )

    # --- starting and adopting (under the lock) ---------------------------------------

    def _new_slot(
        self,
        key: _Key,
        rev: revision.Revision,
        launch: podtemplate.Launch,
        notices: tuple[ports.RevisionNotice, ...],
    ) -> slots.Slot:
        ours = {"ROLLOUT_REVISION": key[1], "ROLLOUT_SERVICE": rev.spec.service}
        env = {k: v for k, v in os.environ.items() if k in INHERITED_ENV or k.startswith("LC_")}
        env.update({**launch.env, **ours})
        return slots.Slot(
            key=key,
            argv=list(launch.argv),
            env=env,
            cwd=launch.workdir.path,
            probe=launch.readiness,
            log_path=self.logs_dir / f"{key[0]}.{key[1]}.log",
            run_path=self._run_path(key),
            backoff=self.timing.backoff,
            variables={**launch.env, **ours},
            cwd_origin=launch.workdir.origin,
            notices=notices,
        )

    def _run_path(self, key: _Key) -> Path:
        return self.run_dir / f"{key[0]}.{key[1]}.json"

    def _begin(
        self,
        slot: slots.Slot,
        record: processes.RunRecord | None,
        proc: processes.Process | None,
        probed: processes.ProbeResult | None,
    ) -> None:
        """Adopt `proc` (what the run file names, still running) with the result of its
        probe, else start a process."""
        now = time.monotonic()
        if record is None or proc is None or probed is None:
            if record is not None:
                log.info("stale run file", namespace=slot.key[0], revision=slot.key[1])
                slot.port = record.port  # keep its URL if the port is free
            self._start(slot, now)
            return
        slot.process, slot.port, slot.restarts = proc, record.port, record.restarts
        slot.message = slot.waiting()
        slots.probed(slot, probed, now, self.timing)  # ready only if the probe passed
        log.info(
            "revision adopted",
            namespace=slot.key[0],
            revision=slot.key[1],
            pid=proc.pid,
            port=proc.port,
            ready=slot.ready,
            probe=probed.detail,
        )

    def _start(self, slot: slots.Slot, now: float) -> None:
        slot.port = processes.free_port(slot.port or None)
        port = str(slot.port)
        env = {**slot.env, "PORT": port}
        variables = {**slot.variables, "PORT": port}
        argv = [podenv.expand(arg, variables.get) for arg in slot.argv]
        where = f"{slot.cwd} ({slot.cwd_origin})"
        _note(slot.log_path, f"starting {argv} on port {slot.port} in {where}")
        try:
            proc = processes.spawn(
                argv,
                env=env,
                cwd=slot.cwd,
                log_path=slot.log_path,
                port=slot.port,
                umask=files.user_umask(),
            )
        except (OSError, ValueError) as e:
            cause = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            missing = getattr(e, "filename", None)
            if missing:
                cause = f"{cause}: {missing}"
            why = f"cannot start {argv[0]!r} in {where}: {cause}"
            _note(slot.log_path, why)
            slots.down(slot, why, now, self.timing)
            return
        slots.started(slot, proc, now)
        record = processes.RunRecord(
            pid=proc.pid,
            port=proc.port,
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            proc_start=proc.proc_start,
            restarts=slot.restarts,
        )
        try:
            processes.write_run_file(slot.run_path, record)
        except OSError as e:  # it runs and is supervised, but cannot be adopted later
            log.error("cannot write run file", path=str(slot.run_path), error=str(e))
        log.info(
            "revision started",
            namespace=slot.key[0],
            revision=slot.key[1],
            pid=proc.pid,
            port=proc.port,
            restarts=slot.restarts,
        )

    # --- supervising ------------------------------------------------------------------

    def _supervise(self, slot: slots.Slot) -> None:
        while not slot.stop.is_set():
            try:
                delay = self._tick(slot)
            except Exception:
                log.exception("supervisor error", namespace=slot.key[0], revision=slot.key[1])
                delay = self.timing.probe_interval
            slot.stop.wait(delay)

    def _tick(self, slot: slots.Slot) -> float:
        """One look: exits, due restarts, stability, then the probe if due; returns the
        seconds until the next thing to do."""
        now = time.monotonic()
        with self._lock:
            before = slot.state()
            if slot.process is not None:
                why = slot.process.exit_status()
                if why is not None:
                    slot.process.kill_stragglers()
                    _note(slot.log_path, why)
                    slots.down(slot, why, now, self.timing)
            elif slot.restart_at is not None and now >= slot.restart_at:
                slot.restarts += 1
                slot.streak += 1
                self._start(slot, now)
            slots.steady(slot, now, self.timing)
            proc = slot.process
            due = proc is not None and now >= slot.next_probe
        if due and proc is not None:
            result = _probe(slot.probe, proc.port)
            with self._lock:
                if slot.process is proc:
                    slots.probed(slot, result, time.monotonic(), self.timing)
        with self._lock:
            after = slot.state()
            wake = slots.next_wake(slot, time.monotonic(), self.timing)
        if after != before and not slot.stop.is_set():
            self._notify(slot, after)
        return max(wake - time.monotonic(), 0.0)

    def _notify(self, slot: slots.Slot, state: ports.RuntimeState) -> None:
        log.info(
            "revision state",
            namespace=slot.key[0],
            revision=slot.key[1],
            ready=state.ready,
            reason=state.reason,
            restarts=state.restarts,
        )
        if self.on_change is None:
            return
        try:
            self.on_change(*slot.key)
        except Exception:
            log.exception("on_change failed", namespace=slot.key[0], revision=slot.key[1])

    def _halt(self, held: list[slots.Slot]) -> None:
        """Stop the supervisors (not the processes) and wait for them."""
        for s in held:
            s.stop.set()
        for s in held:
            if s.thread is not None and s.thread is not threading.current_thread():
                s.thread.join()


def _probe(readiness: slots.Readiness, port: int) -> processes.ProbeResult:
    timeout = float(readiness.timeout_seconds)
    if readiness.tcp:
        return processes.probe_tcp(port, timeout=timeout)
    return processes.probe(port, readiness.path, timeout=timeout, headers=readiness.headers)


def _notices(ignored: tuple[str, ...]) -> tuple[ports.RevisionNotice, ...]:
    """`IgnoredOnLocal` when the template has fields the local platform does not honour."""
    if not ignored:
        return ()
    return (
        ports.RevisionNotice(
            type=condition.ConditionType.IGNORED_ON_LOCAL,
            reason="NotHonouredLocally",
            message=", ".join(ignored),
        ),
    )


def _this_host(state_dir: Path) -> podtemplate.Host:
    """This machine as the pod's node: its name; its cores, memory and disk (where the
    state dir is) as the capacity an unset limit reads as."""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        pages = 0
    try:
        disk = shutil.disk_usage(state_dir).total
    except OSError:
        disk = 0
    return podtemplate.Host(
        node_name=socket.gethostname(),
        capacity=podenv.Capacity(
            cpu=decimal.Decimal(os.cpu_count() or 1),
            memory=decimal.Decimal(pages),
            ephemeral_storage=decimal.Decimal(disk),
        ),
    )


def _note(log_path: Path, line: str) -> None:
    """A line of the runtime's own in the revision's log (starts, exits)."""
    try:
        with open(log_path, "a", encoding="utf-8") as f:
            f.write(f"[rollout] {line}\n")
    except OSError:
        pass
