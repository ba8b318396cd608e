"""The Store contract (`rollout/store/port.py`), one suite run on every implementation,
and on the controller's read cache over each (`rollout/controller/cache.py`)."""

from __future__ import annotations

import pathlib
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rollout.api import kinds, loader, meta, route
from rollout.controller import cache
from rollout.store import errors, memory, port, sqlite

REPO = pathlib.Path(__file__).resolve().parents[3]
NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
WAIT = 10.0  # seconds: an upper bound for things that happen at once; never reached

MakeStore = Callable[..., port.Store]


class FedCache(cache.CachedStore):
    """The controller's read cache, kept current the way the controller does: list every
    kind, then watch each, in a thread (relisting a kind whose watch expired) until the
    store is closed."""

    def __init__(self, inner: port.Store) -> None:
        super().__init__(inner)
        self.since = {kind: self._relist(kind) for kind in kinds.KINDS}
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._feed, daemon=True)
        self.thread.start()

    def _relist(self, kind: str) -> str:
        listed = self.inner.list(kind)
        self.replace(kind, listed)
        return listed.resource_version

    def _feed(self) -> None:
        while not self.stopped.is_set():
            for kind in kinds.KINDS:
                try:
                    for event in self.inner.watch(kind, since=self.since[kind], timeout=0):
                        self.observe(event)
                        self.since[kind] = event.resource_version
                except errors.Expired:
                    self.since[kind] = self._relist(kind)
            self.stopped.wait(0.002)

    def close(self) -> None:
        if not self.stopped.is_set():
            self.stopped.set()
            self.thread.join(WAIT)
            super().close()


@pytest.fixture(params=["memory", "sqlite", "cached-memory", "cached-sqlite"])
def make_store(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[MakeStore]:
    """Opens fresh stores of one implementation (with a given watch log size). `cached-*`:
    the controller's read cache over that store, fed by a watching thread."""
    opened: list[port.Store] = []

    def make(*, log_size: int = 100_000) -> port.Store:
        store: port.Store
        backend = request.param.removeprefix("cached-")
        if backend == "memory":
            store = memory.MemoryStore(now=lambda: NOW, log_size=log_size)
        else:
            path = tmp_path / f"store{len(opened)}" / "state.db"
            store = sqlite.SqliteStore(path, now=lambda: NOW, log_size=log_size)
        if request.param.startswith("cached-"):
            store = FedCache(store)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store: MakeStore) -> port.Store:
    return make_store()


def a_route(
    name: str,
    *,
    namespace: str | None = None,
    labels: dict[str, str] | None = None,
    service: str = "web",
    owners: tuple[kinds.Resource, ...] = (),
) -> route.Route:
    refs = [
        meta.OwnerReference(
            api_version=kinds.API_VERSION,
            kind=o.kind,
            name=o.metadata.name,
            uid=o.metadata.uid or "",
        )
        for o in owners
    ]
    return route.Route(
        metadata=meta.ObjectMeta(
            name=name, namespace=namespace, labels=labels or {}, owner_references=refs
        ),
        spec=route.RouteSpec(service=service),
    )


def example(path: str) -> kinds.Resource:
    resource: kinds.Resource = loader.load_paths([REPO / path]).documents[0].resource  # type: ignore[assignment]
    return resource


def with_meta(obj: kinds.Resource, **changes: Any) -> Any:
    return obj.model_copy(update={"metadata": obj.metadata.model_copy(update=changes)})


def with_url(obj: kinds.Resource, url: str) -> Any:
    return obj.model_copy(update={"status": route.RouteStatus(url=url)})


def with_service(obj: kinds.Resource, service: str) -> Any:
    return obj.model_copy(update={"spec": route.RouteSpec(service=service)})


def names(items: list[kinds.Resource]) -> list[tuple[str | None, str]]:
    return [(o.metadata.namespace, o.metadata.name) for o in items]


# --- create and get ---------------------------------------------------------------------


def test_create_sets_identity_and_defaults(store: port.Store) -> None:
    """create sets uid, resourceVersion, generation 1, creationTimestamp, namespace default."""
    got = store.create(a_route("r"))
    assert got.metadata.uid
    assert got.metadata.resource_version
    assert got.metadata.generation == 1
    assert got.metadata.creation_timestamp == NOW
    assert got.metadata.namespace == port.DEFAULT_NAMESPACE
    assert store.get("Route", "default", "r") == got


