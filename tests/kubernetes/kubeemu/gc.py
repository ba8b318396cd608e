"""Garbage collection, planned as pure functions, applied by `collector.py` (and
`writes.py` for Namespaces and CRDs).

`sweep(objects, gone)` is one round of the garbage collector's work over a snapshot
of every stored object, as the Kubernetes collector ends up doing it, given `gone`
(the uid → namespace of each object removed so far):

- a dependent (not itself being deleted) with a reference to a removed owner, or to
  an owner being deleted in the foreground (`foregroundDeletion` finalizer), is
  deleted — in the foreground when an owner waits for it and it has dependents of
  its own, else with the policy its finalizers ask for, else in the background —
  unless it still has a solid owner (existing, not waiting for its dependents): then
  only the references to removed and waiting owners are stripped from it;
- an owner being deleted in the foreground loses its `foregroundDeletion`
  finalizer once no dependent with `blockOwnerDeletion: true` is left;
- an owner being deleted with `orphan`: its dependents lose their references to
  it, then it loses its `orphan` finalizer.

A namespaced owner owns only objects of its own namespace; a cluster-scoped owner
owns objects anywhere; other references are ignored (the real collector deletes such
a dependent with an `OwnerRefInvalidNamespace` event). Deviation: a dependent is
looked at only once one of its owners was removed or waits for it; an owner uid that
never existed counts as removed then (dangling), but alone it deletes nothing (the
real collector deletes a dependent all of whose owners never existed).

`plan_delete` selects, synchronously, what deleting a Namespace or a CRD takes with
it (their contents, `extra`, and everything those own, recursively), for
`writes.py`: `Background` and `Foreground` (dependents with another live owner stay
and only lose their references to doomed owners), or `Orphan`.

Pure: selection only, no writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FOREGROUND", "ORPHAN", "Plan", "Ref", "Sweep", "plan_delete", "sweep"]

FOREGROUND = "foregroundDeletion"  # the apiserver adds it for propagationPolicy=Foreground
ORPHAN = "orphan"  # ... and this one for propagationPolicy=Orphan

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


@dataclass(frozen=True)
class Sweep:
    """One round of collection, applied in this order: strip owner references (uids)
    from dependents, delete dependents (with a propagation policy), remove garbage
    collector finalizers from owners. Each entry names the object's uid too, so that
    an object replaced meanwhile by another of the same name is left alone."""

    strip: tuple[tuple[Ref, str, frozenset[str]], ...] = ()
    delete: tuple[tuple[Ref, str, str], ...] = ()
    finish: tuple[tuple[Ref, str, str], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.strip or self.delete or self.finish)


def _deleting(obj: dict[str, Any], finalizer: str) -> bool:
    meta = obj["metadata"]
    return bool(meta.get("deletionTimestamp")) and finalizer in (meta.get("finalizers") or [])


def _in_scope(owner_namespace: str, dependent: dict[str, Any]) -> bool:
    return not owner_namespace or owner_namespace == (dependent["metadata"].get("namespace") or "")


def _own_policy(obj: dict[str, Any]) -> str:
    finalizers = obj["metadata"].get("finalizers") or []
    if ORPHAN in finalizers:
        return "Orphan"
    return "Foreground" if FOREGROUND in finalizers else "Background"


def sweep(
    objects: Iterable[tuple[GroupResource, dict[str, Any]]], gone: Mapping[str, str]
) -> Sweep:
    """What the garbage collector does next, given every stored object and the
    uid → namespace of the objects removed so far."""
    everything = list(objects)
    by_uid = {obj["metadata"].get("uid"): (gr, obj) for gr, obj in everything}
    owners_of = {id(obj): _owner_uids(obj) for _, obj in everything}
    referenced = {u for uids in owners_of.values() for u in uids}
    strip: list[tuple[Ref, str, frozenset[str]]] = []
    delete: list[tuple[Ref, str, str]] = []
    finish: list[tuple[Ref, str, str]] = []
    blocking: set[str] = set()  # owners some blockOwnerDeletion dependent still holds
    orphaning: set[str] = set()
    for gr, obj in everything:
        meta = obj["metadata"]
        uid = meta.get("uid")
        solid, dead, waiting = [], [], []
        for ref in meta.get("ownerReferences") or []:
            if not isinstance(ref, dict):
                continue
            owner_uid = str(ref.get("uid"))
            if owner_uid in by_uid:
                owner = by_uid[owner_uid][1]
                if not _in_scope(owner["metadata"].get("namespace") or "", obj):
                    continue
                if ref.get("blockOwnerDeletion") is True:
                    blocking.add(owner_uid)
                if _deleting(owner, ORPHAN):
                    orphaning.add(owner_uid)
                    strip.append((_ref(gr, obj), uid, frozenset({owner_uid})))
                    solid.append(owner_uid)  # it stays: only the reference goes
                elif _deleting(owner, FOREGROUND):
                    waiting.append(owner_uid)
                else:
                    solid.append(owner_uid)
            elif owner_uid in gone:
                if _in_scope(gone[owner_uid], obj):
                    dead.append(owner_uid)
            else:
                dead.append(owner_uid)  # never seen: dangling
        if meta.get("deletionTimestamp") or not (waiting or any(u in gone for u in dead)):
            continue
        if any(u not in orphaning for u in solid):
            strip.append((_ref(gr, obj), uid, frozenset(dead + waiting)))
        elif waiting and uid in referenced:
            delete.append((_ref(gr, obj), uid, "Foreground"))
        else:
            delete.append((_ref(gr, obj), uid, _own_policy(obj)))
    for gr, obj in everything:
        uid = obj["metadata"].get("uid")
        if _deleting(obj, ORPHAN):
            finish.append((_ref(gr, obj), uid, ORPHAN))
        if _deleting(obj, FOREGROUND) and uid not in blocking:
            finish.append((_ref(gr, obj), uid, FOREGROUND))
    return Sweep(strip=_merged(strip), delete=tuple(delete), finish=tuple(finish))


def _merged(
    strips: list[tuple[Ref, str, frozenset[str]]],
) -> tuple[tuple[Ref, str, frozenset[str]], ...]:
    """One strip per dependent, with every owner uid to drop from it."""
    merged: dict[tuple[Ref, str], frozenset[str]] = {}
    for ref, uid, owners in strips:
        merged[(ref, uid)] = merged.get((ref, uid), frozenset()) | owners
    return tuple((ref, uid, owners) for (ref, uid), owners in merged.items() if owners)
