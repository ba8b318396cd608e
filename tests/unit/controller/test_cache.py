"""The controller's read cache (`rollout.controller.cache`): shared reads that do not
ask the store, writes read back before the watch delivers them, pins, relists.

The watch is delivered by hand here (`Fed.deliver`), so each test decides exactly what
the cache has seen; the Store contract suite runs the cache with a watching thread.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rollout.api import kinds, meta, route
from rollout.controller import cache
from rollout.store import errors, memory, objects, port

NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
LABEL = {"app": "web"}


class Counting(memory.MemoryStore):
    """A memory store that counts the reads it serves."""

    def __init__(self) -> None:
        super().__init__(now=lambda: NOW)
        self.reads: collections.Counter[str] = collections.Counter()

    def get(self, kind: str, namespace: str, name: str) -> kinds.Resource:
        self.reads["get"] += 1
        return super().get(kind, namespace, name)

    def list(
        self, kind: str, namespace: str | None = None, *, labels: Mapping[str, str] | None = None
    ) -> port.Listed:
        self.reads["list"] += 1
        return super().list(kind, namespace, labels=labels)


class Fed:
    """A cache over a counting memory store, synced, with the watch delivered by hand."""

    def __init__(self) -> None:
        self.store = Counting()
        self.cached = cache.CachedStore(self.store)
        self.since = self.store.list("Route").resource_version
        self.cached.replace("Route", self.store.list("Route"))
        self.store.reads.clear()

    def deliver(self, limit: int | None = None) -> int:
        """Hand the cache the next `limit` Route events (all when None)."""
        events = list(self.store.watch("Route", since=self.since, timeout=0))[:limit]
        for event in events:
            self.cached.observe(event)
            self.since = event.resource_version
        return len(events)


@pytest.fixture
def fed() -> Fed:
    return Fed()


def a_route(name: str, labels: dict[str, str] | None = None) -> route.Route:
    return route.Route(
        metadata=meta.ObjectMeta(name=name, labels=dict(LABEL) if labels is None else labels),
        spec=route.RouteSpec(service="web"),
    )


def with_url(obj: kinds.Resource, url: str) -> Any:
    return obj.model_copy(update={"status": route.RouteStatus(url=url)})


def with_labels(obj: kinds.Resource, labels: dict[str, str]) -> Any:
    return obj.model_copy(update={"metadata": obj.metadata.model_copy(update={"labels": labels})})


def url_of(obj: kinds.Resource) -> str | None:
    assert isinstance(obj, route.Route)
    return obj.status.url


# --- reads from the cache ---------------------------------------------------------------


def test_reads_of_a_synced_kind_do_not_ask_the_store(fed: Fed) -> None:
    """Once delivered, peek hands out the same shared object; get a copy; no store read."""
    fed.store.create(a_route("r"))
    fed.deliver()
    first = fed.cached.peek("Route", "default", "r")
    assert fed.cached.peek("Route", "default", "r") is first
    assert fed.cached.peek_list("Route", "default", labels=LABEL) == [first]
    copy = fed.cached.get("Route", "default", "r")
    assert copy == first
    assert copy is not first
    assert copy.metadata is not first.metadata
    with pytest.raises(errors.NotFound):
        fed.cached.peek("Route", "default", "missing")
    assert fed.store.reads == {}


def test_a_kind_not_synced_is_read_from_the_store(fed: Fed) -> None:
    """Before its first list a kind's reads go to the store."""
    with pytest.raises(errors.NotFound):
        fed.cached.peek("Service", "default", "web")
    assert fed.cached.peek_list("Service") == []
    assert fed.store.reads == {"get": 1, "list": 1}


def test_the_cache_is_behind_the_watch_for_writes_it_did_not_make(fed: Fed) -> None:
    """Someone else's write is seen when its event is delivered (an informer's lag)."""
    created = fed.store.create(a_route("r"))
    fed.deliver()
    fed.store.update_status(with_url(created, "http://other"))
    assert url_of(fed.cached.peek("Route", "default", "r")) is None
    fed.deliver()
    assert url_of(fed.cached.peek("Route", "default", "r")) == "http://other"


# --- reading your own writes ------------------------------------------------------------


