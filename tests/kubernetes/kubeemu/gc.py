"""Garbage collection of a delete, planned as a pure function, applied by `api.py`.

`plan_delete` selects, from a snapshot of every stored object, what deleting one
object takes with it, the way the Kubernetes garbage collector ends up:

- `Background` (the default) and `Foreground`: every object with an
  `ownerReferences[].uid` naming a doomed object is doomed too, recursively and
  across kinds — unless it still has an owner that is neither doomed nor missing,
  in which case it stays and only the references to doomed owners are removed.
  A namespaced owner owns only objects of its own namespace; a cluster-scoped owner
  owns objects anywhere. Background deletes the owner first, Foreground the
  dependents first (deepest first).
- `Orphan`: only the object goes; its direct dependents stay, with their references
  to it removed (as the garbage collector's orphan finalizer does).

`extra` seeds more doomed objects: a Namespace's contents, a CRD's custom objects.

Unlike the real collector this is synchronous (the dependents are gone when DELETE
answers) and finalizers are not honoured. Pure: selection only, no writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Plan", "Ref", "plan_delete"]

GroupResource = tuple[str, str]


@dataclass(frozen=True)
class Ref:
    """Where an object is stored."""

    group_resource: GroupResource
    namespace: str
    name: str


@dataclass(frozen=True)
class Plan:
    """Deletes in order, and dependents to keep with owner uids to drop from them."""

    deletes: tuple[Ref, ...]
    strip: tuple[tuple[Ref, frozenset[str]], ...] = field(default=())


def _ref(gr: GroupResource, obj: dict[str, Any]) -> Ref:
    meta = obj["metadata"]
    return Ref(gr, meta.get("namespace") or "", meta["name"])


def _owner_uids(obj: dict[str, Any]) -> list[str]:
    refs = obj["metadata"].get("ownerReferences") or []
    return [str(r.get("uid")) for r in refs if isinstance(r, dict)]


def _owns(owner: dict[str, Any], dependent: dict[str, Any]) -> bool:
    owner_ns = owner["metadata"].get("namespace") or ""
    return not owner_ns or owner_ns == (dependent["metadata"].get("namespace") or "")


def plan_delete(
    root: tuple[GroupResource, dict[str, Any]],
    objects: Iterable[tuple[GroupResource, dict[str, Any]]],
    *,
    policy: str = "Background",
    extra: Iterable[tuple[GroupResource, dict[str, Any]]] = (),
) -> Plan:
    """What deleting `root` deletes and which dependents lose owner references."""
    everything = list(objects)
    by_uid = {obj["metadata"].get("uid"): obj for _, obj in everything}
    root_uid = root[1]["metadata"].get("uid")
    doomed: dict[str, tuple[GroupResource, dict[str, Any]]] = {root_uid: root}
    for gr, obj in extra:
        doomed.setdefault(obj["metadata"].get("uid"), (gr, obj))

    if policy == "Orphan":
        strips = tuple(
            (_ref(gr, obj), frozenset({root_uid}))
            for gr, obj in everything
            if root_uid in _owner_uids(obj)
            and _owns(root[1], obj)
            and obj["metadata"].get("uid") not in doomed
        )
        return Plan(deletes=tuple(_ref(gr, o) for gr, o in doomed.values()), strip=strips)

    changed = True
    while changed:
        changed = False
        for gr, obj in everything:
            uid = obj["metadata"].get("uid")
            owners = _owner_uids(obj)
            if uid in doomed or not any(u in doomed for u in owners):
                continue
            if not any(u in doomed and _owns(doomed[u][1], obj) for u in owners):
                continue
            live = [u for u in owners if u not in doomed and u in by_uid]
            if not live:
                doomed[uid] = (gr, obj)
                changed = True

    order = [_ref(gr, obj) for gr, obj in doomed.values()]
    if policy == "Foreground":
        order = order[::-1]
    strips = []
    for gr, obj in everything:
        uid = obj["metadata"].get("uid")
        gone = frozenset(u for u in _owner_uids(obj) if u in doomed)
        if uid not in doomed and gone:
            strips.append((_ref(gr, obj), gone))
    return Plan(deletes=tuple(order), strip=tuple(strips))
