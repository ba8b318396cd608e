"""The store as the dashboard sees it: one `Snapshot` of every object the pages
draw, taken again only when something changed.

`Source.changed()` is the cheap look made every poll (a quarter of a second): a
watch of each kind from the resourceVersion last seen, with no wait (`timeout=0`:
what is already there), and the size and time of the event journal. Only when it
says yes does `Source.look()` make a new snapshot: the first lists every kind, the
later ones apply the changes the watch gave (parsing only the objects that changed;
a watch too old to resume, `Expired`, lists its kind again). A page is drawn from
memory (a metric's readings too: the release keeps its last ones, `recent`), and a
quiet store costs a few small reads a second.

Blocking I/O (the store, the journal, the heartbeat file): the server calls it from
one worker thread, never from its event loop. Called by `server`.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import time
from collections.abc import Callable
from datetime import datetime

from rollout import clock as clocks
from rollout.api import kinds, names, release, revision, route, service
from rollout.store import errors, eventlog, port
from rollout.views import problems as problem_view

__all__ = ["BEAT_EVERY", "KINDS", "Snapshot", "Source"]

KINDS = ("Service", "Release", "Route", "Revision", "RolloutPolicy")
BEAT_EVERY = 1.0  # seconds between two looks at the heartbeat when nothing else changed


def _said(beat: problem_view.Heartbeat | None) -> tuple[str, bool]:
    """What a page says of the controller: the problem's reason ('' for none) and
    whether it blocks."""
    problem = beat.problem() if beat is not None else None
    return (problem.reason, problem.blocking) if problem is not None else ("", False)


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """Every object the pages draw, as listed at `at` (the store's clock)."""

    at: datetime
    services: list[service.Service]
    releases: dict[tuple[str, str], release.Release]  # (namespace, name) →
    routes: dict[tuple[str, str], route.Route]
    revisions: dict[tuple[str, str], list[revision.Revision]]  # (namespace, service) →
    policies: set[tuple[str, str]]
    events: list[eventlog.Event]
    heartbeat: problem_view.Heartbeat | None

    @staticmethod
    def _ns(obj: kinds.Resource) -> str:
        return obj.metadata.namespace or port.DEFAULT_NAMESPACE

    def find(self, namespace: str, name: str) -> service.Service | None:
        return next(
            (s for s in self.services if (self._ns(s), s.metadata.name) == (namespace, name)),
            None,
        )

    def current(self, svc: service.Service) -> release.Release | None:
        name = svc.status.current_release
        return self.releases.get((self._ns(svc), name)) if name is not None else None

    def releases_of(self, svc: service.Service) -> list[release.Release]:
        """The service's releases, oldest first (as `rollout history` lists them)."""
        ns, name = self._ns(svc), svc.metadata.name
        found = [r for (n, _), r in self.releases.items() if n == ns and r.spec.service == name]
        return sorted(
            found, key=lambda r: (names.revision_number(r.spec.canary_revision), r.metadata.name)
        )

    def problems(self, svc: service.Service) -> list[problem_view.Problem]:
        """What `rollout status` lists under the service."""
        ns = self._ns(svc)
        found = None
        if svc.spec.policy is not None:
            found = (ns, svc.spec.policy) in self.policies
        return problem_view.gather(
            svc,
            revisions=self.revisions.get((ns, svc.metadata.name), []),
            rt=self.routes.get((ns, svc.metadata.name)),
            rel=self.current(svc),
            heartbeat=self.heartbeat,
            policy_found=found,
        )


class Source:
    """The store of one dashboard: `namespace` None for every namespace; `events`
    reads the events (oldest first); `heartbeat` what is known of the controller;
    `journal`: the file whose size and time say the events changed (None: none);
    `events_every`: without a journal, read the events again this often (seconds)."""

    def __init__(
        self,
        store: port.Store,
        *,
        clock: clocks.Clock,
        namespace: str | None,
        events: Callable[[], list[eventlog.Event]] = list,
        heartbeat: Callable[[], problem_view.Heartbeat | None] = lambda: None,
        journal: pathlib.Path | None = None,
        events_every: float | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.namespace = namespace
        self._events = events
        self._heartbeat = heartbeat
        self._journal = journal
        self._events_every = events_every
        self._events_read_at = 0.0  # time.monotonic() of the last read of the events
        self._seen: dict[str, str] = {}  # kind → the resourceVersion looked from
        self._journal_seen: tuple[int, int] | None = None
        self._journal_events: list[eventlog.Event] | None = None
        # kind → (namespace, name) → the object, and the changes not applied yet
        self._held: dict[str, dict[tuple[str, str], kinds.Resource]] = {k: {} for k in KINDS}
        self._pending: dict[str, list[port.WatchEvent]] = {k: [] for k in KINDS}
        # What the last snapshot said of the controller, and when it was last checked:
        # a controller that stops changes nothing in the store, so `changed` looks at
        # the heartbeat itself, at most every BEAT_EVERY seconds.
        self._beat_said: tuple[str, bool] | None = None
        self._beat_checked_at = 0.0

    def _journal_stamp(self) -> tuple[int, int] | None:
        if self._journal is None:
            return None
        try:
            st = os.stat(self._journal)
        except OSError:
            return None
        return (st.st_size, st.st_mtime_ns)

    def changed(self) -> bool:
        """Whether anything the pages draw changed since the last `look` (or a look
        was never taken); the changes are kept for `look` to apply."""
        moved = False
        for kind in KINDS:
            if kind not in self._seen:
                moved = True  # never listed, or listed too long ago: `look` lists it
                continue
            try:
                for event in self.store.watch(kind, since=self._seen[kind], timeout=0):
                    self._seen[kind] = event.resource_version
                    if self.namespace is None or event.key[1] == self.namespace:
                        self._pending[kind].append(event)
                        moved = True
            except errors.Expired:
                self._seen.pop(kind, None)  # list again
                self._pending[kind].clear()
                moved = True
        return moved or self._events_due() or self._beat_moved()

    def _beat_moved(self) -> bool:
        """Whether what is said of the controller (no problem, a warning, blocking)
        differs from the last snapshot's, looked at every `BEAT_EVERY` seconds."""
        if time.monotonic() - self._beat_checked_at < BEAT_EVERY:
            return False
        self._beat_checked_at = time.monotonic()
        return _said(self._heartbeat()) != self._beat_said

    def _events_due(self) -> bool:
        """Whether the events are to be read again: the journal changed, or (events
        with no journal to watch: a cluster's) `events_every` seconds passed."""
        if self._journal_events is None or self._journal_stamp() != self._journal_seen:
            return True
        every = self._events_every
        return every is not None and time.monotonic() - self._events_read_at >= every

    def _apply(self, kind: str) -> None:
        """The kind's objects brought up to date: listed when never listed (or the
        watch expired), else the changes seen since applied — only the changed
        objects are parsed."""
        if kind not in self._seen:
            got = self.store.list(kind, self.namespace)
            self._seen[kind] = got.resource_version
            self._held[kind] = {(Snapshot._ns(o), o.metadata.name): o for o in got.items}
            self._pending[kind].clear()
            return
        held = self._held[kind]
        for event in self._pending[kind]:
            _, namespace, name = event.key
            if event.type is port.EventType.DELETED:
                held.pop((namespace, name), None)
                continue
            try:
                held[(namespace, name)] = event.object
            except errors.Undecodable:  # listed apart, never drawn
                held.pop((namespace, name), None)
        self._pending[kind].clear()

    def look(self) -> Snapshot:
        """The store as it is now (the first look lists everything; later ones apply
        what `changed` saw)."""
        for kind in KINDS:
            self._apply(kind)
        stamp = self._journal_stamp()
        events = self._journal_events
        if events is None or self._events_due():
            self._events_read_at = time.monotonic()
            events = self._events()
            if self.namespace is not None:
                events = [e for e in events if e.namespace == self.namespace]
            self._journal_events = events
        self._journal_seen = stamp
        held = {kind: [self._held[kind][k] for k in sorted(self._held[kind])] for kind in KINDS}
        beat = self._heartbeat()
        self._beat_said = _said(beat)
        key = Snapshot._ns
        releases = {
            (key(r), r.metadata.name): r for r in held["Release"] if isinstance(r, release.Release)
        }
        revisions: dict[tuple[str, str], list[revision.Revision]] = {}
        for r in held["Revision"]:
            if isinstance(r, revision.Revision):
                owner = r.metadata.labels.get(names.SERVICE_LABEL, "")
                revisions.setdefault((key(r), owner), []).append(r)
        return Snapshot(
            at=self.clock.now(),
            services=[s for s in held["Service"] if isinstance(s, service.Service)],
            releases=releases,
            routes={
                (key(r), r.metadata.name): r for r in held["Route"] if isinstance(r, route.Route)
            },
            revisions=revisions,
            policies={(key(p), p.metadata.name) for p in held["RolloutPolicy"]},
            events=events,
            heartbeat=beat,
        )
