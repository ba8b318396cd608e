"""Tolerant reads on the memory and SQLite stores and the controller's read cache: an
object stored that no longer decodes (written by another version, edited by hand) is
listed apart with the message `rollout validate` gives, never failing the list of the
others; `get` and watch events raise `Undecodable` with the same record; its status
can be written, and an update (how `rollout apply` fixes it) or a delete works."""

from __future__ import annotations

import json
import pathlib
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from rollout.api import route, split
from rollout.controller import cache
from rollout.store import errors, memory, objects, port, sqlite

NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
BAD = [{"revisionName": "web-00001", "percent": 70}, {"revisionName": "web-00002", "percent": 70}]
MESSAGE = "spec.traffic: percents must sum to 100 (they sum to 140)"

Plant = Callable[[tuple[str, str, str], str], None]


def a_route(name: str) -> route.Route:
    target = split.TrafficTarget(revision_name="web-00001", percent=100)
    return route.Route.model_validate(
        {
            "metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
            "spec": route.RouteSpec(service="web", traffic=[target]).model_dump(by_alias=True),
        }
    )


@pytest.fixture(params=["memory", "sqlite"])
def opened(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> Iterator[tuple[port.Store, Plant]]:
    """A store, and how to overwrite an object's stored JSON behind its back (with a
    watch event, as another writer's change would make)."""
    if request.param == "memory":
        mem = memory.MemoryStore(now=lambda: NOW)

        def plant_memory(key: tuple[str, str, str], text: str) -> None:
            with mem._lock:
                data = json.loads(text)
                data["metadata"]["resourceVersion"] = str(mem._rv + 1)
                mem._put(key, json.dumps(data), port.EventType.MODIFIED, None)

        yield mem, plant_memory
        mem.close()
        return
    path = tmp_path / "state.db"
    db = sqlite.SqliteStore(path, now=lambda: NOW)

    def plant_sqlite(key: tuple[str, str, str], text: str) -> None:
        conn = sqlite3.connect(path)
        with conn:  # an edit by another program: the row and its event
            rv = conn.execute("SELECT MAX(rv) FROM events").fetchone()[0] + 1
            data = json.loads(text)
            data["metadata"]["resourceVersion"] = str(rv)
            text = json.dumps(data)
            conn.execute(
                "UPDATE objects SET body = ? WHERE kind = ? AND namespace = ? AND name = ?",
                (text, *key),
            )
            conn.execute("INSERT INTO events VALUES (?, ?, ?, ?)", (rv, key[0], "MODIFIED", text))
        conn.close()

    yield db, plant_sqlite
    db.close()


def spoil(store: port.Store, plant: Plant, name: str) -> str:
    """Route `name`'s stored spec made one the model refuses (percents sum to 140);
    the JSON planted."""
    stored = json.loads(objects.dumps(store.get("Route", "default", name)))
    stored["spec"]["traffic"] = BAD
    stored["status"] = {"url": "http://kept"}
    plant(("Route", "default", name), json.dumps(stored))
    return json.dumps(stored)


def test_a_bad_object_is_listed_apart(opened: tuple[port.Store, Plant]) -> None:
    """The others are listed; the bad one is in `invalid`, with its identity and the
    message of `rollout validate`; get raises Undecodable with the same record."""
    store, plant = opened
    for name in ("a", "b", "c"):
        store.create(a_route(name))
    spoil(store, plant, "b")
    listed = store.list("Route")
    assert [o.metadata.name for o in listed.items] == ["a", "c"]
    assert [o.key for o in listed.invalid] == [("Route", "default", "b")]
    bad = listed.invalid[0]
    assert bad.message == MESSAGE
    assert bad.metadata.uid
    assert bad.metadata.generation == 1
    assert bad.metadata.labels == {"app": "web"}
    assert bad.status == {"url": "http://kept"}
    assert [o.metadata.name for o in store.list("Route", labels={"app": "web"}).items] == ["a", "c"]
    with pytest.raises(errors.Undecodable) as raised:
        store.get("Route", "default", "b")
    assert raised.value.object.message == MESSAGE
    assert str(raised.value) == f"Route default/b is not valid: {MESSAGE}"


def test_a_bad_object_comes_by_watch_and_takes_its_status(
    opened: tuple[port.Store, Plant],
) -> None:
    """Its watch event raises Undecodable on `object`; `update_invalid_status` writes
    its status (stale → Conflict) and nothing else; update replaces it; delete works."""
    store, plant = opened
    store.create(a_route("b"))
    since = store.list("Route").resource_version
    spoil(store, plant, "b")
    (event,) = list(store.watch("Route", since=since, timeout=1))
    assert event.key == ("Route", "default", "b")
    with pytest.raises(errors.Undecodable):
        _ = event.object
    bad = store.list("Route").invalid[0]
    rv = store.update_invalid_status(bad, {"url": "http://marked"})
    with pytest.raises(errors.Conflict):
        store.update_invalid_status(bad, {"url": "http://stale"})
    again = store.list("Route").invalid[0]
    assert (again.metadata.resource_version, again.status) == (rv, {"url": "http://marked"})
    assert again.message == MESSAGE  # the spec is as it was
    fixed = a_route("b")
    fixed = fixed.model_copy(update={"metadata": again.metadata})
    store.update(fixed)
    got = store.get("Route", "default", "b")
    assert isinstance(got, route.Route)
    assert got.status.url == "http://marked"
    assert got.metadata.generation == 2
    store.delete("Route", "default", "b")
    assert store.list("Route") == port.Listed([], store.list("Route").resource_version)


def test_the_read_cache_holds_a_bad_object_apart(opened: tuple[port.Store, Plant]) -> None:
    """The controller's cache: lists leave the bad object out, a read of it raises,
    its status write is what later reads see, and fixing it makes it readable."""
    store, plant = opened
    cached = cache.CachedStore(store)
    store.create(a_route("a"))
    store.create(a_route("b"))
    spoil(store, plant, "b")
    listed = store.list("Route")
    cached.replace("Route", listed)
    assert [o.metadata.name for o in cached.peek_list("Route")] == ["a"]
    with pytest.raises(errors.Undecodable):
        cached.peek("Route", "default", "b")
    rv = cached.update_invalid_status(listed.invalid[0], {"url": "http://marked"})
    with pytest.raises(errors.Undecodable) as raised:
        cached.peek("Route", "default", "b")
    assert raised.value.object.metadata.resource_version == rv
    assert raised.value.object.status == {"url": "http://marked"}
    store.update(a_route("b").model_copy(update={"metadata": raised.value.object.metadata}))
    for event in store.watch("Route", since=listed.resource_version, timeout=0):
        cached.observe(event)
    assert [o.metadata.name for o in cached.peek_list("Route")] == ["a", "b"]
    assert cached.peek("Route", "default", "b").metadata.generation == 2


def test_a_stale_status_write_through_the_cache_reads_the_store_next(
    opened: tuple[port.Store, Plant],
) -> None:
    """A Conflict on a bad object's status write: the next read answers what the store
    has (its newer record), not the stale one, so the retry can succeed."""
    store, plant = opened
    cached = cache.CachedStore(store)
    store.create(a_route("b"))
    planted = spoil(store, plant, "b")
    listed = store.list("Route")
    cached.replace("Route", listed)
    plant(("Route", "default", "b"), planted)  # changed again; the cache has not heard
    with pytest.raises(errors.Conflict):
        cached.update_invalid_status(listed.invalid[0], {"url": "http://marked"})
    with pytest.raises(errors.Undecodable) as raised:
        cached.peek("Route", "default", "b")
    fresh = raised.value.object
    assert fresh.metadata.resource_version != listed.invalid[0].metadata.resource_version
    cached.update_invalid_status(fresh, {"url": "http://marked"})
