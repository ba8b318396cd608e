"""Which keys a watch event should enqueue, and the small index that answers it.

A change to one object can matter to others: a Revision's readiness to its Service,
to its Route when the route sends it traffic, and to the running Release it is the
canary of; a Route's applied split (its status: a new spec is the doing of its
service) to the running Release, else to its Service; a Release's start, end, command
or new split (its weights and request rules, its phase's end state) to its Service,
the one writer of the Route's spec; a Service's spec or newest revision to its running Release (what
supersedes it); a RolloutPolicy to the Services that name it. The index remembers,
from the events it has seen, the releases of each service (their canary, whether they
are still running), the revisions each route names, each service's newest revision
and the services of each policy, so mapping an event never reads the store. What it
has not seen yet is assumed to matter.

A status-only change (same generation as last seen) does not enqueue the object
itself: its own reconciler wrote it — except a Revision whose routing marks (the
labels and annotations the Service reconciler writes, `scaling`) changed: its
reconciler turns them into replicas. It still enqueues the objects that depend on it
— except that a running release's progress (its analysis, its route's status)
concerns the release alone: the service hears when a release starts, ends, gets a
command or asks for another split.

An object that does not decode (its event's `object` raises `errors.Undecodable`)
enqueues itself and the Service its labels name (a child's) — when its generation is
new, or it is deleted — and nothing else: what else it would say cannot be read. Its
reconcile marks it `InvalidSpec` (`invalid`); the index keeps what it last knew of it.

Pure and in memory; fed by `manager`. Thread-safe.
"""

from __future__ import annotations

import threading
from collections import defaultdict

from rollout.api import kinds, names, release, route, service, split
from rollout.api.release import TERMINAL_PHASES
from rollout.reconcilers import base
from rollout.reconcilers.service import builders
from rollout.store import errors, port

__all__ = ["Index"]

_Service = tuple[str, str]  # namespace, name
_Asks = tuple[list[split.TrafficTarget] | None, route.Rules] | None
_MARKS = (
    names.ROUTING_STATE_MODIFIED_ANNOTATION,
    names.SCALE_DOWN_DELAY_ANNOTATION,
    names.CANARY_REPLICAS_ANNOTATION,
)


