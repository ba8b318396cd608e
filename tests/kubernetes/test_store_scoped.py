"""The Kubernetes store scoped to namespaces (`KubernetesStore(namespaces=…)`, the
controller's `--watch-namespaces`), on the API emulator enforcing the RBAC objects
that `rollout install --watch-namespaces team-a,team-b` renders: lists and watches
cover exactly the watched namespaces with no cluster-wide request (which that RBAC
would refuse), a call elsewhere is refused before it is sent, and a version the
scoped watch cannot resume from is `Expired` (list again)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import kubeemu
import pytest
from kubecluster import CONTROLLER_AGENT, controller_requests, controller_sa, install_rbac
from kubeemu import crdfiles

from rollout.api import meta, route
from rollout.platforms.kubernetes import manifests
from rollout.platforms.kubernetes import store as kstore
from rollout.store import errors, port

WATCHED = ("team-a", "team-b")
CONTROLLER_NS = "rollout-system"
WAIT = 10.0


def a_route(name: str, namespace: str) -> route.Route:
    return route.Route(
        metadata=meta.ObjectMeta(name=name, namespace=namespace),
        spec=route.RouteSpec(service="web"),
    )


@pytest.fixture
def cluster(crds_applied: kubeemu.Emulator) -> kubeemu.Emulator:
    install_rbac(
        crds_applied, manifests.Settings(namespace=CONTROLLER_NS, watch_namespaces=WATCHED)
    )
    crds_applied.enforce_rbac(CONTROLLER_AGENT, controller_sa(CONTROLLER_NS))
    return crds_applied


@pytest.fixture
def admin(cluster: kubeemu.Emulator) -> Iterator[port.Store]:
    store = kstore.KubernetesStore(cluster.api_client(user_agent="admin"))
    yield store
    store.close()


@pytest.fixture
def scoped(cluster: kubeemu.Emulator) -> Iterator[kstore.KubernetesStore]:
    store = kstore.KubernetesStore(
        cluster.api_client(user_agent=f"{CONTROLLER_AGENT}test"), namespaces=WATCHED
    )
    yield store
    store.close()


def names(listed: port.Listed) -> list[tuple[str, str]]:
    return [(o.metadata.namespace or "", o.metadata.name) for o in listed.items]


def test_a_list_of_all_covers_the_watched_namespaces_only(
    cluster: kubeemu.Emulator, admin: port.Store, scoped: kstore.KubernetesStore
) -> None:
    """One request per watched namespace, none cluster-wide, none refused."""
    for namespace in (*WATCHED, "outside", "default"):
        admin.create(a_route("r", namespace))
    listed = scoped.list("Route")
    assert names(listed) == [("team-a", "r"), ("team-b", "r")]
    assert listed.resource_version.startswith("namespaces:team-a=")
    sent = controller_requests(cluster)
    assert [(r.verb, r.namespace, r.status_code) for r in sent] == [
        ("list", "team-a", 200),
        ("list", "team-b", 200),
    ]


def test_an_unscoped_store_is_refused_by_this_rbac(
    cluster: kubeemu.Emulator, admin: port.Store
) -> None:
    """Why the scope is needed: listing every namespace is a cluster-wide request, which
    Roles in some namespaces do not grant (a 403 on a real cluster)."""
    unscoped = kstore.KubernetesStore(cluster.api_client(user_agent=f"{CONTROLLER_AGENT}old"))
    try:
        with pytest.raises(errors.StoreError, match="403"):
            unscoped.list("Route")
    finally:
        unscoped.close()


def wait_events(store: port.Store, since: str, count: int) -> tuple[list[port.WatchEvent], str]:
    got: list[port.WatchEvent] = []
    deadline = time.monotonic() + WAIT
    while len(got) < count and time.monotonic() < deadline:
        for event in store.watch("Route", since=since, timeout=0.5):
            got.append(event)
            since = event.resource_version
    return got, since


def test_the_watch_sees_each_watched_namespace_and_resumes(
    cluster: kubeemu.Emulator, admin: port.Store, scoped: kstore.KubernetesStore
) -> None:
    """From the list's version: the changes in both watched namespaces, in order per
    namespace, none from elsewhere; resuming from the last event gives only newer ones;
    every watch request names a watched namespace."""
    listed = scoped.list("Route")
    admin.create(a_route("one", "team-a"))
    admin.create(a_route("elsewhere", "outside"))
    admin.create(a_route("two", "team-b"))
    events, since = wait_events(scoped, listed.resource_version, 2)
    assert sorted(e.key for e in events) == [
        ("Route", "team-a", "one"),
        ("Route", "team-b", "two"),
    ]
    admin.create(a_route("three", "team-a"))
    admin.create(a_route("later", "outside"))
    events, _ = wait_events(scoped, since, 1)
    assert [e.key for e in events] == [("Route", "team-a", "three")]
    sent = controller_requests(cluster)
    assert {(r.verb, r.namespace) for r in sent} == {
        ("list", "team-a"),
        ("list", "team-b"),
        ("watch", "team-a"),
        ("watch", "team-b"),
    }
    assert all(r.status_code == 200 for r in sent)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda s: s.get("Route", "outside", "r"), id="get"),
        pytest.param(lambda s: s.list("Route", "outside"), id="list"),
        pytest.param(lambda s: s.create(a_route("r", "outside")), id="create"),
        pytest.param(lambda s: s.update(a_route("r", "outside")), id="update"),
        pytest.param(lambda s: s.update_status(a_route("r", "outside")), id="status"),
        pytest.param(lambda s: s.delete("Route", "outside", "r"), id="delete"),
    ],
)
def test_a_call_outside_is_refused_before_it_is_sent(
    cluster: kubeemu.Emulator, scoped: kstore.KubernetesStore, call: Any
) -> None:
    """StoreError naming the namespace and the scope; no request reaches the server."""
    with pytest.raises(errors.StoreError, match="namespace outside is not watched") as raised:
        call(scoped)
    assert not isinstance(raised.value, errors.NotFound)
    assert "--watch-namespaces team-a,team-b" in str(raised.value)
    assert controller_requests(cluster) == []


@pytest.mark.parametrize(
    "since",
    [
        pytest.param("12", id="a-plain-version"),
        pytest.param("namespaces:team-a=1", id="another-scope"),
        pytest.param("namespaces:", id="empty"),
    ],
)
def test_a_version_the_scope_cannot_resume_from_is_expired(
    scoped: kstore.KubernetesStore, since: str
) -> None:
    """The controller lists again: the only safe way to learn every namespace's place."""
    with pytest.raises(errors.Expired):
        list(scoped.watch("Route", since=since, timeout=0))


