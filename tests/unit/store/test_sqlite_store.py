"""What only the SQLite store promises: a file that outlives the process, and writers in
several processes at once (the CLI and the controller) losing nothing."""

from __future__ import annotations

import pathlib
import sqlite3
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from rollout.api import meta, route
from rollout.store import errors, port
from rollout.store import sqlite as sqlite_store

WAIT = 60.0  # seconds: an upper bound for a child process; never reached

# A child process: opens the store, says "ready", waits for "go" on stdin (so that all
# children write at the same moment), then does its part and prints the outcome.
CHILD = r"""
import pathlib, sys
from rollout.store import errors, sqlite

store = sqlite.SqliteStore(pathlib.Path(sys.argv[1]))
mode, args = sys.argv[2], sys.argv[3:]
print("ready", flush=True)
sys.stdin.readline()

def with_labels(obj, labels, **more):
    meta = obj.metadata.model_copy(update={"labels": labels, **more})
    return obj.model_copy(update={"metadata": meta})

if mode == "update":  # one update from a given read resourceVersion
    rv, value = args
    obj = store.get("Route", "default", "shared")
    try:
        store.update(with_labels(obj, {"writer": value}, resource_version=rv))
        print("ok")
    except errors.Conflict:
        print("conflict")
elif mode == "increment":  # read-modify-write of label n, retried on Conflict
    conflicts = 0
    for _ in range(int(args[0])):
        while True:
            obj = store.get("Route", "default", "counter")
            try:
                store.update(with_labels(obj, {"n": str(int(obj.metadata.labels["n"]) + 1)}))
                break
            except errors.Conflict:
                conflicts += 1
    print("done", conflicts)
elif mode == "create":
    from rollout.api import meta, route
    new = route.Route(metadata=meta.ObjectMeta(name=args[0]), spec=route.RouteSpec(service="web"))
    store.create(new)
    print("ok")
store.close()
"""


def a_route(name: str, labels: dict[str, str] | None = None) -> route.Route:
    return route.Route(
        metadata=meta.ObjectMeta(name=name, labels=labels or {}),
        spec=route.RouteSpec(service="web"),
    )


def run_together(path: pathlib.Path, *argvs: list[str]) -> list[str]:
    """Start one child per argv, release them at once when all are ready, return outputs."""
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path), *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for argv in argvs
    ]
    try:
        for child in children:
            assert child.stdout is not None
            assert child.stdout.readline() == "ready\n"  # "" if the child died
        for child in children:  # all at once: communicate() would release them one by one
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        outputs = [child.communicate(timeout=WAIT) for child in children]
    finally:
        for child in children:
            child.kill()
            child.wait()
    assert [child.returncode for child in children] == [0] * len(children), outputs
    return [out.strip() for out, _ in outputs]


