"""The dashboard's view of the store (issue 21): a snapshot kept up to date from the
watch — the same as a fresh listing after any creates, updates and deletes, one
namespace when asked, nothing re-read when nothing changed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from rollout import clock as clocks
from rollout.api import service
from rollout.cli.dashboard import source
from rollout.store import memory
from rollout.views import problems as problem_view


def svc(name: str, ns: str = "default", version: str = "v1") -> service.Service:
    return service.Service.model_validate(
        {
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "app",
                                "command": ["app"],
                                "env": [{"name": "V", "value": version}],
                            }
                        ]
                    }
                }
            },
        }
    )


def shape(snap: source.Snapshot) -> list[Any]:
    """What the pages read of a snapshot, comparable."""
    return [
        (s.metadata.namespace, s.metadata.name, s.metadata.resource_version, s.spec.template)
        for s in snap.services
    ]


@pytest.fixture
def store() -> memory.MemoryStore:
    return memory.MemoryStore(now=clocks.FakeClock().now)


def test_changes_applied_from_the_watch_equal_a_fresh_listing(store: memory.MemoryStore) -> None:
    clock = clocks.FakeClock()
    for name in ("b", "a", "c"):
        store.create(svc(name))
    kept = source.Source(store, clock=clock, namespace=None)
    kept.look()
    assert not kept.changed()
    store.create(svc("d", ns="other"))
    store.delete("Service", "default", "b")
    a = store.get("Service", "default", "a")
    store.update(a.model_copy(update={"spec": svc("a", version="v2").spec}))
    assert kept.changed()
    applied = kept.look()
    fresh = source.Source(store, clock=clock, namespace=None).look()
    assert shape(applied) == shape(fresh)
    assert [(s.metadata.namespace, s.metadata.name) for s in applied.services] == [
        ("default", "a"),
        ("default", "c"),
        ("other", "d"),
    ]
    assert not kept.changed()


def test_one_namespace_ignores_the_others_changes(store: memory.MemoryStore) -> None:
    store.create(svc("a"))
    kept = source.Source(store, clock=clocks.FakeClock(), namespace="default")
    kept.look()
    store.create(svc("x", ns="other"))
    assert not kept.changed()
    store.create(svc("b"))
    assert kept.changed()
    assert [s.metadata.name for s in kept.look().services] == ["a", "b"]


def test_only_changed_objects_are_parsed_again(
    store: memory.MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the first listing, a look lists nothing: it applies the watch's events."""
    for name in ("a", "b"):
        store.create(svc(name))
    kept = source.Source(store, clock=clocks.FakeClock(), namespace=None)
    kept.look()
    listed: list[str] = []
    real = store.list

    def counting(kind: str, namespace: str | None = None, **kw: Any) -> Any:
        listed.append(kind)
        return real(kind, namespace, **kw)

    monkeypatch.setattr(store, "list", counting)
    store.create(svc("c"))
    assert kept.changed()
    names = [s.metadata.name for s in kept.look().services]
    assert names == ["a", "b", "c"]
    assert listed == []


def test_a_controller_that_stops_is_seen_though_the_store_does_not_change(
    store: memory.MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The heartbeat going stale changes nothing in the store: `changed` looks at it
    itself (at most every BEAT_EVERY seconds) and says yes when what a page says of
    the controller changes — and only then."""
    monkeypatch.setattr(source, "BEAT_EVERY", 0.0)
    clock = clocks.FakeClock()
    store.create(svc("a"))
    beat_at: list[Any] = [clock.now()]

    def heartbeat() -> problem_view.Heartbeat:
        return problem_view.Heartbeat(
            at=beat_at[0], now=clock.now(), period=2.0, stale_after=6.0, grace=30.0
        )

    kept = source.Source(store, clock=clock, namespace=None, heartbeat=heartbeat)
    assert kept.look().heartbeat is not None
    assert not kept.changed()  # beating: nothing to say
    clock.advance(timedelta(seconds=10))  # no beat for 10 s: the controller stopped
    assert kept.changed()
    snap = kept.look()
    assert snap.heartbeat is not None
    problem = snap.heartbeat.problem()
    assert problem is not None
    assert problem.reason == "NoController"
    assert not kept.changed()  # said once
    beat_at[0] = clock.now()  # it is back
    assert kept.changed()
