"""One controller per state dir: an exclusive lock that names its holder.

`acquire(state_dir, command=…)` takes `flock(LOCK_EX | LOCK_NB)` on
`<state-dir>/controller.lock` and writes the holder into it, one JSON object:
`{"pid", "host", "command", "since"}` (`since`: ISO 8601, UTC). A second controller
on the same state dir gets `Held` with the first one's `Holder`, and the CLI exits 2
with `another controller (pid N, since …) is running on STATE_DIR`.

The lock lives as long as its open file: it is released when the process ends,
however it ends (SIGKILL included) — no stale lock to clean up after a crash. The
descriptor is not inherited (Python opens files close-on-exec), so the revision
processes and the proxy a controller starts, which outlive it on purpose, never hold
it. `holder(state_dir)` reads who holds it now (None when nobody does), for tools and
tests.

Called by `rollout controller` (local and sim platforms) and the demo. I/O: the lock
file only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import pathlib
import socket
import time
from datetime import UTC, datetime
from typing import Any

__all__ = ["LOCK_FILE", "Held", "Holder", "StateLock", "acquire", "holder"]

LOCK_FILE = "controller.lock"


@dataclasses.dataclass(frozen=True)
class Holder:
    pid: int | None
    host: str
    command: str
    since: str

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_text(cls, text: str) -> Holder:
        """The holder a lock file names (fields it lacks: unknown)."""
        try:
            data = json.loads(text)
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        pid = data.get("pid")
        return cls(
            pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
            host=str(data.get("host", "?")),
            command=str(data.get("command", "?")),
            since=str(data.get("since", "?")),
        )


class Held(Exception):
    """Another process holds the lock."""

    def __init__(self, state_dir: pathlib.Path, who: Holder) -> None:
        pid = who.pid if who.pid is not None else "?"
        super().__init__(
            f"another controller (pid {pid}, since {who.since}) is running on {state_dir}"
            f" (host {who.host}: {who.command})"
        )
        self.holder = who


class StateLock:
    """A held lock; `release()` (or the end of the process) lets another take it."""

    def __init__(self, path: pathlib.Path, fd: int, holder: Holder) -> None:
        self.path = path
        self.holder = holder
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the file releases the flock
            self._fd = None


def acquire(state_dir: pathlib.Path, *, command: str) -> StateLock:
    """Lock `state_dir` for this process; `Held` when another holds it. OSError when the
    lock file cannot be opened (the caller reports it)."""
    path = pathlib.Path(state_dir) / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        who = Holder.from_text(_read(fd))
        for _ in range(20):  # the holder may not have written its name yet
            if who.pid is not None:
                break
            time.sleep(0.05)
            who = Holder.from_text(_read(fd))
        os.close(fd)
        raise Held(pathlib.Path(state_dir), who) from None
    except BaseException:
        os.close(fd)
        raise
    me = Holder(
        pid=os.getpid(),
        host=socket.gethostname(),
        command=command,
        since=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    data = (json.dumps(me.to_json()) + "\n").encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
    return StateLock(path, fd, me)


def holder(state_dir: pathlib.Path) -> Holder | None:
    """Who holds the lock of `state_dir` now; None when nobody does."""
    path = pathlib.Path(state_dir) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return Holder.from_text(_read(fd))
        fcntl.flock(fd, fcntl.LOCK_UN)  # we could take it: nobody holds it
        return None
    finally:
        os.close(fd)


def _read(fd: int) -> str:
    return os.pread(fd, 4096, 0).decode(errors="replace")
