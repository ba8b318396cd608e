"""Opening a store by backend name, and where the state directory is."""

from __future__ import annotations

import pathlib

import pytest

from rollout.store import factory, memory
from rollout.store import sqlite as sqlite_store


def test_memory_backend_keeps_nothing_on_disk(tmp_path: pathlib.Path) -> None:
    """`memory` opens a MemoryStore and writes no file."""
    store = factory.open_store("memory", state_dir=tmp_path / "state")
    assert isinstance(store, memory.MemoryStore)
    assert not (tmp_path / "state").exists()


def test_sqlite_backend_uses_state_db_in_the_state_dir(tmp_path: pathlib.Path) -> None:
    """`sqlite` opens `<state-dir>/state.db`, creating the directory."""
    store = factory.open_store("sqlite", state_dir=tmp_path / "state")
    try:
        assert isinstance(store, sqlite_store.SqliteStore)
        assert (tmp_path / "state" / "state.db").is_file()
    finally:
        store.close()


def test_an_unknown_backend_is_a_clear_error(tmp_path: pathlib.Path) -> None:
    """Any other name says which backends exist."""
    with pytest.raises(ValueError, match=r"unknown store backend 'etcd'.*memory, sqlite"):
        factory.open_store("etcd", state_dir=tmp_path)


@pytest.mark.parametrize(
    ("flag", "env", "expected"),
    [
        pytest.param("/from/flag", "/from/env", "/from/flag", id="flag-first"),
        pytest.param(None, "/from/env", "/from/env", id="then-env"),
        pytest.param(None, None, ".rollout", id="then-default"),
        pytest.param(None, "", ".rollout", id="empty-env-is-unset"),
    ],
)
def test_state_dir_resolution(
    monkeypatch: pytest.MonkeyPatch, flag: str | None, env: str | None, expected: str
) -> None:
    """--state-dir, else ROLLOUT_STATE_DIR, else ./.rollout."""
    if env is None:
        monkeypatch.delenv("ROLLOUT_STATE_DIR", raising=False)
    else:
        monkeypatch.setenv("ROLLOUT_STATE_DIR", env)
    assert factory.resolve_state_dir(flag) == pathlib.Path(expected)
