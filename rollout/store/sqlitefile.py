"""The SQLite state file itself: its schema, opening it in a mode, its connections'
settings, upgrading the schema, and saying in one line what went wrong.

Schema version 2 (`PRAGMA user_version`, created on first open; a version 1 file
gets its labels indexed):

    objects(kind, namespace, name, uid, body)        one row per object, JSON (`objects.dumps`)
    owners(owner_uid, kind, namespace, name)         owner references, for cascade delete
    labels(kind, namespace, name, key, value)        labels, so a selector reads only matches
    events(rv INTEGER PRIMARY KEY, kind, type, body) append-only change log, serves `watch`

Opening (`mode`):

    create  the state dir (0700, `files.secure_dir`) and `state.db` (0600) are made if
            missing, the schema created or upgraded: `apply`, the controller
    write   an existing state only (`NoState` otherwise): the release commands
    read    read-only connections (`mode=ro`): never writes, never creates, never takes
            the write lock, so `get`, `status --watch` and `history` never hold up the
            controller; a read-only state dir without a `-wal` file (nobody can be
            writing) is read as an immutable file

The file's -wal and -shm take its mode (SQLite copies it), so `state.db` is created
0600 and an existing one of the user's is tightened to it. WAL lets readers run beside
the writer; `synchronous=NORMAL` may lose the last commits on power loss (never the
file) and saves an fsync per write.

Every SQLite or file-system failure leaves as a `StoreError` naming the path and the
cause (`translate`, `unusable_dir`): `Busy` (locked past the wait, naming the holder's
pid and command line when the kernel's lock table says: `store.locks`), `Unusable`
(not a directory, no permission, read-only, not a database, corrupted, newer schema),
`NoState` (nothing to read).

Functions of a path and a connection, no state of their own; called by `store.sqlite`
only, which owns the connections and the transactions.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import sqlite3
import stat
from typing import Any, Literal

from rollout import files
from rollout.api.meta import ObjectMeta
from rollout.store import errors, locks, objects

__all__ = [
    "BUSY_TIMEOUT",
    "MODES",
    "SCHEMA_VERSION",
    "WHERE_KEY",
    "Key",
    "Mode",
    "connect",
    "index_labels",
    "needs_upgrade",
    "one",
    "prepare",
    "translate",
    "unusable_dir",
    "upgrade",
]

SCHEMA_VERSION = 2
BUSY_TIMEOUT = 10.0  # seconds a write waits for another process's transaction

Mode = Literal["read", "write", "create"]
MODES: tuple[Mode, ...] = ("read", "write", "create")

Key = tuple[str, str, str]
WHERE_KEY = "kind = ? AND namespace = ? AND name = ?"

_FILES = ("", "-wal", "-shm")  # suffixes of the files SQLite keeps: state.db, -wal, -shm

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS objects (
        kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
        uid TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (kind, namespace, name))""",
    """CREATE TABLE IF NOT EXISTS owners (
        owner_uid TEXT NOT NULL,
        kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS owners_by_owner ON owners (owner_uid)",
    "CREATE INDEX IF NOT EXISTS owners_by_object ON owners (kind, namespace, name)",
    """CREATE TABLE IF NOT EXISTS events (
        rv INTEGER PRIMARY KEY, kind TEXT NOT NULL, type TEXT NOT NULL, body TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS events_by_kind ON events (kind, rv)",
    """CREATE TABLE IF NOT EXISTS labels (
        kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
        key TEXT NOT NULL, value TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS labels_by_label ON labels (kind, key, value)",
    "CREATE INDEX IF NOT EXISTS labels_by_object ON labels (kind, namespace, name)",
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)


def one(conn: sqlite3.Connection, sql: str, args: tuple[object, ...] = ()) -> Any:
    """The first column of the first row of `sql`, or None."""
    row = conn.execute(sql, args).fetchone()
    return None if row is None else row[0]


def index_labels(conn: sqlite3.Connection, key: Key, meta: ObjectMeta) -> None:
    """Replace the label rows of the object at `key` with `meta`'s labels."""
    conn.execute(f"DELETE FROM labels WHERE {WHERE_KEY}", key)
    conn.executemany(
        "INSERT INTO labels VALUES (?, ?, ?, ?, ?)",
        [(*key, k, v) for k, v in meta.labels.items()],
    )


# --- opening ------------------------------------------------------------------------


def unusable_dir(directory: pathlib.Path, exc: OSError) -> errors.Unusable:
    """The state dir `directory` cannot be made or used: say why in one line."""
    for ancestor in (directory, *directory.parents):
        try:
            st = ancestor.stat()
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode):
            where = "it" if ancestor == directory else str(ancestor)
            return errors.Unusable(
                f"state dir {directory} cannot be used: {where} is not a directory"
            )
        break
    cause = (exc.strerror or str(exc)).lower()
    culprit = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(directory) else ""
    return errors.Unusable(f"state dir {directory} cannot be used: {cause}{culprit}")