def test_create_ignores_identity_given_by_the_caller(store: port.Store) -> None:
    """uid, resourceVersion and generation in the object created are the store's own."""
    mine = with_meta(a_route("r"), uid="mine", resource_version="999", generation=7)
    got = store.create(mine)
    assert (got.metadata.uid, got.metadata.generation) != ("mine", 7)
    assert got.metadata.resource_version != "999"


def test_create_keeps_the_namespace_given(store: port.Store) -> None:
    """An object created in a namespace is found there, not in `default`."""
    store.create(a_route("r", namespace="team"))
    assert store.get("Route", "team", "r").metadata.namespace == "team"
    with pytest.raises(errors.NotFound):
        store.get("Route", "default", "r")


def test_create_of_a_taken_name_raises_already_exists(store: port.Store) -> None:
    """The same kind, namespace and name twice is refused; the first object stays."""
    first = store.create(a_route("r", service="one"))
    with pytest.raises(errors.AlreadyExists):
        store.create(a_route("r", service="two"))
    assert store.get("Route", "default", "r") == first


def test_the_same_name_in_another_namespace_or_kind_is_another_object(store: port.Store) -> None:
    """Names are unique per kind and namespace only."""
    store.create(a_route("web"))
    store.create(a_route("web", namespace="other"))
    store.create(with_meta(example("examples/local/hello.yaml"), name="web"))
    assert store.get("Service", "default", "web").kind == "Service"
    assert len(store.list("Route").items) == 2


def test_get_of_a_missing_object_raises_not_found(store: port.Store) -> None:
    """get of a name never created raises NotFound."""
    with pytest.raises(errors.NotFound):
        store.get("Route", "default", "nope")


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda s: s.get("Deployment", "default", "x"), id="get"),
        pytest.param(lambda s: s.list("Deployment"), id="list"),
        pytest.param(lambda s: s.delete("Deployment", "default", "x"), id="delete"),
        pytest.param(lambda s: list(s.watch("Deployment", since="0", timeout=0)), id="watch"),
    ],
)
def test_an_unknown_kind_is_invalid(store: port.Store, call: Callable[[port.Store], Any]) -> None:
    """Asking for a kind that is not registered raises Invalid."""
    with pytest.raises(errors.Invalid):
        call(store)


# --- list -------------------------------------------------------------------------------


def test_list_filters_by_namespace_and_is_sorted(store: port.Store) -> None:
    """list sorts by namespace then name, and a namespace narrows it."""
    for ns, name in [("b", "z"), ("a", "y"), ("b", "a"), (None, "m"), ("a", "b")]:
        store.create(a_route(name, namespace=ns))
    assert names(store.list("Route").items) == [
        ("a", "b"),
        ("a", "y"),
        ("b", "a"),
        ("b", "z"),
        ("default", "m"),
    ]
    assert names(store.list("Route", "b").items) == [("b", "a"), ("b", "z")]
    assert store.list("Route", "none").items == []


def test_list_selects_objects_carrying_every_label(store: port.Store) -> None:
    """A label selector matches objects that carry all its labels (equality)."""
    store.create(a_route("both", labels={"app": "web", "tier": "front"}))
    store.create(a_route("app-only", labels={"app": "web"}))
    store.create(a_route("other", labels={"app": "api", "tier": "front"}))
    assert names(store.list("Route", labels={"app": "web"}).items) == [
        ("default", "app-only"),
        ("default", "both"),
    ]
    assert names(store.list("Route", labels={"app": "web", "tier": "front"}).items) == [
        ("default", "both")
    ]
    assert store.list("Route", labels={"app": "none"}).items == []


def test_list_returns_the_resource_version_of_the_last_write(store: port.Store) -> None:
    """The list's resourceVersion is the one of the latest change, whatever its kind."""
    store.create(a_route("r"))
    latest = store.create(with_meta(example("examples/local/hello.yaml"), name="web"))
    assert store.list("Route").resource_version == latest.metadata.resource_version