def watch_until_expired(store: port.Store, since: str) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        list(store.watch("Route", since=since, timeout=0.5))


def test_a_compacted_namespace_stream_expires_the_watch(tmp_path: Any) -> None:
    """When one namespace's version is too old for the server (410), the whole watch
    is Expired, and a new list starts afresh."""
    emu = kubeemu.start_emulator(history=5)
    scoped: kstore.KubernetesStore | None = None
    admin: kstore.KubernetesStore | None = None
    try:
        crdfiles.register(emu, crdfiles.PROJECT_CRDS)
        install_rbac(emu, manifests.Settings(namespace=CONTROLLER_NS, watch_namespaces=WATCHED))
        emu.enforce_rbac(CONTROLLER_AGENT, controller_sa(CONTROLLER_NS))
        admin = kstore.KubernetesStore(emu.api_client(user_agent="admin"))
        scoped = kstore.KubernetesStore(
            emu.api_client(user_agent=f"{CONTROLLER_AGENT}test"), namespaces=WATCHED
        )
        old = scoped.list("Route").resource_version
        for n in range(10):
            admin.create(a_route(f"r{n}", "team-b"))
        with pytest.raises(errors.Expired):
            watch_until_expired(scoped, old)
        fresh = scoped.list("Route")
        assert len(fresh.items) == 10
        admin.create(a_route("new", "team-a"))
        events, _ = wait_events(scoped, fresh.resource_version, 1)
        assert [e.key for e in events] == [("Route", "team-a", "new")]
    finally:
        for store in (scoped, admin):
            if store is not None:
                store.close()
        emu.stop()
