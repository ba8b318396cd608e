"""The store's watch of one kind, buffered for pump-style reads (`Feed`).

One long-lived watch stream of all namespaces — or one per watched namespace, all
feeding the same buffer — each in a thread, resumed from the last resourceVersion it
saw (events or bookmarks) when the server or the network closes it, with backoff.
A 410 Gone (an ERROR event or an answer) marks the feed expired: the reader gets
`Expired` and lists again. Because the stream is buffered, a reader polling with a
small timeout costs no HTTP request per call. Across a network "what is already there"
cannot be known exactly: `take_after` returns once the events the server sent have
stopped coming for `_QUIET` seconds (at once when the feed is already caught up), or
after its timeout.

One reader per feed: it assumes one consumer that resumes from the last event it was
given (the controller's pump). An object that does not decode as our model is
delivered all the same: its event's `object` raises `errors.Undecodable`, which says
who it is and why (the controller marks it `InvalidSpec`).

I/O: the API server (`rest.Resources.watch`), threads. Called by `store.py` only.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import json
import threading
import time
from collections.abc import Mapping
from typing import Any

import kubernetes.watch.watch
import structlog
from kubernetes.client.exceptions import ApiException

from rollout.api import kinds
from rollout.platforms.kubernetes import customobjects, refs, rest
from rollout.store import errors, port

__all__ = ["Feed"]

log = structlog.get_logger(__name__)

_QUIET = 0.05  # seconds without a new event after which a catching-up read returns
_CATCH_UP = 2.0  # at most this long for a new stream to deliver what is already there
_STREAM_SECONDS = 300  # the server closes each watch request after this; we resume
_BACKOFF = (0.2, 5.0)  # reconnect delay: first, maximum
_KEEP = 10_000  # events kept per feed for a reader that is behind


class Feed:
    """The watch of one kind, buffered for pump-style reads: one stream of all
    namespaces, or one stream per watched namespace feeding the same buffer."""

    def __init__(
        self,
        res: rest.Resources,
        kind: str,
        ref: refs.Ref,
        since: str,
        starts: Mapping[str | None, str],
        timeout: float,
    ) -> None:
        self._res = res
        self._kind = kind
        self._ref = ref
        self._timeout = timeout
        self._start = since  # the events buffered come after this version
        self._events: collections.deque[port.WatchEvent] = collections.deque(maxlen=_KEEP)
        # per stream (namespace; None: all), the last version seen — events and
        # bookmarks — to resume from
        self._resume: dict[str | None, str] = dict(starts)
        self._expired = False
        self._connected: set[str | None] = set()
        self._last_arrival = 0.0
        self._changed = threading.Condition()
        self._stopped = threading.Event()
        self._responses: dict[str | None, Any] = {}
        self._threads = [
            threading.Thread(
                target=self._run,
                args=(namespace,),
                name=f"k8s-watch-{kind}" + (f"-{namespace}" if namespace else ""),
                daemon=True,
            )
            for namespace in self._resume
        ]
        for thread in self._threads:
            thread.start()

    # --- the reader's side ------------------------------------------------------------

    def knows(self, since: str) -> bool:
        with self._changed:
            return since == self._start or any(e.resource_version == since for e in self._events)

    def take_after(self, since: str, timeout: float) -> list[port.WatchEvent]:
        """The events after `since`: once some have come and then none for `_QUIET`
        seconds, or when `timeout` has passed (and at least `_QUIET`, so what is on
        its way is seen)."""
        start = time.monotonic()
        deadline = start + max(timeout, 0.0)
        with self._changed:
            self._forget_up_to(since)
            while True:
                if self._expired:
                    raise errors.Expired(f"{self._kind} watch from {since}: too old")
                events = self._after(since)
                now = time.monotonic()
                connected = len(self._connected) == len(self._resume)
                settled = connected and now - max(start, self._last_arrival) >= _QUIET
                if settled and (events or now >= deadline):
                    return events
                if events and now - start >= _CATCH_UP:  # a busy stream: take a batch
                    return events
                if now >= deadline + _CATCH_UP:  # not connected: the server is away
                    return events
                self._changed.wait(_QUIET)

    def _forget_up_to(self, since: str) -> None:
        """The reader has everything up to `since`: drop it from the buffer."""
        if since == self._start or not any(e.resource_version == since for e in self._events):
            return
        while self._events:
            version = self._events.popleft().resource_version
            if version == since:
                break
        self._start = since

    def _after(self, since: str) -> list[port.WatchEvent]:
        if since == self._start:
            return list(self._events)
        out: list[port.WatchEvent] = []
        found = False
        for event in self._events:
            if found:
                out.append(event)
            elif event.resource_version == since:
                found = True
        return out

    def stop(self) -> None:
        self._stopped.set()
        for response in list(self._responses.values()):
            with contextlib.suppress(Exception):
                response.shutdown()  # unblocks the read in the stream's thread

    def join(self) -> None:
        for thread in self._threads:
            thread.join(timeout=self._timeout + 1)

    # --- the streams' side ------------------------------------------------------------

    def _expire(self) -> None:
        """A stream's version is too old: the reader must list again; stop them all."""
        with self._changed:
            self._expired = True
            self._changed.notify_all()
        self.stop()

    def _run(self, namespace: str | None) -> None:
        delay = _BACKOFF[0]
        while not self._stopped.is_set():
            try:
                self._stream(namespace)
                delay = _BACKOFF[0]
                continue
            except errors.Expired:
                self._expire()
                return
            except ApiException as exc:
                if exc.status == 410:
                    self._expire()
                    return
                log.warning(
                    "watch failed; resuming",
                    kind=self._kind,
                    namespace=namespace,
                    status=exc.status,
                )
            except Exception as exc:  # network trouble: resume from the last version seen
                if self._stopped.is_set():
                    return
                log.warning(
                    "watch dropped; resuming", kind=self._kind, namespace=namespace, error=str(exc)
                )
            with self._changed:
                self._connected.discard(namespace)
            self._stopped.wait(delay)
            delay = min(delay * 2, _BACKOFF[1])

    def _stream(self, namespace: str | None) -> None:
        with self._changed:
            resume = self._resume[namespace]
        response = self._res.watch(self._ref, namespace, since=resume, seconds=_STREAM_SECONDS)
        self._responses[namespace] = response
        try:
            if self._stopped.is_set():  # stopped while connecting: stop() missed this one
                return
            with self._changed:
                self._connected.add(namespace)
                self._changed.notify_all()
            for line in kubernetes.watch.watch.iter_resp_lines(response):  # type: ignore[no-untyped-call]
                if self._stopped.is_set():
                    return
                if line.strip():
                    self._take(namespace, json.loads(line))
        finally:
            self._responses.pop(namespace, None)
            response.release_conn()

    def _take(self, namespace: str | None, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        body = event.get("object") or {}
        if kind == "ERROR":
            if body.get("code") == 410:
                raise errors.Expired(str(body.get("message", "too old")))
            raise rest.ApiError(
                f"WATCH {self._ref.path(namespace)}",
                status=body.get("code", 500),
                reason=body.get("message"),
            )
        version = str(body.get("metadata", {}).get("resourceVersion", ""))
        with self._changed:
            if version:
                self._resume[namespace] = version
            if kind in ("ADDED", "MODIFIED", "DELETED"):
                type_ = port.EventType(kind)
                try:
                    obj = customobjects.from_body(self._kind, body)
                    taken = port.WatchEvent(type_, obj, version)
                except errors.Undecodable as exc:  # delivered: the reader says so on it
                    taken = port.WatchEvent.parsed_later(
                        type_, exc.object.key, version, functools.partial(_undecodable, exc)
                    )
                self._events.append(taken)
                self._last_arrival = time.monotonic()
                self._changed.notify_all()


def _undecodable(exc: errors.Undecodable) -> kinds.Resource:
    """The `load` of an event whose object does not decode: raise why, each time."""
    raise errors.Undecodable(exc.object)