def prepare(path: pathlib.Path, mode: Mode) -> None:
    """Make the state dir and file (create mode), or check that they are there."""
    directory = path.parent
    if mode == "create":
        try:
            files.secure_dir(directory)
        except OSError as exc:
            raise unusable_dir(directory, exc) from exc
        try:
            os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass
        except OSError as exc:
            raise unusable_dir(directory, exc) from exc
    try:
        st = path.stat()
    except FileNotFoundError:
        if directory.exists() and not directory.is_dir():
            raise errors.Unusable(
                f"state dir {directory} cannot be used: it is not a directory"
            ) from None
        raise errors.NoState(f"no state in {directory}") from None
    except OSError as exc:
        raise unusable_dir(directory, exc) from exc
    if not stat.S_ISREG(st.st_mode):
        raise errors.Unusable(f"{path} cannot be used: it is not a regular file")
    wanted = os.R_OK if mode == "read" else os.R_OK | os.W_OK
    if not os.access(path, wanted):
        raise errors.Unusable(
            f"{path} cannot be used: permission denied (owner uid {st.st_uid},"
            f" mode {stat.S_IMODE(st.st_mode):04o})"
        )
    if mode != "read":  # the user's dir and files from before 0700/0600
        for each in (directory, *(path.with_name(path.name + n) for n in _FILES)):
            with contextlib.suppress(OSError):  # gone, or not ours to change
                files.tighten(each)


def connect(
    path: pathlib.Path, mode: Mode, *, immutable: bool, busy_timeout: float
) -> sqlite3.Connection:
    """A new connection to `path` in `mode` (autocommit: the caller opens transactions)."""
    query = {"read": "mode=ro", "write": "mode=rw", "create": "mode=rw"}[mode]
    if immutable:
        query += "&immutable=1"
    conn = sqlite3.connect(
        f"{path.absolute().as_uri()}?{query}",
        uri=True,
        timeout=busy_timeout,
        isolation_level=None,
        check_same_thread=False,
    )
    try:
        if mode != "read":
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
    except BaseException:
        conn.close()
        raise
    return conn


def translate(path: pathlib.Path, exc: sqlite3.Error, *, busy_timeout: float) -> errors.StoreError:
    """The StoreError that says what went wrong with `exc`, with the path."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    directory = path.parent
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        pids = locks.holders([path, path.with_name(path.name + "-shm")])
        who = ", ".join(map(locks.describe, pids)) or "another process"
        return errors.Busy(
            f"{path} is locked by {who}; gave up after {busy_timeout:g} s, try again"
        )
    if name == "SQLITE_NOTADB":
        return errors.Unusable(
            f"{path} is not a rollout state database ({exc}): move it away or use another state dir"
        )
    if name.startswith("SQLITE_CORRUPT"):
        return errors.Unusable(
            f"{path} is corrupted ({exc}): restore it from a backup or move it away"
        )
    if name == "SQLITE_READONLY_DIRECTORY" or (
        name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN"))
        and not os.access(directory, os.W_OK)
    ):
        return errors.Unusable(
            f"state dir {directory} is read-only: SQLite must create {path.name}-wal"
            f" and {path.name}-shm beside {path.name} ({exc})"
        )
    if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")):
        return errors.Unusable(f"{path} cannot be used: {exc}")
    if name.startswith(("SQLITE_IOERR", "SQLITE_FULL")):
        return errors.Unusable(f"{path}: {exc}")
    return errors.StoreError(f"{path}: {exc}")


# --- the schema ---------------------------------------------------------------------


def needs_upgrade(path: pathlib.Path, mode: Mode, *, version: int, count: int) -> bool:
    """Whether a file of schema `version` with `count` schema objects must be created or
    upgraded (in create or write mode); raises when it cannot be used as it is."""
    if version > SCHEMA_VERSION:
        raise errors.Unusable(
            f"{path} has schema version {version}, newer than this rollout's"
            f" ({SCHEMA_VERSION}): upgrade rollout"
        )
    if version == SCHEMA_VERSION:
        return False
    if version == 0 and count:
        raise errors.Unusable(
            f"{path} is not a rollout state database (it has tables of another"
            " program): move it away or use another state dir"
        )
    if mode != "create" and version == 0:
        raise errors.NoState(f"no state in {path.parent}")
    if mode == "read":
        raise errors.Unusable(
            f"{path} has schema version {version}: run a command that writes"
            " (`rollout apply`, `rollout controller`) once to upgrade it"
        )
    return True


def upgrade(conn: sqlite3.Connection) -> None:
    """Create or upgrade the schema, in the caller's write transaction."""
    version = int(one(conn, "PRAGMA user_version"))  # another may have upgraded it
    if version < SCHEMA_VERSION:
        for statement in _SCHEMA:
            conn.execute(statement)
    if 1 <= version < 2:  # labels came with version 2: index what is there
        for kind, namespace, name, body in conn.execute(
            "SELECT kind, namespace, name, body FROM objects"
        ).fetchall():
            index_labels(conn, (kind, namespace, name), objects.loads(kind, body).metadata)