class Index:
    def __init__(self) -> None:
        self._releases: dict[_Service, dict[str, bool]] = defaultdict(dict)  # name → running
        self._canary_of: dict[tuple[str, str], str] = {}  # (namespace, release) → canary
        self._by_policy: dict[tuple[str, str], set[str]] = defaultdict(set)
        self._policy_of: dict[_Service, str | None] = {}
        self._latest_of: dict[_Service, str | None] = {}  # status.latestCreatedRevision
        self._routed: dict[_Service, frozenset[str]] = {}  # the route's spec.traffic
        # (namespace, release) → the split and request rules it asks for
        # (`builders.release_traffic`, `builders.release_rules`)
        self._split_of: dict[tuple[str, str], _Asks] = {}
        self._generations: dict[base.Key, int | None] = {}
        self._marks: dict[base.Key, tuple[str | None, ...]] = {}  # a Revision's routing marks
        self._lock = threading.Lock()

    def keys_for(self, event: port.WatchEvent) -> list[base.Key]:
        """Update the index with `event`; the keys to reconcile because of it."""
        try:
            obj = event.object
        except errors.Undecodable as exc:
            return self.keys_for_invalid(exc.object, event.type)
        kind, namespace, name = port.key_of(obj)
        deleted = event.type is port.EventType.DELETED
        own = base.Key(kind, namespace, name)
        with self._lock:
            generation = obj.metadata.generation
            seen = self._generations.get(own)
            if deleted:
                self._generations.pop(own, None)
            else:
                self._generations[own] = generation
            # A status-only write is the object's own reconciler's doing: nothing new
            # for it to see (Kubernetes' generation-changed predicate).
            status_only = event.type is port.EventType.MODIFIED and seen == generation
            marked = self._marked(own, obj, deleted)
            keys = [] if status_only and not marked else [own]
            if isinstance(obj, release.Release):
                keys.extend(self._of_release(obj, namespace, name, deleted, status_only))
            elif isinstance(obj, service.Service):
                keys.extend(self._of_service(obj, namespace, name, deleted, status_only))
            elif obj.kind == "RolloutPolicy":
                keys.extend(
                    base.Key("Service", namespace, s)
                    for s in sorted(self._by_policy[(namespace, name)])
                )
            else:  # Revision, Route: their service and its running release
                keys.extend(self._of_child(obj, namespace, name, deleted, status_only, seen))
        return keys

    def keys_for_invalid(
        self, obj: port.InvalidObject, type_: port.EventType = port.EventType.ADDED
    ) -> list[base.Key]:
        """The keys to reconcile because of a change (`type_`; ADDED: listed) of an object
        that does not decode: its own and its service's, unless only its status changed
        (the controller marked it)."""
        own = base.Key(*obj.key)
        generation = obj.metadata.generation
        with self._lock:
            seen = self._generations.get(own)
            if type_ is port.EventType.DELETED:
                self._generations.pop(own, None)
            else:
                self._generations[own] = generation
        if type_ is port.EventType.MODIFIED and seen == generation:
            return []
        owner = obj.metadata.labels.get(names.SERVICE_LABEL)
        if own.kind == "Service" or owner is None:
            return [own]
        return [own, base.Key("Service", own.namespace, owner)]

    def _of_release(
        self, obj: release.Release, namespace: str, name: str, deleted: bool, status_only: bool
    ) -> list[base.Key]:
        """The service, when the release starts, ends, gets a command (retry) or asks
        for another split (the service writes the Route)."""
        svc = (namespace, obj.spec.service)
        was_running = self._releases[svc].get(name)
        running = not deleted and obj.status.phase not in TERMINAL_PHASES
        asks = None if deleted else (builders.release_traffic(obj), builders.release_rules(obj))
        previous = self._split_of.get((namespace, name))
        if deleted:
            self._releases[svc].pop(name, None)
            self._canary_of.pop((namespace, name), None)
            self._split_of.pop((namespace, name), None)
        else:
            self._releases[svc][name] = running
            self._canary_of[(namespace, name)] = obj.spec.canary_revision
            self._split_of[(namespace, name)] = asks
        if was_running is None or was_running != running or not status_only:
            return [base.Key("Service", *svc)]
        if running and asks != previous:
            return [base.Key("Service", *svc)]
        return []

    def _of_service(
        self, obj: service.Service, namespace: str, name: str, deleted: bool, status_only: bool
    ) -> list[base.Key]:
        """Its running releases, when its spec or newest revision changed (a newer one
        supersedes)."""
        svc = (namespace, name)
        old = self._policy_of.pop(svc, None)
        if old is not None:
            self._by_policy[(namespace, old)].discard(name)
        if not deleted:
            self._policy_of[svc] = obj.spec.policy
            if obj.spec.policy is not None:
                self._by_policy[(namespace, obj.spec.policy)].add(name)
        latest = None if deleted else obj.status.latest_created_revision
        newer = svc not in self._latest_of or self._latest_of[svc] != latest
        self._latest_of[svc] = latest
        if deleted:
            del self._latest_of[svc]
        return self._running(svc) if not status_only or newer else []

    def _of_child(
        self,
        obj: kinds.Resource,
        namespace: str,
        name: str,
        deleted: bool,
        status_only: bool,
        seen: int | None,
    ) -> list[base.Key]:
        owner = _service_of(obj)
        if owner is None:
            return []
        svc = (namespace, owner)
        releases = self._running(svc)
        if isinstance(obj, route.Route):
            if deleted:
                self._routed.pop(svc, None)
            else:
                self._routed[svc] = frozenset(t.revision_name for t in obj.spec.traffic)
            # Of the split applied: a new spec is what its service just wrote.
            # While a release moves the route, the release is the one to tell.
            if status_only or deleted or seen is None:
                return releases or [base.Key("Service", *svc)]
            return []
        keys = [base.Key("Service", *svc)]
        # Its address or readiness: the split is applied again if it has a part.
        routed = self._routed.get(svc)
        if routed is None or name in routed:
            keys.append(base.Key("Route", *svc))
        # The release it is the canary of watches its readiness.
        keys.extend(r for r in releases if self._canary_of.get((namespace, r.name)) == name)
        return keys

    def _marked(self, key: base.Key, obj: kinds.Resource, deleted: bool) -> bool:
        """Whether a Revision's routing marks changed (remembered for the next event)."""
        if key.kind != "Revision":
            return False
        if deleted:
            self._marks.pop(key, None)
            return False
        meta = obj.metadata
        now = (
            meta.labels.get(names.ROUTING_STATE_LABEL),
            *(meta.annotations.get(a) for a in _MARKS),
        )
        changed = self._marks.get(key) != now
        self._marks[key] = now
        return changed

    def _running(self, svc: _Service) -> list[base.Key]:
        return [
            base.Key("Release", svc[0], name)
            for name, running in sorted(self._releases[svc].items())
            if running
        ]


def _service_of(obj: kinds.Resource) -> str | None:
    label = obj.metadata.labels.get(names.SERVICE_LABEL)
    spec_service = getattr(obj.spec, "service", None)
    return label or (spec_service if isinstance(spec_service, str) else None)
