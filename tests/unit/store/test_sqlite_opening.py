"""Opening the SQLite store: what each mode creates (and does not), that opening a
current schema takes no write lock, the errors a person can act on, the lock holder
named when a write gives up, and private files.

Real files and a real second process holding SQLite's lock.
"""

from __future__ import annotations

import os
import pathlib
import re
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from rollout import files
from rollout.api import meta, policyspec, rolloutpolicy
from rollout.store import errors, locks, sqlite

HOLD = """\
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("held", flush=True)
sys.stdin.read()
"""


def policy(name: str) -> rolloutpolicy.RolloutPolicy:
    return rolloutpolicy.RolloutPolicy(
        metadata=meta.ObjectMeta(name=name, namespace="default"),
        spec=policyspec.RolloutPolicySpec.model_validate({"steps": [{"setWeight": 10}]}),
    )


def mode_of(path: pathlib.Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def path(tmp_path: pathlib.Path) -> pathlib.Path:
    """A state with one policy, closed."""
    db = tmp_path / "state" / "state.db"
    store = sqlite.SqliteStore(db)
    store.create(policy("gate"))
    store.close()
    return db


@pytest.fixture
def writer(path: pathlib.Path) -> Iterator[subprocess.Popen[str]]:
    """Another process inside a write transaction on `path` until the test ends."""
    with subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline() == "held\n"
            yield child
        finally:
            child.kill()
            child.wait()


# --- what each mode creates ---------------------------------------------------------------


@pytest.mark.parametrize("mode", ["read", "write"])
def test_read_and_write_modes_create_nothing(tmp_path: pathlib.Path, mode: sqlite.Mode) -> None:
    """No state dir, or a dir without state.db: NoState, and nothing is created."""
    state = tmp_path / "state"
    with pytest.raises(errors.NoState, match=re.escape(f"no state in {state}")):
        sqlite.SqliteStore(state / "state.db", mode=mode)
    assert not state.exists()
    state.mkdir()
    with pytest.raises(errors.NoState):
        sqlite.SqliteStore(state / "state.db", mode=mode)
    assert list(state.iterdir()) == []


def test_read_mode_never_writes(path: pathlib.Path) -> None:
    """A read-only store reads, and refuses a write before SQLite sees it."""
    store = sqlite.SqliteStore(path, mode="read")
    try:
        assert [p.metadata.name for p in store.list("RolloutPolicy").items] == ["gate"]
        with pytest.raises(errors.StoreError, match="read-only"):
            store.create(policy("other"))
    finally:
        store.close()


def test_an_unknown_mode_is_refused(path: pathlib.Path) -> None:
    with pytest.raises(ValueError, match="mode must be one of read, write, create"):
        sqlite.SqliteStore(path, mode="append")  # type: ignore[arg-type]


# --- locks ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["read", "write", "create"])
def test_opening_a_current_schema_takes_no_write_lock(
    path: pathlib.Path, writer: subprocess.Popen[str], mode: sqlite.Mode
) -> None:
    """With another process inside a write transaction, opening and reading return
    at once (they used to wait for `BEGIN IMMEDIATE` and fail after 10 s)."""
    started = time.monotonic()
    store = sqlite.SqliteStore(path, mode=mode, busy_timeout=5.0)
    try:
        assert [p.metadata.name for p in store.list("RolloutPolicy").items] == ["gate"]
    finally:
        store.close()
    assert time.monotonic() - started < 2.5  # well under the 5 s it would wait


def test_a_write_that_waits_too_long_names_the_holder(
    path: pathlib.Path, writer: subprocess.Popen[str]
) -> None:
    """`Busy` after the wait, naming the holding process by pid and command line."""
    store = sqlite.SqliteStore(path, mode="write", busy_timeout=0.2)
    try:
        with pytest.raises(errors.Busy) as caught:
            store.create(policy("other"))
    finally:
        store.close()
    message = str(caught.value)
    assert message.startswith(f"{path} is locked by pid {writer.pid} (")
    assert "gave up after 0.2 s" in message


def test_a_read_only_store_never_blocks_a_writer(path: pathlib.Path) -> None:
    """While a read-only store keeps reading (a `status --watch`), another process's
    writes never wait: a writer with no busy timeout commits every time."""
    reader = sqlite.SqliteStore(path, mode="read")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        for i in range(20):
            reader.list("RolloutPolicy")
            other.execute("BEGIN IMMEDIATE")
            other.execute("PRAGMA user_version")
            other.execute("COMMIT")
            assert len(reader.list("RolloutPolicy").items) == 1, i
    finally:
        other.close()
        reader.close()


LOCK_TABLE = """\
1: POSIX  ADVISORY  WRITE 4242 {dev}:{ino} 120 120
2: POSIX  ADVISORY  READ 4343 {dev}:{ino} 123 123
3: POSIX  ADVISORY  WRITE 4444 {dev}:{other} 0 EOF
4: POSIX  ADVISORY  WRITE 4545 {dev}:{ino} 1 1
4: -> POSIX  ADVISORY  WRITE 4646 {dev}:{ino} 1 1
5: OFDLCK ADVISORY  WRITE -1 {dev}:{ino} 0 EOF
"""


def test_lock_holders_are_read_from_the_lock_table(tmp_path: pathlib.Path) -> None:
    """Write locks on the file, in table order; not readers, other files, waiters or
    open-file-description locks (no pid)."""
    target = tmp_path / "state.db"
    target.write_bytes(b"")
    st = target.stat()
    dev = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}"
    table = tmp_path / "locks"
    table.write_text(LOCK_TABLE.format(dev=dev, ino=st.st_ino, other=st.st_ino + 1))
    assert locks.holders([target], table=table) == [4242, 4545]
    assert locks.holders([target], table=tmp_path / "missing") == []
    assert locks.describe(os.getpid()) == f"pid {os.getpid()} (this process)"