def test_a_write_is_read_back_before_the_watch_delivers_it(fed: Fed) -> None:
    """peek, get and peek_list see the cache's own write at once: the object the write
    returned, without asking the store."""
    fed.store.create(a_route("r"))
    fed.deliver()
    current = fed.cached.peek("Route", "default", "r")
    fed.cached.update_status(with_url(current, "http://mine"))
    assert url_of(fed.cached.peek("Route", "default", "r")) == "http://mine"
    assert url_of(fed.cached.get("Route", "default", "r")) == "http://mine"
    assert [url_of(o) for o in fed.cached.peek_list("Route", labels=LABEL)] == ["http://mine"]
    assert fed.cached.pinned() == 1
    assert fed.store.reads == {}


def test_once_the_watch_delivers_the_write_reads_leave_the_store(fed: Fed) -> None:
    """The event of the write unpins the key: reads come from the cache again."""
    created = fed.cached.create(a_route("r"))
    fed.cached.update_status(with_url(created, "http://mine"))
    fed.deliver()
    fed.store.reads.clear()
    assert fed.cached.pinned() == 0
    assert url_of(fed.cached.peek("Route", "default", "r")) == "http://mine"
    assert fed.store.reads == {}


def test_an_older_event_does_not_unpin_a_newer_write(fed: Fed) -> None:
    """Two writes, only the first delivered: reads still show the second."""
    created = fed.cached.create(a_route("r"))
    fed.cached.update_status(with_url(created, "http://two"))
    assert fed.deliver(limit=1) == 1
    assert url_of(fed.cached.peek("Route", "default", "r")) == "http://two"
    assert fed.cached.pinned() == 1


def test_created_and_deleted_objects_are_listed_as_the_store_has_them(fed: Fed) -> None:
    """Before any delivery: a created object is listed and found; a deleted one is not."""
    fed.store.create(a_route("old"))
    fed.deliver()
    fed.cached.create(a_route("new"))
    fed.cached.delete("Route", "default", "old")
    assert [o.metadata.name for o in fed.cached.peek_list("Route", labels=LABEL)] == ["new"]
    with pytest.raises(errors.NotFound):
        fed.cached.peek("Route", "default", "old")
    fed.deliver()
    assert fed.cached.pinned() == 0
    assert [o.metadata.name for o in fed.cached.peek_list("Route", labels=LABEL)] == ["new"]


def test_a_label_change_moves_the_object_between_selections(fed: Fed) -> None:
    """A write that changes labels is selected by its new labels only, before delivery."""
    created = fed.store.create(a_route("r"))
    fed.deliver()
    fed.cached.update(with_labels(created, {"app": "api"}))
    assert fed.cached.peek_list("Route", labels=LABEL) == []
    assert [o.metadata.name for o in fed.cached.peek_list("Route", labels={"app": "api"})] == ["r"]


def test_a_deletion_then_recreation_before_delivery_reads_the_new_object(fed: Fed) -> None:
    """Delete and create again, nothing delivered: the new object; after: the same."""
    created = fed.store.create(a_route("r"))
    fed.deliver()
    fed.cached.delete("Route", "default", "r")
    again = fed.cached.create(with_url(a_route("r"), "ignored"))
    assert fed.cached.peek("Route", "default", "r") == again
    assert fed.deliver(limit=1) == 1  # the deletion
    assert fed.cached.peek("Route", "default", "r") == again
    fed.deliver()
    assert fed.cached.peek("Route", "default", "r").metadata.uid != created.metadata.uid


def test_a_conflict_pins_the_key_to_the_stores_version(fed: Fed) -> None:
    """A write from a stale cached read conflicts once; the retry reads the store's
    version, not the stale one, before any delivery."""
    created = fed.store.create(a_route("r"))
    fed.deliver()
    fed.store.update_status(with_url(created, "http://other"))  # not through the cache
    stale = fed.cached.peek("Route", "default", "r")
    with pytest.raises(errors.Conflict):
        fed.cached.update_status(with_url(stale, "http://mine"))
    fresh = fed.cached.peek("Route", "default", "r")
    assert url_of(fresh) == "http://other"
    fed.cached.update_status(with_url(fresh, "http://mine"))
    assert url_of(fed.cached.peek("Route", "default", "r")) == "http://mine"


def test_no_pin_when_the_watch_delivered_the_write_first(fed: Fed) -> None:
    """A write whose event reached the cache before the write returned pins nothing."""

    class Racing(Counting):
        def update_status(self, obj: kinds.Resource) -> kinds.Resource:
            written = super().update_status(obj)
            fed.deliver()  # the watch thread wins the race
            return written

    fed.store.__class__ = Racing
    created = fed.cached.create(a_route("r"))
    fed.deliver()
    fed.cached.update_status(with_url(created, "http://mine"))
    assert fed.cached.pinned() == 0
    assert url_of(fed.cached.peek("Route", "default", "r")) == "http://mine"


