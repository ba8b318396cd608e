"""Quiet status writes (`port.QuietStatusWrites`), offered by the memory and SQLite
stores: `update_status_version` writes like `update_status` and returns only the new
resourceVersion (the controller's read cache builds the stored object itself)."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from rollout.api import meta, route
from rollout.store import errors, memory, port, sqlite

NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[port.Store]:
    opened: port.Store
    if request.param == "memory":
        opened = memory.MemoryStore(now=lambda: NOW)
    else:
        opened = sqlite.SqliteStore(tmp_path / "state.db", now=lambda: NOW)
    yield opened
    opened.close()


def a_route(labels: dict[str, str]) -> route.Route:
    return route.Route(
        metadata=meta.ObjectMeta(name="r", labels=labels), spec=route.RouteSpec(service="web")
    )


def test_a_quiet_status_write_stores_what_update_status_would(store: port.Store) -> None:
    """Status written, metadata and spec as stored, the new resourceVersion returned."""
    assert isinstance(store, port.QuietStatusWrites)
    read = store.create(a_route({"v": "1"}))
    changed = read.model_copy(
        update={
            "metadata": read.metadata.model_copy(update={"labels": {"v": "2"}}),
            "status": route.RouteStatus(url="http://x"),
        }
    )

    rv = store.update_status_version(changed)

    got = store.get("Route", "default", "r")
    assert got.metadata.resource_version == rv != read.metadata.resource_version
    assert got.status.url == "http://x"  # type: ignore[union-attr]
    assert got.metadata.labels == {"v": "1"}
    assert got.metadata.generation == 1


def test_a_stale_quiet_status_write_is_a_conflict(store: port.Store) -> None:
    """The resourceVersion precondition holds as for `update_status`."""
    assert isinstance(store, port.QuietStatusWrites)
    read = store.create(a_route({}))
    store.update_status(read.model_copy(update={"status": route.RouteStatus(url="http://a")}))

    with pytest.raises(errors.Conflict):
        store.update_status_version(
            read.model_copy(update={"status": route.RouteStatus(url="http://b")})
        )
