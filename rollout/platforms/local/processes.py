"""The operating-system side of the local runtime: starting a revision's process in a
session of its own, signalling its process group, reading /proc to tell a live
process from a reused pid, the run files that let a restarted controller adopt what
it left running, free ports, log tails and the HTTP readiness probe.

No policy: when to start, probe, restart or give up is decided by `runtime`, the only
caller. Linux only (/proc). Never runs anything through a shell.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "ProbeResult",
    "Process",
    "RunRecord",
    "abandon",
    "adopt",
    "free_port",
    "last_lines",
    "parse_stat",
    "probe",
    "probe_tcp",
    "proc_start",
    "read_run_file",
    "remove_file",
    "spawn",
    "stop",
    "tail",
    "write_run_file",
]

_STAT_STATE = 0  # fields after "pid (comm) ": state is field 3 of /proc/<pid>/stat
_STAT_STARTTIME = 19  # field 22: start time in clock ticks after boot


def proc_start(pid: int) -> int | None:
    """The start time of `pid` (field 22 of /proc/<pid>/stat); None when there is no
    such process or it is a zombie (it has exited and only waits to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes().decode(errors="replace")
    except OSError:
        return None
    return parse_stat(stat)


def parse_stat(stat: str) -> int | None:
    """Start time from the text of /proc/<pid>/stat (the command may hold spaces and
    parentheses, so the fields are read after the last ')'); None for a zombie."""
    fields = stat[stat.rfind(")") + 2 :].split()
    if len(fields) <= _STAT_STARTTIME or fields[_STAT_STATE] in ("Z", "X"):
        return None
    try:
        return int(fields[_STAT_STARTTIME])
    except ValueError:
        return None


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """`<state-dir>/run/<namespace>.<revision>.json`: which process serves a revision."""

    pid: int
    port: int
    started_at: str
    proc_start: int
    restarts: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "port": self.port,
            "startedAt": self.started_at,
            "procStart": self.proc_start,
            "restarts": self.restarts,
        }

    @classmethod
    def from_json(cls, data: object) -> RunRecord | None:
        if not isinstance(data, dict):
            return None
        ints = [data.get(k) for k in ("pid", "port", "procStart")]
        if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in ints):
            return None
        restarts = data.get("restarts", 0)
        return cls(
            pid=data["pid"],
            port=data["port"],
            started_at=str(data.get("startedAt", "")),
            proc_start=data["procStart"],
            restarts=restarts if isinstance(restarts, int) and restarts >= 0 else 0,
        )


def write_run_file(path: Path, record: RunRecord) -> None:
    """Write atomically: a reader sees the old record or the new one, never half."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(record.to_json(), f)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        remove_file(Path(tmp))
        raise


def read_run_file(path: Path) -> RunRecord | None:
    """The record, or None when the file is missing or not a valid record."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return RunRecord.from_json(data)


def remove_file(path: Path) -> None:
    path.unlink(missing_ok=True)


def free_port(preferred: int | None = None) -> int:
    """`preferred` when it can be bound on 127.0.0.1 (a restarted process keeps its
    URL), else a port the kernel picks. Another program may take it before the
    revision binds it; the revision then exits and is restarted on a new port."""
    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise OSError("no free port on 127.0.0.1")