def test_a_relist_replaces_the_kind_and_unpins_it(fed: Fed) -> None:
    """replace() holds exactly the list, and its kind's pins go."""
    gone = fed.store.create(a_route("gone"))
    fed.deliver()
    fed.store.delete("Route", "default", "gone")
    fed.cached.create(a_route("new"))
    fed.cached.replace("Route", fed.store.list("Route"))
    assert fed.cached.pinned() == 0
    assert [o.metadata.name for o in fed.cached.peek_list("Route")] == ["new"]
    assert gone.metadata.name not in {o.metadata.name for o in fed.cached.peek_list("Route")}


def test_a_list_with_many_deletions_pending_is_read_from_the_store(fed: Fed) -> None:
    """More deletions not delivered yet than it is worth asking one by one: one list."""
    names = [f"r{i:03d}" for i in range(cache._MANY_PINS + 5)]
    for name in names:
        fed.store.create(a_route(name))
    fed.deliver()
    for name in names[1:]:
        fed.cached.delete("Route", "default", name)
    fed.store.reads.clear()
    assert [o.metadata.name for o in fed.cached.peek_list("Route", labels=LABEL)] == names[:1]
    assert fed.store.reads == {"list": 1}


def test_a_status_write_of_a_cached_object_is_not_read_back(
    fed: Fed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cached object with a new status is written quietly: the object handed back is
    the cached one with that status and the new resourceVersion — what the store has —
    and nothing is parsed; a copy made any other way is read back."""
    parsed: list[str] = []

    def loads(kind: str, text: str | bytes, **kw: Any) -> kinds.Resource:
        parsed.append(kind)
        return real(kind, text, **kw)

    real = objects.loads
    fed.store.create(a_route("r"))
    fed.deliver()
    cached = fed.cached.peek("Route", "default", "r")
    monkeypatch.setattr(objects, "loads", loads)
    written = fed.cached.update_status_shared(with_url(cached, "http://mine"))
    assert parsed == []
    assert written.metadata is not cached.metadata
    assert written.spec is cached.spec  # type: ignore[union-attr]
    assert objects.dumps(written) == objects.dumps(fed.store.get("Route", "default", "r"))
    assert fed.cached.peek("Route", "default", "r") is written
    rebuilt = route.Route.model_validate(written.model_dump())  # not the cached objects
    fed.cached.update_status_shared(with_url(rebuilt, "http://again"))
    assert parsed == ["Route", "Route"]  # read back; the store's get, just above


def test_guard_reports_a_quiet_status_write_unlike_the_stored_one(fed: Fed) -> None:
    """With guard on, a status written quietly that does not round-trip (here traffic
    None: left out of the JSON, read back as the default, []) is reported."""
    fed.cached.guard = True
    fed.store.create(a_route("r"))
    fed.deliver()
    cached = fed.cached.peek("Route", "default", "r")
    status = route.RouteStatus.model_construct(traffic=None)  # not what a parse gives
    fed.cached.update_status_shared(cached.model_copy(update={"status": status}))
    assert fed.cached.check() == [("Route", "default", "r")]


def test_a_writes_own_event_is_not_parsed(fed: Fed, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache already holds what its write returned: the write's event is not parsed,
    and observe hands on the object the write returned; someone else's event is."""
    parsed: list[str] = []

    def loads(kind: str, text: str | bytes, **kw: Any) -> kinds.Resource:
        parsed.append(kind)
        return real(kind, text, **kw)

    real = objects.loads
    monkeypatch.setattr(objects, "loads", loads)
    created = fed.cached.create_shared(a_route("r"))
    written = fed.cached.update_status_shared(with_url(created, "http://mine"))
    other = fed.store.update_status(with_url(written, "http://other"))
    parsed.clear()
    events = list(fed.store.watch("Route", since=fed.since, timeout=0))
    seen = [fed.cached.observe(event).object for event in events]
    assert seen[0] is created
    assert seen[1] is written
    assert seen[2] == other
    assert parsed == ["Route"]  # someone else's
    assert fed.cached.peek("Route", "default", "r") is seen[2]


def test_guard_reports_a_shared_object_a_reader_changed(fed: Fed) -> None:
    """With guard on, changing a peeked object is reported, now and after it is replaced."""
    fed.cached.guard = True
    created = fed.store.create(a_route("r"))
    fed.deliver()
    assert fed.cached.check() == []
    fed.cached.peek("Route", "default", "r").metadata.labels["oops"] = "1"
    assert fed.cached.check() == [("Route", "default", "r")]
    fed.store.update_status(with_url(created, "http://x"))
    fed.deliver()
    assert fed.cached.check() == [("Route", "default", "r")]


def test_guard_reports_a_written_object_a_reader_changed(fed: Fed) -> None:
    """With guard on, changing the object a shared write returned is reported, before
    and after its event arrives."""
    fed.cached.guard = True
    created = fed.cached.create_shared(a_route("r"))
    assert fed.cached.check() == []
    created.metadata.labels["oops"] = "1"
    assert fed.cached.check() == [("Route", "default", "r")]
    fed.deliver()
    assert fed.cached.check() == [("Route", "default", "r")]


# --- any interleaving of writes and deliveries reads like the store ----------------------

NAMES = st.sampled_from(["a", "b", "c"])
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("create"), NAMES, st.sampled_from(["web", "api"])),
        st.tuples(st.just("label"), NAMES, st.sampled_from(["web", "api"])),
        st.tuples(st.just("status"), NAMES, st.sampled_from(["http://1", "http://2"])),
        st.tuples(st.just("delete"), NAMES),
        st.tuples(st.just("other"), NAMES, st.sampled_from(["http://3", "http://4"])),
        st.tuples(st.just("deliver"), st.integers(min_value=0, max_value=3)),
    ),
    max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(ops=OPS)
