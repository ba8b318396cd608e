"""Opening a store by name, and finding the state directory it lives in.

    open_store("sqlite", state_dir=d)   `d/state.db` (the local platform, shared by processes)
    open_store("memory", state_dir=d)   nothing on disk (tests, rehearsal)

The state directory is `--state-dir`, else `$ROLLOUT_STATE_DIR`, else `./.rollout`
(DESIGN §6). With `mode="create"` (the default) sqlite makes it 0700 (or tightens it
when it is the user's) and `state.db` 0600; `read` and `write` open only what exists
(`sqlite.SqliteStore`). The Kubernetes store is opened by its own platform, not here.

Called by the CLI and the controller's entry point.
"""

from __future__ import annotations

import os
import pathlib

from rollout.store import memory, port, sqlite

__all__ = [
    "BACKENDS",
    "DB_FILE",
    "DEFAULT_STATE_DIR",
    "STATE_DIR_ENV",
    "open_store",
    "resolve_state_dir",
]

BACKENDS = ("memory", "sqlite")
DB_FILE = "state.db"
DEFAULT_STATE_DIR = ".rollout"
STATE_DIR_ENV = "ROLLOUT_STATE_DIR"


def open_store(
    backend: str, *, state_dir: pathlib.Path, mode: sqlite.Mode = "create"
) -> port.Store:
    """A new store of `backend` (one of `BACKENDS`); sqlite keeps `state_dir/state.db`,
    opened in `mode`."""
    if backend == "memory":
        return memory.MemoryStore()
    if backend == "sqlite":
        return sqlite.SqliteStore(state_dir / DB_FILE, mode=mode)
    raise ValueError(f"unknown store backend {backend!r}; choose one of: {', '.join(BACKENDS)}")


def resolve_state_dir(flag: str | None) -> pathlib.Path:
    """The state directory: `flag`, else `$ROLLOUT_STATE_DIR`, else `./.rollout`."""
    chosen = flag or os.environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR
    return pathlib.Path(chosen).expanduser()