# --- update -----------------------------------------------------------------------------


def test_update_with_a_stale_resource_version_raises_conflict(store: port.Store) -> None:
    """An update from an old read is refused and changes nothing."""
    read = store.create(a_route("r"))
    newer = store.update(with_meta(read, labels={"v": "1"}))
    with pytest.raises(errors.Conflict):
        store.update(with_meta(read, labels={"v": "2"}))
    assert store.get("Route", "default", "r") == newer


def test_update_without_a_resource_version_is_unconditional(store: port.Store) -> None:
    """resourceVersion None skips the precondition."""
    read = store.create(a_route("r"))
    store.update(with_meta(read, labels={"v": "1"}))
    got = store.update(with_meta(read, labels={"v": "2"}, resource_version=None))
    assert got.metadata.labels == {"v": "2"}
    assert store.get("Route", "default", "r") == got


def test_update_writes_metadata_and_a_new_resource_version(store: port.Store) -> None:
    """Labels, annotations and owner references change; uid and creation time do not."""
    read = store.create(a_route("r"))
    owner = store.create(a_route("owner"))
    asked = a_route("r", labels={"a": "b"}, owners=(owner,))
    asked = with_meta(
        asked, annotations={"note": "x"}, resource_version=read.metadata.resource_version
    )
    got = store.update(
        with_meta(asked, uid="other", creation_timestamp=datetime(2000, 1, 1, tzinfo=UTC))
    )
    assert got.metadata.labels == {"a": "b"}
    assert got.metadata.annotations == {"note": "x"}
    assert [r.uid for r in got.metadata.owner_references] == [owner.metadata.uid]
    assert got.metadata.uid == read.metadata.uid
    assert got.metadata.creation_timestamp == NOW
    assert got.metadata.resource_version not in (
        read.metadata.resource_version,
        owner.metadata.resource_version,
    )
    assert store.get("Route", "default", "r") == got


def test_an_update_cannot_mark_an_object_deleted(store: port.Store) -> None:
    """deletionTimestamp is the store's (a cluster's delete with finalizers sets it),
    never taken from an update: otherwise a client could freeze a Service's children."""
    read = store.create(a_route("r"))
    got = store.update(with_meta(read, deletion_timestamp=NOW, deletion_grace_period_seconds=0))
    assert got.metadata.deletion_timestamp is None
    assert got.metadata.deletion_grace_period_seconds is None
    assert store.get("Route", "default", "r").metadata.deletion_timestamp is None


def test_generation_is_bumped_on_spec_changes_only(store: port.Store) -> None:
    """A metadata-only update keeps the generation; a spec change adds one."""
    obj = store.create(a_route("r"))
    obj = store.update(with_meta(obj, labels={"v": "1"}))
    assert obj.metadata.generation == 1
    obj = store.update(with_service(obj, "api"))
    assert obj.metadata.generation == 2
    obj = store.update(with_service(obj, "api"))
    assert obj.metadata.generation == 2


def test_update_never_writes_status(store: port.Store) -> None:
    """The status sent with an update is ignored; the stored status stays."""
    obj = store.create(a_route("r"))
    obj = store.update_status(with_url(obj, "http://kept"))
    got = store.update(with_url(with_meta(obj, labels={"v": "1"}), "http://ignored"))
    assert got.status.url == "http://kept"  # type: ignore[union-attr]
    assert store.get("Route", "default", "r").status.url == "http://kept"  # type: ignore[union-attr]


def test_update_of_a_missing_object_raises_not_found(store: port.Store) -> None:
    """update and update_status need the object to exist."""
    with pytest.raises(errors.NotFound):
        store.update(a_route("r"))
    with pytest.raises(errors.NotFound):
        store.update_status(a_route("r"))


# --- update_status ----------------------------------------------------------------------


def test_update_status_writes_status_only(store: port.Store) -> None:
    """Spec and metadata sent with a status update are ignored; the generation stays."""
    obj = store.create(a_route("r", labels={"v": "1"}))
    sent = with_url(with_service(with_meta(obj, labels={"v": "2"}), "api"), "http://x")
    got = store.update_status(sent)
    assert got.status.url == "http://x"  # type: ignore[union-attr]
    assert got.spec.service == "web"  # type: ignore[union-attr]
    assert got.metadata.labels == {"v": "1"}
    assert got.metadata.generation == 1
    assert got.metadata.resource_version != obj.metadata.resource_version
    assert store.get("Route", "default", "r") == got