@pytest.fixture
def path(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "state" / "state.db"


@pytest.fixture
def store(path: pathlib.Path) -> Any:
    opened = sqlite_store.SqliteStore(path)
    yield opened
    opened.close()


# --- the file ---------------------------------------------------------------------------


def test_the_file_is_created_with_its_directory_in_wal_mode(tmp_path: pathlib.Path) -> None:
    """Opening creates parent directories and a WAL database of the current schema."""
    path = tmp_path / "a" / "b" / "state.db"
    sqlite_store.SqliteStore(path).close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA user_version").fetchone() == (sqlite_store.SCHEMA_VERSION,)
    conn.close()


def test_data_survives_reopening(path: pathlib.Path) -> None:
    """Objects, versions and the watch log are the same after closing and opening again."""
    first = sqlite_store.SqliteStore(path)
    obj = first.create(a_route("r"))
    obj = first.update_status(obj.model_copy(update={"status": route.RouteStatus(url="http://x")}))
    listed = first.list("Route")
    first.close()

    again = sqlite_store.SqliteStore(path)
    try:
        assert again.get("Route", "default", "r") == obj
        assert again.list("Route") == listed
        later = again.create(a_route("s"))
        events = list(again.watch("Route", since=listed.resource_version, timeout=0))
        assert [e.object for e in events] == [later]
        versions = [e.resource_version for e in again.watch("Route", since="0", timeout=0)]
        assert len(set(versions)) == len(versions) == 3  # the counter went on, no reuse
    finally:
        again.close()


def test_a_file_of_a_newer_schema_is_refused(path: pathlib.Path) -> None:
    """A state.db written by a newer rollout is not touched."""
    sqlite_store.SqliteStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {sqlite_store.SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(errors.StoreError, match="newer"):
        sqlite_store.SqliteStore(path)


def test_a_file_that_is_not_a_database_is_a_store_error(path: pathlib.Path) -> None:
    """Garbage in state.db is reported as a StoreError, not a sqlite3 exception."""
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a database at all" * 100)
    with pytest.raises(errors.StoreError):
        sqlite_store.SqliteStore(path)


def test_a_closed_store_refuses_work(store: Any) -> None:
    """After close, calls raise StoreError."""
    store.create(a_route("r"))
    store.close()
    with pytest.raises(errors.StoreError):
        store.get("Route", "default", "r")
    with pytest.raises(errors.StoreError):
        threading_result(lambda: store.get("Route", "default", "r"))


def threading_result(call: Any) -> Any:
    """Run `call` in a new thread (so with a new connection); re-raise what it raised."""
    box: list[Any] = []

    def target() -> None:
        try:
            box.append(call())
        except Exception as exc:  # handed back to the caller below
            box.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(WAIT)
    if isinstance(box[0], Exception):
        raise box[0]
    return box[0]


# --- several processes ------------------------------------------------------------------


def test_two_processes_updating_from_the_same_read_one_gets_conflict(
    store: Any, path: pathlib.Path
) -> None:
    """Two processes update one object from the same resourceVersion at the same moment:
    exactly one wins, the other gets Conflict, and the winner's write is what is stored."""
    read = store.create(a_route("shared"))
    rv = read.metadata.resource_version
    outcomes = run_together(path, ["update", rv, "one"], ["update", rv, "two"])
    assert sorted(outcomes) == ["conflict", "ok"]
    winner = ["one", "two"][outcomes.index("ok")]
    stored = store.get("Route", "default", "shared")
    assert stored.metadata.labels == {"writer": winner}
    events = list(store.watch("Route", since=rv, timeout=0))
    assert [(e.type, e.object.metadata.labels) for e in events] == [
        (port.EventType.MODIFIED, {"writer": winner})
    ]


def test_processes_incrementing_a_counter_lose_nothing(store: Any, path: pathlib.Path) -> None:
    """N processes × M read-modify-write increments with retry on Conflict end at N×M, and
    the watch log holds every increment once, in order."""
    processes, increments = 4, 25
    start = store.create(a_route("counter", labels={"n": "0"}))
    outputs = run_together(path, *[["increment", str(increments)]] * processes)
    assert all(out.startswith("done") for out in outputs)
    total = processes * increments
    assert store.get("Route", "default", "counter").metadata.labels == {"n": str(total)}
    events = list(store.watch("Route", since=start.metadata.resource_version, timeout=0))
    assert [e.object.metadata.labels["n"] for e in events] == [str(i) for i in range(1, total + 1)]


def test_watch_sees_a_write_from_another_process(store: Any, path: pathlib.Path) -> None:
    """A waiting watch returns when another process writes, well before its timeout."""
    since = store.list("Route").resource_version
    seen: list[port.WatchEvent] = []
    watcher = threading.Thread(
        target=lambda: seen.extend(store.watch("Route", since=since, timeout=WAIT))
    )
    start = time.monotonic()
    watcher.start()
    assert run_together(path, ["create", "from-child"]) == ["ok"]
    watcher.join(WAIT)
    assert not watcher.is_alive()
    assert time.monotonic() - start < WAIT / 2
    assert [(e.type, e.object.metadata.name) for e in seen] == [
        (port.EventType.ADDED, "from-child")
    ]


def test_a_create_naming_a_deleted_owner_is_a_conflict(store: Any) -> None:
    """A writer that read the owner before `rollout delete` took it (a reconcile in
    flight) gets Conflict and reads again: nothing outlives a deleted owner (issue 19,
    an orphan revision after `rollout delete service`)."""
    owner = store.create(a_route("owner"))
    ref = meta.OwnerReference(
        api_version=owner.api_version, kind=owner.kind, name="owner", uid=owner.metadata.uid
    )
    child = a_route("child")
    owned = child.model_copy(
        update={"metadata": child.metadata.model_copy(update={"owner_references": [ref]})}
    )
    store.create(owned)
    store.delete("Route", "default", "owner")  # takes the child with it
    with pytest.raises(errors.Conflict, match="its owner Route owner no longer exists"):
        store.create(owned)
    assert store.list("Route").items == []