@dataclasses.dataclass(frozen=True)
class Process:
    """A revision's process: our child (`popen`) or adopted from an earlier controller
    (polled through /proc). Its pid leads its own process group."""

    pid: int
    proc_start: int
    port: int
    popen: subprocess.Popen[bytes] | None = None

    @property
    def adopted(self) -> bool:
        return self.popen is None

    def exit_status(self) -> str | None:
        """None while it runs; else how it ended ("exited with code 1")."""
        if self.popen is not None:
            code = self.popen.poll()
            return None if code is None else _describe_exit(code)
        if proc_start(self.pid) == self.proc_start:
            return None
        code = _reap(self.pid)
        return "exited" if code is None else _describe_exit(code)

    def signal_group(self, sig: signal.Signals) -> None:
        """Send `sig` to its process group (to the pid alone if it left the group);
        nothing when it is gone or the pid now names another process."""
        if self.popen is not None and self.popen.returncode is not None:
            return  # reaped: the pid may name another process by now
        if self.popen is None and proc_start(self.pid) != self.proc_start:
            return
        try:
            if os.getpgid(self.pid) == self.pid:
                os.killpg(self.pid, sig)
            else:
                os.kill(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def kill_stragglers(self) -> None:
        """SIGKILL what is left of its group after it exited (children it started)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    def wait(self, deadline: float) -> bool:
        """Wait until it exits or `deadline` (time.monotonic) passes; True when it exited."""
        if self.popen is not None:
            try:
                self.popen.wait(timeout=max(deadline - time.monotonic(), 0.0))
            except subprocess.TimeoutExpired:
                return False
            return True
        while self.exit_status() is None:  # not our child: poll /proc
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


def _reap(pid: int) -> int | None:
    """Reap `pid` if it is a child of this process (an adopted process can be, in
    tests); its exit code, or None when it is not ours to reap."""
    try:
        got, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    return os.waitstatus_to_exitcode(status) if got == pid else None


def adopt(record: RunRecord) -> Process | None:
    """The process a run file names, when that process still runs (same start time:
    not a reused pid)."""
    if proc_start(record.pid) != record.proc_start:
        return None
    return Process(pid=record.pid, proc_start=record.proc_start, port=record.port)


def spawn(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    log_path: Path,
    port: int,
    umask: int = -1,
) -> Process:
    """Start `argv` in a new session (it survives the controller), stdout and stderr
    appended to `log_path`, with `umask` (-1: this process's). Raises OSError when it
    cannot be started."""
    with open(log_path, "ab") as log_file:
        popen = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            umask=umask,
        )
    start = proc_start(popen.pid)
    if start is None:  # already exited: keep the handle, the supervisor will see it
        start = 0
    return Process(pid=popen.pid, proc_start=start, port=port, popen=popen)


def stop(procs: Sequence[Process], *, timeout: float) -> None:
    """SIGTERM every group, wait up to `timeout` seconds in all, SIGKILL what is left;
    then SIGKILL stragglers of every group."""
    for p in procs:
        p.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    left = [p for p in procs if not p.wait(deadline)]
    for p in left:
        p.signal_group(signal.SIGKILL)
    for p in left:
        p.wait(time.monotonic() + 5.0)
    for p in procs:
        p.kill_stragglers()


def abandon(proc: Process) -> None:
    """Stop looking after `proc` but leave it running, as a controller killed with
    SIGKILL would. Like init for an orphan, a daemon thread waits for it and reaps it
    whenever it ends, so it never lingers as a zombie or a leaked Popen."""
    if proc.popen is not None:
        threading.Thread(
            target=proc.popen.wait, name=f"rollout-reaper:{proc.pid}", daemon=True
        ).start()


def tail(path: Path, lines: int = 10, max_bytes: int = 8192) -> str:
    """The last `lines` lines of a log file (empty when there is none)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(size - max_bytes, 0))
            data = f.read()
    except OSError:
        return ""
    return "\n".join(data.decode(errors="replace").splitlines()[-lines:])


def last_lines(
    path: Path, *, lines: int = 3, width: int = 200, skip: str = "[rollout] "
) -> tuple[str, ...]:
    """The last `lines` non-blank lines of a log that do not start with `skip` (the
    runtime's own lines), each cut to `width` characters (with "…"): short enough for
    a condition's message."""
    kept = [
        line.rstrip()
        for line in tail(path, lines=50).splitlines()
        if line.strip() and not line.startswith(skip)
    ]
    return tuple(line if len(line) <= width else line[: width - 1] + "…" for line in kept[-lines:])


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    ok: bool
    detail: str  # "200", "500", "connection refused", "timed out after 1s", …
    refused: bool = False  # nothing listens yet: the process is still starting


def probe(
    port: int, path: str, *, timeout: float, headers: Sequence[tuple[str, str]] = ()
) -> ProbeResult:
    """HTTP GET http://127.0.0.1:<port><path> with `headers` (which may replace the
    User-Agent); 2xx and 3xx pass."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"User-Agent": "rollout-probe", **dict(headers)})
        response = conn.getresponse()
        response.read(65536)
    except ConnectionRefusedError:
        return ProbeResult(False, "connection refused", refused=True)
    except TimeoutError:
        return ProbeResult(False, f"timed out after {timeout:g}s")
    except (OSError, http.client.HTTPException) as e:
        return ProbeResult(False, f"{type(e).__name__}: {e}")
    finally:
        conn.close()
    return ProbeResult(200 <= response.status < 400, f"HTTP {response.status}")


def probe_tcp(port: int, *, timeout: float) -> ProbeResult:
    """A TCP connection to 127.0.0.1:<port> (Kubernetes' tcpSocket probe): it passes
    when the connection is accepted."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            pass
    except ConnectionRefusedError:
        return ProbeResult(False, "connection refused", refused=True)
    except TimeoutError:
        return ProbeResult(False, f"timed out after {timeout:g}s")
    except OSError as e:
        return ProbeResult(False, f"{type(e).__name__}: {e}")
    return ProbeResult(True, "connected")