# --- errors a person acts on ----------------------------------------------------------------


def test_a_directory_in_the_way_of_the_file(tmp_path: pathlib.Path) -> None:
    (tmp_path / "state.db").mkdir()
    with pytest.raises(
        errors.Unusable, match=r"state\.db cannot be used: it is not a regular file"
    ):
        sqlite.SqliteStore(tmp_path / "state.db")


@pytest.mark.parametrize("mode", ["read", "write", "create"])
def test_a_file_in_the_way_of_the_state_dir(tmp_path: pathlib.Path, mode: sqlite.Mode) -> None:
    """A file where the dir (or one of its parents) should be: Unusable, naming it."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(
        errors.Unusable, match=re.escape(f"state dir {blocker} cannot be used: it is not")
    ):
        sqlite.SqliteStore(blocker / "state.db", mode=mode)
    with pytest.raises(
        errors.Unusable, match=re.escape(f"cannot be used: {blocker} is not a directory")
    ):
        sqlite.SqliteStore(blocker / "sub" / "state.db", mode=mode)


def test_a_database_of_another_program_is_refused(tmp_path: pathlib.Path) -> None:
    """A SQLite file with tables but no rollout schema is not taken over."""
    db = tmp_path / "state.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE songs (title TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(errors.Unusable, match="not a rollout state database"):
        sqlite.SqliteStore(db)
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("songs",)]
    conn.close()


# --- private files ----------------------------------------------------------------------------


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The umask most users have (022), restored afterwards."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("open_umask")
def test_create_makes_the_dir_0700_and_the_files_0600(tmp_path: pathlib.Path) -> None:
    """Even with umask 022: the dir 0700, state.db and its -wal and -shm 0600."""
    state = tmp_path / "state"
    store = sqlite.SqliteStore(state / "state.db")
    try:
        store.create(policy("gate"))
        assert mode_of(state) == 0o700
        for name in ("state.db", "state.db-wal", "state.db-shm"):
            assert mode_of(state / name) == 0o600, name
    finally:
        store.close()


@pytest.mark.usefixtures("open_umask")
def test_an_existing_state_is_tightened(path: pathlib.Path) -> None:
    """A state dir 0755 and state.db 0644 from before: 0700 and 0600 once opened to write."""
    path.parent.chmod(0o755)
    path.chmod(0o644)
    sqlite.SqliteStore(path, mode="write").close()
    assert (mode_of(path.parent), mode_of(path)) == (0o700, 0o600)


def test_tightening_only_removes_bits(tmp_path: pathlib.Path) -> None:
    """A read-only dir stays read-only (0555 → 0500); a sticky shared dir is left alone."""
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o555)
    files.secure_dir(readonly)
    assert mode_of(readonly) == 0o500
    readonly.chmod(0o700)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    files.secure_dir(shared)
    assert mode_of(shared) == 0o1777


def test_private_umask_remembers_the_users(monkeypatch: pytest.MonkeyPatch) -> None:
    """`private()` sets 077 and `user_umask()` gives back the user's for child processes."""
    monkeypatch.setattr(files, "_user_umask", None)
    previous = os.umask(0o022)
    try:
        files.private()
        current = os.umask(0o077)
        assert (current, files.user_umask()) == (0o077, 0o022)
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("open_umask")
def test_write_private_replaces_a_file_with_mode_0600(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "clock.json"
    target.write_text("old")
    target.chmod(0o644)
    files.write_private(target, "new")
    assert (target.read_text(), mode_of(target)) == ("new", 0o600)
    assert not (tmp_path / "clock.json.tmp").exists()
