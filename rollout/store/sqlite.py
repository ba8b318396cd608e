"""The SQLite store: the Store contract in one file (`<state-dir>/state.db`), shared by
the CLI and the controller — separate processes — and the controller's worker threads.

The file — its schema, opening modes (`create`, `write`, `read`), permissions, schema
upgrades and error messages — is `sqlitefile`'s; its names are re-exported here. Opening
writes nothing when the schema is current: the version is read in a read transaction
and only an older file is upgraded under `BEGIN IMMEDIATE`.

A resourceVersion is the rowid of an `events` row: one counter across kinds, like etcd's
revision. Every write is one `BEGIN IMMEDIATE` transaction (read, check the
precondition, write the object and its events), so the precondition holds across
processes; in a process a lock queues writers, across processes SQLite's busy handler
waits up to `busy_timeout` (then `Busy`). The log keeps at least the last `log_size`
events (pruned back to that once it holds twice as many, looked at every
`min(log_size, PRUNE_EVERY)` writes); `watch` from older raises `Expired`. `watch`
polls `PRAGMA data_version` (another connection committed) every `POLL` seconds, and
wakes at once on a write of its kind by this process (a condition per kind: a write
wakes only its kind's watchers). Objects are parsed outside transactions. A row
that no longer decodes (written by an older version, or edited) is listed apart
(`Listed.invalid`, with the message `rollout validate` would give) and can still be
updated — how `rollout apply` fixes it —, have its status written
(`update_invalid_status`: the controller's `InvalidSpec` condition) and be deleted.
`delete` takes what the object owns with it in the same transaction; a `create` naming
an owner that no longer exists is a `Conflict` (its writer read the owner before it
was deleted: it reads again), so nothing outlives a deleted Service.

What a write may change is decided by `objects` (shared with `memory`); this module only
keeps the bytes and makes writes atomic. One connection per thread (and per process,
after a fork). Called through the `port.Store` protocol only.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import os
import pathlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from rollout.api import kinds
from rollout.api.meta import ObjectMeta
from rollout.store import errors, objects, port, sqlitefile
from rollout.store.sqlitefile import (
    BUSY_TIMEOUT,
    MODES,
    SCHEMA_VERSION,
    Mode,
    unusable_dir,
)

__all__ = [
    "BUSY_TIMEOUT",
    "MODES",
    "POLL",
    "PRUNE_EVERY",
    "SCHEMA_VERSION",
    "Mode",
    "SqliteStore",
    "unusable_dir",
]

POLL = 0.05  # seconds between two looks for another process's writes in `watch`
PRUNE_EVERY = 64  # writes between two looks at the log's length

_Key = sqlitefile.Key
_Rule = Callable[..., str]  # objects.updated / objects.status_updated
_WHERE_KEY = sqlitefile.WHERE_KEY
_one = sqlitefile.one
_index_labels = sqlitefile.index_labels


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _not_found(key: _Key) -> errors.NotFound:
    return errors.NotFound(f"{key[0]} {key[1]}/{key[2]} not found")


def _row(conn: sqlite3.Connection, key: _Key) -> Any:
    """(uid, body) of the object at `key`, or None."""
    return conn.execute(f"SELECT uid, body FROM objects WHERE {_WHERE_KEY}", key).fetchone()


def _event(conn: sqlite3.Connection, rv: int, kind: str, type_: port.EventType, body: str) -> None:
    conn.execute("INSERT INTO events VALUES (?, ?, ?, ?)", (rv, kind, type_.value, body))


def _uid_missing(conn: sqlite3.Connection, uid: str) -> bool:
    return conn.execute("SELECT 1 FROM objects WHERE uid = ?", (uid,)).fetchone() is None


def _last_rv(conn: sqlite3.Connection) -> int:
    # The newest event is never pruned, so MAX(rv) is the counter.
    return int(_one(conn, "SELECT MAX(rv) FROM events") or 0)


class SqliteStore:
    """A Store in one SQLite file. Safe for threads and for several processes."""

    def __init__(
        self,
        path: pathlib.Path,
        *,
        now: Callable[[], datetime] = _utcnow,
        log_size: int = 10_000,
        mode: Mode = "create",
        busy_timeout: float = BUSY_TIMEOUT,
    ) -> None:
        if log_size < 1:
            raise ValueError("log_size must be at least 1")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.path = path
        self.mode = mode
        self._now = now
        self._log_size = log_size
        self._busy_timeout = busy_timeout
        self._immutable = False  # read mode, read-only dir and no -wal: nobody writes
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()  # guards _connections and _closed
        self._closed = False
        self._write_lock = threading.Lock()
        # Notified after each commit of this process that wrote objects of that kind.
        self._changed = {kind: threading.Condition() for kind in kinds.KINDS}
        self._commits = dict.fromkeys(kinds.KINDS, 0)  # by kind, counted under _changed
        try:
            sqlitefile.prepare(self.path, self.mode)
            self._migrate()
        except BaseException:
            self.close()
            raise

    # --- the file, connections and transactions ---------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        with self._lock:
            if self._closed:
                raise errors.StoreError(f"store {self.path} is closed")
            try:
                conn = sqlitefile.connect(
                    self.path,
                    self.mode,
                    immutable=self._immutable,
                    busy_timeout=self._busy_timeout,
                )
            except sqlite3.Error as exc:
                raise self._error(exc) from exc
            self._connections.append(conn)
        self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def _error(self, exc: sqlite3.Error) -> errors.StoreError:
        """The StoreError that says what went wrong with `exc`, with the path."""
        return sqlitefile.translate(self.path, exc, busy_timeout=self._busy_timeout)

    @contextlib.contextmanager
    def _tx(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        """A transaction: `BEGIN IMMEDIATE` (writes, then prune the log) or a snapshot read."""
        if write and self.mode == "read":
            raise errors.StoreError(f"store {self.path} is open read-only: no writes")
        conn = self._conn()
        touched: set[str] = set()
        self._local.touched = touched
        try:
            with self._write_lock if write else contextlib.nullcontext():
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield conn
                    if write:
                        self._prune(conn)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        for kind in touched:
            with self._changed[kind]:
                self._commits[kind] += 1
                self._changed[kind].notify_all()

    def _touch(self, kind: str) -> None:
        """Wake `kind`'s watchers when the current write transaction commits."""
        self._local.touched.add(kind)

    def _look(self) -> tuple[int, int]:
        """(schema version, number of schema objects), in a read transaction."""
        with self._tx(write=False) as conn:
            version = int(_one(conn, "PRAGMA user_version"))
            count = int(_one(conn, "SELECT COUNT(*) FROM sqlite_master"))
        return version, count

    def _reopen_immutable(self) -> None:
        """Read mode in a read-only dir with no -wal: nobody can be writing, read the
        file as it is (SQLite cannot make its -shm there)."""
        self._immutable = True
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()

    def _migrate(self) -> None:
        """Check the schema; create or upgrade it (writing only then)."""
        try:
            version, count = self._look()
        except errors.Unusable:
            wal = self.path.with_name(self.path.name + "-wal")
            directory = self.path.parent
            if self.mode != "read" or os.access(directory, os.W_OK) or wal.exists():
                raise
            self._reopen_immutable()
            version, count = self._look()
        if sqlitefile.needs_upgrade(self.path, self.mode, version=version, count=count):
            with self._tx(write=True) as conn:
                sqlitefile.upgrade(conn)

    def _prune(self, conn: sqlite3.Connection) -> None:
        last = _last_rv(conn)
        if last % min(self._log_size, PRUNE_EVERY):
            return
        # Two queries: SQLite answers MIN and MAX of a rowid by a seek only one at a time.
        first = _one(conn, "SELECT MIN(rv) FROM events")
        if first is not None and last - int(first) + 1 > 2 * self._log_size:
            conn.execute("DELETE FROM events WHERE rv <= ?", (last - self._log_size,))

    # --- reads ------------------------------------------------------------------------

    def get(self, kind: str, namespace: str, name: str) -> kinds.Resource:
        objects.kind_of(kind)
        key = (kind, namespace, name)
        with self._tx(write=False) as conn:
            row = _row(conn, key)
        if row is None:
            raise _not_found(key)
        return objects.loads(kind, row[1], key=key, context=objects.STORED)

    def list(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        labels: Mapping[str, str] | None = None,
    ) -> port.Listed:
        objects.kind_of(kind)
        sql, args = "SELECT o.namespace, o.name, o.body FROM objects o", []
        if labels:  # candidates by one label through its index; the rest checked below
            key, value = next(iter(labels.items()))
            sql += (
                " JOIN labels l ON l.kind = o.kind AND l.namespace = o.namespace"
                " AND l.name = o.name AND l.key = ? AND l.value = ?"
            )
            args += [key, value]
        sql, args = sql + " WHERE o.kind = ?", [*args, kind]
        if namespace is not None:
            sql, args = sql + " AND o.namespace = ?", [*args, namespace]
        with self._tx(write=False) as conn:
            rv = _last_rv(conn)
            rows = conn.execute(sql + " ORDER BY o.namespace, o.name", args).fetchall()
        keys = [(kind, ns, name) for ns, name, _ in rows]
        items, invalid = objects.load_each(
            kind, [text for _, _, text in rows], keys, context=objects.STORED
        )
        items = [o for o in items if objects.matches(o, namespace, labels)]
        return port.Listed(items, str(rv), invalid)

    # --- writes -----------------------------------------------------------------------

    def create(self, obj: kinds.Resource) -> kinds.Resource:
        with self._tx(write=True) as conn:
            rv = _last_rv(conn) + 1
            new = objects.created(obj, resource_version=str(rv), now=self._now())
            key = port.key_of(new)
            if _row(conn, key) is not None:
                raise errors.AlreadyExists(f"{key[0]} {key[1]}/{key[2]} already exists")
            for ref in new.metadata.owner_references:
                if _uid_missing(conn, ref.uid):  # deleted since the writer read it
                    raise errors.Conflict(  # read again (a cluster's GC would collect it)
                        f"{key[0]} {key[1]}/{key[2]}: its owner {ref.kind} {ref.name}"
                        " no longer exists"
                    )
            text = objects.dumps(new)
            self._put(conn, rv, key, text, port.EventType.ADDED, new.metadata, uid=new.metadata.uid)
        return objects.loads(key[0], text)

    def update(self, obj: kinds.Resource) -> kinds.Resource:
        return objects.loads(obj.kind, self._write(obj, objects.updated, owners=True)[0])

    def update_status(self, obj: kinds.Resource) -> kinds.Resource:
        return objects.loads(obj.kind, self._write(obj, objects.status_updated, owners=False)[0])

    def update_status_version(self, obj: kinds.Resource) -> str:
        """`port.QuietStatusWrites`: no object parsed."""
        return str(self._write(obj, objects.status_updated, owners=False)[1])

    def update_invalid_status(self, obj: port.InvalidObject, status: Mapping[str, Any]) -> str:
        def rule(stored: str, _: object, *, resource_version: str) -> str:
            return objects.invalid_status_updated(
                stored, obj, status, resource_version=resource_version
            )

        return str(self._write(obj, rule, owners=False)[1])

    def _write(
        self, obj: kinds.Resource | port.InvalidObject, rule: _Rule, *, owners: bool
    ) -> tuple[str, int]:
        """Apply `rule` to the stored object in one transaction; the JSON stored and its
        resourceVersion."""
        key = obj.key if isinstance(obj, port.InvalidObject) else port.key_of(obj)
        objects.kind_of(key[0])
        with self._tx(write=True) as conn:
            row = _row(conn, key)
            if row is None:
                raise _not_found(key)
            rv = _last_rv(conn) + 1
            text = rule(row[1], obj, resource_version=str(rv))
            meta = obj.metadata if owners else None  # a status write keeps labels and owners
            self._put(conn, rv, key, text, port.EventType.MODIFIED, meta)
        return text, rv

    def _put(
        self,
        conn: sqlite3.Connection,
        rv: int,
        key: _Key,
        text: str,
        type_: port.EventType,
        meta: ObjectMeta | None,
        *,
        uid: str | None = None,
    ) -> None:
        """Write `text` at `key` and log it; `meta` (None: unchanged) for labels and owner
        references; `uid` for a new row."""
        self._touch(key[0])
        conn.execute(
            "INSERT INTO objects (kind, namespace, name, uid, body) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (kind, namespace, name) DO UPDATE SET body = excluded.body",
            (*key, uid or "", text),
        )
        _event(conn, rv, key[0], type_, text)
        if meta is not None:  # metadata may have changed: owner references and labels
            _index_labels(conn, key, meta)
            conn.execute(f"DELETE FROM owners WHERE {_WHERE_KEY}", key)
            conn.executemany(
                "INSERT INTO owners VALUES (?, ?, ?, ?)",
                [(ref.uid, *key) for ref in meta.owner_references],
            )

    def delete(self, kind: str, namespace: str, name: str) -> None:
        objects.kind_of(kind)
        with self._tx(write=True) as conn:
            if _row(conn, (kind, namespace, name)) is None:
                raise _not_found((kind, namespace, name))
            rv = _last_rv(conn)
            pending: list[_Key] = [(kind, namespace, name)]
            while pending:  # owners first, then what they own, recursively
                key = pending.pop()
                row = _row(conn, key)
                if row is None:  # already deleted through another owner
                    continue
                rv += 1
                self._touch(key[0])
                conn.execute(f"DELETE FROM objects WHERE {_WHERE_KEY}", key)
                conn.execute(f"DELETE FROM owners WHERE {_WHERE_KEY}", key)
                conn.execute(f"DELETE FROM labels WHERE {_WHERE_KEY}", key)
                _event(conn, rv, key[0], port.EventType.DELETED, row[1])
                owned = conn.execute(
                    "SELECT kind, namespace, name FROM owners WHERE owner_uid = ?", (row[0],)
                )
                pending.extend(owned.fetchall())

    # --- watch ------------------------------------------------------------------------

    def watch(self, kind: str, *, since: str, timeout: float) -> Iterator[port.WatchEvent]:
        objects.kind_of(kind)
        after = int(since)
        deadline = time.monotonic() + timeout
        conn = self._conn()
        seen: object = None
        while True:
            commits = self._commits[kind]
            try:
                version = _one(conn, "PRAGMA data_version")
            except sqlite3.Error as exc:
                raise self._error(exc) from exc
            if version != seen:  # someone committed since the last look (or first look)
                seen = version
                rows, after = self._events(kind, after)
                if rows:
                    break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            with self._changed[kind]:
                if self._commits[kind] == commits:  # none of this process's since the look
                    self._changed[kind].wait(min(POLL, remaining))
        for rv, type_, text, namespace, name in rows:  # parsed when read: a cache may have it
            yield port.WatchEvent.parsed_later(
                port.EventType(type_),
                (kind, namespace, name),
                str(rv),
                functools.partial(
                    objects.loads, kind, text, key=(kind, namespace, name), context=objects.STORED
                ),
            )

    def _events(self, kind: str, after: int) -> tuple[builtins.list[tuple[Any, ...]], int]:
        """Events of `kind` after `after`, and where to look from next time."""
        with self._tx(write=False) as conn:
            first = _one(conn, "SELECT MIN(rv) FROM events")
            if first is not None and after < int(first) - 1:
                raise errors.Expired(f"resourceVersion {after} is too old; list again")
            rows = conn.execute(
                "SELECT rv, type, body, json_extract(body, '$.metadata.namespace'),"
                " json_extract(body, '$.metadata.name')"
                " FROM events WHERE kind = ? AND rv > ? ORDER BY rv",
                (kind, after),
            ).fetchall()
            last = _last_rv(conn)
        return rows, after if rows else max(after, last)  # other kinds' events are not ours

    def close(self) -> None:
        """Close every connection; the store cannot be used afterwards."""
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
