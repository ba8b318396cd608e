"""Who holds a file lock: the processes named by the kernel's lock table.

SQLite does not say which process holds its lock, so a store that gave up waiting
asks the operating system: on Linux `/proc/locks` lists every POSIX lock with its
owner's pid and the file's device and inode, and `/proc/PID/cmdline` names the
process. Elsewhere (or when /proc is not readable) nothing is known and `holders`
returns an empty list: the message then says "another process".

I/O: reads /proc only; never takes or breaks a lock. Called by `store.sqlite` when a
lock wait times out.
"""

from __future__ import annotations

import os
import pathlib

__all__ = ["LOCKS_FILE", "describe", "holders"]

LOCKS_FILE = pathlib.Path("/proc/locks")
_CMDLINE_MAX = 80  # characters of a holder's command line shown


def _file_id(path: pathlib.Path) -> tuple[int, int, int] | None:
    """(major, minor, inode) of `path`, as /proc/locks writes them; None if absent."""
    try:
        st = path.stat()
    except OSError:
        return None
    return os.major(st.st_dev), os.minor(st.st_dev), st.st_ino


def _parse(line: str) -> tuple[int, tuple[int, int, int]] | None:
    """(pid, (major, minor, inode)) of a WRITE lock line, else None.

    A line: `1: POSIX  ADVISORY  WRITE 15240 fe:00:2155570 120 120` (a waiting lock
    has `->` after the number and is not a holder)."""
    fields = line.split()
    if len(fields) < 6 or "->" in fields or fields[3] != "WRITE":
        return None
    try:
        pid = int(fields[4])
        major, minor, inode = fields[5].split(":")
        return pid, (int(major, 16), int(minor, 16), int(inode))
    except ValueError:
        return None


def holders(paths: list[pathlib.Path], *, table: pathlib.Path = LOCKS_FILE) -> list[int]:
    """Pids holding a write lock on any of `paths`, in the order of the lock table."""
    wanted = {fid for fid in map(_file_id, paths) if fid is not None}
    try:
        text = table.read_text()
    except OSError:
        return []
    found: list[int] = []
    for line in text.splitlines():
        parsed = _parse(line)
        if parsed is not None and parsed[1] in wanted and parsed[0] not in (*found, -1):
            found.append(parsed[0])
    return found


def describe(pid: int) -> str:
    """`pid 123 (rollout controller …)`, or `pid 123` when its command line is unknown."""
    if pid == os.getpid():
        return f"pid {pid} (this process)"
    try:
        raw = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return f"pid {pid}"
    words = [w.decode(errors="replace") for w in raw.split(b"\0") if w]
    if words:
        words[0] = pathlib.Path(words[0]).name
    command = " ".join(words).replace("\n", " ")
    if len(command) > _CMDLINE_MAX:
        command = command[: _CMDLINE_MAX - 1] + "…"
    return f"pid {pid} ({command})" if command else f"pid {pid}"