def test_update_status_has_the_same_precondition(store: port.Store) -> None:
    """A stale status update raises Conflict; None is unconditional."""
    read = store.create(a_route("r"))
    store.update(with_meta(read, labels={"v": "1"}))
    with pytest.raises(errors.Conflict):
        store.update_status(with_url(read, "http://stale"))
    got = store.update_status(with_url(with_meta(read, resource_version=None), "http://any"))
    assert got.status.url == "http://any"  # type: ignore[union-attr]
    assert got.metadata.labels == {"v": "1"}


def test_update_status_of_a_kind_without_status_is_invalid(store: port.Store) -> None:
    """RolloutPolicy has no status subresource."""
    policy = store.create(example("policies/canary-standard.yaml"))
    with pytest.raises(errors.Invalid):
        store.update_status(policy)


# --- copies -----------------------------------------------------------------------------


def test_objects_returned_are_copies(store: port.Store) -> None:
    """Changing an object given to or returned by the store changes nothing stored."""
    given_obj = a_route("r", labels={"v": "1"})
    created = store.create(given_obj)
    given_obj.metadata.labels["v"] = "given"
    created.metadata.labels["v"] = "created"
    store.get("Route", "default", "r").metadata.labels["v"] = "got"
    store.list("Route").items[0].metadata.labels["v"] = "listed"
    next(iter(store.watch("Route", since="0", timeout=0))).object.metadata.labels["v"] = "seen"
    assert store.get("Route", "default", "r").metadata.labels == {"v": "1"}


# --- delete -----------------------------------------------------------------------------


def test_delete_removes_the_object(store: port.Store) -> None:
    """A deleted object is gone; deleting it again raises NotFound."""
    store.create(a_route("r"))
    store.delete("Route", "default", "r")
    with pytest.raises(errors.NotFound):
        store.get("Route", "default", "r")
    with pytest.raises(errors.NotFound):
        store.delete("Route", "default", "r")


def test_delete_cascades_to_owned_objects_recursively(store: port.Store) -> None:
    """Owned objects (any kind, any depth) go with their owner; others stay."""
    svc = store.create(with_meta(example("examples/local/hello.yaml"), name="web"))
    child = store.create(a_route("child", owners=(svc,)))
    store.create(a_route("grandchild", owners=(child,)))
    policy = example("policies/canary-standard.yaml")
    store.create(
        with_meta(policy, owner_references=a_route("x", owners=(svc,)).metadata.owner_references)
    )
    stranger = store.create(a_route("stranger"))
    store.create(a_route("stranger-child", owners=(stranger,)))
    released = store.create(a_route("released", owners=(svc,)))
    store.update(with_meta(released, owner_references=[]))  # no longer owned

    store.delete("Service", "default", "web")

    assert names(store.list("Route").items) == [
        ("default", "released"),
        ("default", "stranger"),
        ("default", "stranger-child"),
    ]
    assert store.list("RolloutPolicy").items == []
    assert store.list("Service").items == []


def test_deleting_an_owned_object_leaves_its_owner(store: port.Store) -> None:
    """Cascade goes from owner to owned, never back."""
    owner = store.create(a_route("owner"))
    store.create(a_route("owned", owners=(owner,)))
    store.delete("Route", "default", "owned")
    assert names(store.list("Route").items) == [("default", "owner")]


# --- watch ------------------------------------------------------------------------------


