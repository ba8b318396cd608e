"""Private files: what rollout writes under a state directory is for its user alone.

The CLI and the controller run with the umask `PRIVATE_UMASK` (0o077: directories
0700, files 0600) from `private()`, called once at the entry point
(`rollout.cli.main.main`); the state directory itself is made 0700 by `secure_dir`,
or tightened to it when it already exists and belongs to the user (group and other
bits removed, never bits added: a read-only directory stays read-only; a sticky
directory such as /tmp is shared by design and left alone). Files that must be
private even when the umask was not set (a library caller, a test) are created 0600
by `write_private` or tightened by `tighten`. Processes rollout starts for revisions
get the umask the user had (`user_umask()`), so an application's own files are
created as its owner expects.

I/O: the process umask, directory and file modes. Must not decide where files go.
Called by the CLI entry point, the stores, the CLI's clock file, the local runtime
and the proxy.
"""

from __future__ import annotations

import os
import pathlib
import stat

__all__ = [
    "PRIVATE_UMASK",
    "private",
    "secure_dir",
    "tighten",
    "user_umask",
    "write_private",
]

PRIVATE_UMASK = 0o077
_user_umask: int | None = None


def private() -> None:
    """Set the private umask for this process, remembering the user's."""
    global _user_umask
    previous = os.umask(PRIVATE_UMASK)
    if _user_umask is None:
        _user_umask = previous


def user_umask() -> int:
    """The umask the user had before `private()` (the current one if it was not called)."""
    if _user_umask is not None:
        return _user_umask
    current = os.umask(0)
    os.umask(current)
    return current


def tighten(path: pathlib.Path) -> None:
    """Remove the group and other bits of `path` when it is the user's (not sticky)."""
    st = path.stat()
    if st.st_uid == os.getuid() and st.st_mode & 0o077 and not st.st_mode & stat.S_ISVTX:
        path.chmod(stat.S_IMODE(st.st_mode) & ~0o077)


def secure_dir(path: pathlib.Path) -> pathlib.Path:
    """Create `path` (and parents) with mode 0700, or tighten it if it is the user's.

    Raises OSError when it cannot be made (a file is in the way: FileExistsError or
    NotADirectoryError; no permission: PermissionError)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    tighten(path)
    return path


def write_private(path: pathlib.Path, text: str) -> None:
    """Replace `path` by `text` atomically (a temporary file renamed), mode 0600."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an older temporary file keeps its mode through O_CREAT
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            fd = -1
            out.write(text)
    finally:
        if fd != -1:
            os.close(fd)
    tmp.replace(path)