@example(ops=[("create", "a", "web"), ("delete", "a"), ("deliver", 1)])  # gone, not back
@example(ops=[("create", "a", "web"), ("status", "a", "http://1"), ("deliver", 1)])
@example(  # deleted twice before the first deletion is delivered: that one does not unpin
    ops=[
        ("create", "a", "web"),
        ("create", "b", "web"),
        ("delete", "b"),
        ("create", "b", "web"),
        ("delete", "b"),
        ("deliver", 1),
        ("deliver", 3),
    ]
)
def test_reads_through_the_cache_agree_with_the_store(ops: list[tuple[Any, ...]]) -> None:
    """Writes through the cache, writes around it (`other`, then delivered) and partial
    deliveries in any order: after each step the cache's reads of what it wrote equal
    the store's, and after a full delivery every read does."""
    fed = Fed()
    others: set[str] = set()  # names written around the cache, not yet delivered
    for op, *args in ops:
        if op == "deliver":
            fed.deliver(limit=args[0] or None)
            if not args[0]:
                others.clear()
            agree(fed, skip=others)
            continue
        name = args[0]
        try:
            if op == "create":
                fed.cached.create(a_route(name, {"app": args[1]}))
            elif op == "delete":
                fed.cached.delete("Route", "default", name)
            else:
                current = fed.store.get("Route", "default", name)
                if op == "label":
                    fed.cached.update(with_labels(current, {"app": args[1]}))
                elif op == "status":
                    fed.cached.update_status(with_url(current, args[1]))
                else:
                    fed.store.update_status(with_url(current, args[1]))
                    others.add(name)
        except (errors.AlreadyExists, errors.NotFound):
            continue
        agree(fed, skip=others)
    fed.deliver()
    agree(fed, skip=set())
    assert fed.cached.pinned() == 0


def agree(fed: Fed, *, skip: set[str]) -> None:
    """Every read of the cache equals the store's, except for names in `skip`."""
    for name in ("a", "b", "c"):
        if name in skip:
            continue
        try:
            want: str | None = objects.dumps(fed.store.get("Route", "default", name))
        except errors.NotFound:
            want = None
        try:
            got: str | None = objects.dumps(fed.cached.peek("Route", "default", name))
        except errors.NotFound:
            got = None
        assert got == want, name
    for app in ("web", "api"):
        selector = {"app": app}
        want_list = [
            objects.dumps(o)
            for o in fed.store.list("Route", labels=selector).items
            if o.metadata.name not in skip
        ]
        got_list = [
            objects.dumps(o)
            for o in fed.cached.peek_list("Route", labels=selector)
            if o.metadata.name not in skip
        ]
        assert got_list == want_list, app