def test_watch_from_a_list_sees_every_change_of_its_kind_in_order(store: port.Store) -> None:
    """ADDED, MODIFIED (spec and status) and DELETED, in order, with their versions."""
    store.create(a_route("before"))
    since = store.list("Route").resource_version
    added = store.create(a_route("r"))
    store.create(with_meta(example("examples/local/hello.yaml"), name="web"))  # another kind
    modified = store.update(with_meta(added, labels={"v": "1"}))
    status = store.update_status(with_url(modified, "http://x"))
    store.delete("Route", "default", "r")

    events = list(store.watch("Route", since=since, timeout=0))

    assert [e.type for e in events] == [
        port.EventType.ADDED,
        port.EventType.MODIFIED,
        port.EventType.MODIFIED,
        port.EventType.DELETED,
    ]
    assert [e.object for e in events[:3]] == [added, modified, status]
    assert [e.resource_version for e in events[:3]] == [
        o.metadata.resource_version for o in (added, modified, status)
    ]
    assert events[3].object.status.url == "http://x"  # type: ignore[union-attr]
    assert len({e.resource_version for e in events}) == 4


def test_watch_resumes_after_the_last_event_seen(store: port.Store) -> None:
    """Watching again from the last event's resourceVersion gives only what came later."""
    since = store.list("Route").resource_version
    store.create(a_route("a"))
    first = list(store.watch("Route", since=since, timeout=0))
    store.create(a_route("b"))
    second = list(store.watch("Route", since=first[-1].resource_version, timeout=0))
    assert [e.object.metadata.name for e in first] == ["a"]
    assert [e.object.metadata.name for e in second] == ["b"]


def test_watch_cascade_reports_each_deleted_object(store: port.Store) -> None:
    """A cascade delete gives one DELETED event per object, in its kind's watch (on a
    cluster the garbage collector deletes the owned one a moment after its owner: the
    watch is read on until both are there, or 10 s)."""
    owner = store.create(a_route("owner"))
    store.create(a_route("owned", owners=(owner,)))
    since = store.list("Route").resource_version
    store.delete("Route", "default", "owner")
    events: list[port.WatchEvent] = []
    deadline = time.monotonic() + 10
    while len(events) < 2 and time.monotonic() < deadline:
        events += store.watch("Route", since=since, timeout=0.2)
        since = events[-1].resource_version if events else since
    assert sorted((e.type, e.object.metadata.name) for e in events) == [
        (port.EventType.DELETED, "owned"),
        (port.EventType.DELETED, "owner"),
    ]


def test_watch_with_timeout_zero_returns_at_once(store: port.Store) -> None:
    """Nothing new and timeout 0: no events, no waiting."""
    store.create(a_route("r"))
    since = store.list("Route").resource_version
    start = time.monotonic()
    assert list(store.watch("Route", since=since, timeout=0)) == []
    assert time.monotonic() - start < 1.0


def test_watch_waits_for_a_write_from_another_thread(store: port.Store) -> None:
    """A waiting watch returns the write made meanwhile, ignoring other kinds, long before
    its timeout."""
    since = store.list("Route").resource_version
    started = threading.Event()
    seen: list[port.WatchEvent] = []

    def watcher() -> None:
        started.set()
        seen.extend(store.watch("Route", since=since, timeout=WAIT))

    thread = threading.Thread(target=watcher)
    start = time.monotonic()
    thread.start()
    assert started.wait(WAIT)
    store.create(with_meta(example("examples/local/hello.yaml"), name="web"))
    store.create(a_route("r"))
    thread.join(WAIT)
    assert not thread.is_alive()
    assert [(e.type, e.object.kind, e.object.metadata.name) for e in seen] == [
        (port.EventType.ADDED, "Route", "r")
    ]
    assert time.monotonic() - start < WAIT / 2


def test_watch_from_a_version_older_than_the_log_raises_expired(make_store: MakeStore) -> None:
    """Once the log has moved past `since`, watch raises Expired; recent versions work."""
    store = make_store(log_size=3)
    old = store.list("Route").resource_version
    obj = store.create(a_route("r"))
    for i in range(10):
        obj = store.update(with_meta(obj, labels={"i": str(i)}))
    recent = obj.metadata.resource_version or ""
    store.update(with_meta(obj, labels={"i": "last"}))
    with pytest.raises(errors.Expired):
        list(store.watch("Route", since=old, timeout=0))
    events = list(store.watch("Route", since=recent, timeout=0))
    assert [e.object.metadata.labels for e in events] == [{"i": "last"}]


# --- concurrency ------------------------------------------------------------------------


def increment(store: port.Store, name: str) -> int:
    """Read-modify-write of label `n`, retried on Conflict; returns the conflicts met."""
    conflicts = 0
    while True:
        obj = store.get("Route", "default", name)
        n = int(obj.metadata.labels["n"]) + 1
        try:
            store.update(with_meta(obj, labels={"n": str(n)}))
        except errors.Conflict:
            conflicts += 1
        else:
            return conflicts


def test_concurrent_writers_in_threads_lose_nothing(store: port.Store) -> None:
    """Threads incrementing one counter with retry on Conflict reach exactly N×M."""
    store.create(a_route("counter", labels={"n": "0"}))
    threads, per_thread = 4, 25
    workers = [
        threading.Thread(target=lambda: [increment(store, "counter") for _ in range(per_thread)])
        for _ in range(threads)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(WAIT * 3)
    assert not any(w.is_alive() for w in workers)
    assert store.get("Route", "default", "counter").metadata.labels == {
        "n": str(threads * per_thread)
    }


# --- a model of the contract, checked on random operations -------------------------------

NAMES = st.sampled_from(["a", "b", "c"])
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("create"), NAMES, st.sampled_from(["web", "api"])),
        st.tuples(st.just("update"), NAMES, st.sampled_from(["web", "api"]), st.booleans()),
        st.tuples(st.just("status"), NAMES, st.sampled_from(["http://1", "http://2"])),
        st.tuples(st.just("delete"), NAMES),
    ),
    max_size=20,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=OPS)
def test_random_operations_agree_with_a_model(
    make_store: MakeStore, ops: list[tuple[Any, ...]]
) -> None:
    """Any sequence of writes leaves the store, and its watch replay, equal to a model."""
    store = make_store()
    model: dict[str, dict[str, Any]] = {}  # name → service, url, generation, rv, old rvs
    for op, name, *args in ops:
        entry = model.get(name)
        if op == "create":
            if entry is not None:
                with pytest.raises(errors.AlreadyExists):
                    store.create(a_route(name, service=args[0]))
                continue
            got = store.create(a_route(name, service=args[0]))
            model[name] = {"service": args[0], "url": None, "generation": 1, "old": []}
        elif entry is None:
            with pytest.raises(errors.NotFound):
                write_missing(store, op, name)
            continue
        elif op == "delete":
            store.delete("Route", "default", name)
            del model[name]
            continue
        else:
            current = store.get("Route", "default", name)
            # an older version than the current one (a write that changed nothing may
            # keep its version, as on a Kubernetes API server)
            older = [v for v in entry["old"] if v != current.metadata.resource_version]
            stale = op == "update" and args[1] and bool(older)
            sent = with_meta(current, resource_version=older[-1]) if stale else current
            if stale:
                with pytest.raises(errors.Conflict):
                    store.update(with_service(sent, args[0]))
                continue
            if op == "update":
                got = store.update(with_service(sent, args[0]))
                entry["generation"] += args[0] != entry["service"]
                entry["service"] = args[0]
            else:
                got = store.update_status(with_url(sent, args[0]))
                entry["url"] = args[0]
        model[name]["old"].append(got.metadata.resource_version)
        assert state(store.list("Route").items) == expected(model)

    replayed: dict[str, kinds.Resource] = {}
    for event in store.watch("Route", since="0", timeout=0):
        if event.type == port.EventType.DELETED:
            del replayed[event.object.metadata.name]
        else:
            replayed[event.object.metadata.name] = event.object
    assert state(sorted(replayed.values(), key=lambda o: o.metadata.name)) == expected(model)
    store.close()


def write_missing(store: port.Store, op: str, name: str) -> None:
    if op == "update":
        store.update(a_route(name))
    elif op == "status":
        store.update_status(a_route(name))
    else:
        store.delete("Route", "default", name)


def state(items: list[Any]) -> list[tuple[Any, ...]]:
    return [
        (
            o.metadata.name,
            o.spec.service,
            o.status.url,
            o.metadata.generation,
            o.metadata.resource_version,
        )
        for o in items
    ]


def expected(model: dict[str, dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (name, e["service"], e["url"], e["generation"], e["old"][-1])
        for name, e in sorted(model.items())
    ]
