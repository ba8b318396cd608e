"""Watch streams: which events a watcher gets, and the stream's timing.

`convert` decides what one stored event means to a watcher with a namespace and
selectors, as the apiserver's watch cache does: an object that starts matching is
`ADDED`, one that stops matching is `DELETED` (with its previous content and the new
resourceVersion), otherwise `MODIFIED`/`ADDED`/`DELETED` pass through when they match.

`stream` yields the watch events of one request:

- first the `initial` events (synthetic `ADDED` of current objects when the watch
  had no resourceVersion or `"0"`, or asked `sendInitialEvents=true`, which then also
  gets the `k8s.io/initial-events-end` BOOKMARK of the watch-list protocol), then
  every event after `start_rv`;
- `BOOKMARK` events (`{kind, apiVersion, metadata: {resourceVersion}}`) every
  `bookmark_interval` seconds and once before ending on `timeoutSeconds`, when the
  client allowed them;
- one `ERROR` event with a 410 `Expired` Status when the history no longer holds the
  events after the watcher's resourceVersion (at the start or because it fell
  behind), then the end — which the official client's `Watch.stream` turns into
  `ApiException(status=410)`;
- the `DROP` sentinel after `drop_after` seconds (an injected fault: the server then
  closes the connection without ending the chunked body);
- the end when `timeoutSeconds` pass or the emulator stops.

Timing uses the monotonic clock; waits block on the store's condition (no polling).
Called by `api.py`; the server writes what it yields.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from kubeemu import errors, resources, selectors, storage

__all__ = ["DROP", "bookmark", "convert", "stream"]

DROP = object()

Render = Callable[[dict[str, Any]], dict[str, Any]]


def _matches(
    obj: dict[str, Any] | None,
    namespace: str | None,
    label: selectors.LabelSelector,
    field: selectors.FieldSelector,
) -> bool:
    if obj is None:
        return False
    if namespace is not None and (obj["metadata"].get("namespace") or "") != namespace:
        return False
    return label.matches(obj) and field.matches(obj)


def convert(
    event: storage.Event,
    *,
    namespace: str | None,
    label: selectors.LabelSelector,
    field: selectors.FieldSelector,
) -> tuple[str, dict[str, Any]] | None:
    """(type, object) of a stored event for this watcher, None when it does not see it."""
    now = _matches(event.obj, namespace, label, field)
    before = _matches(event.old, namespace, label, field)
    if event.type == "ADDED":
        return ("ADDED", event.obj) if now else None
    if event.type == "DELETED":
        return ("DELETED", event.obj) if before else None
    if now and before:
        return ("MODIFIED", event.obj)
    if now:
        return ("ADDED", event.obj)
    if before and event.old is not None:
        gone = {**event.old, "metadata": dict(event.old["metadata"])}
        gone["metadata"]["resourceVersion"] = str(event.rv)
        return ("DELETED", gone)
    return None


def bookmark(rt: resources.ResourceType, rv: int, *, initial_end: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {"resourceVersion": str(rv)}
    if initial_end:
        metadata["annotations"] = {"k8s.io/initial-events-end": "true"}
    return {
        "type": "BOOKMARK",
        "object": {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": metadata},
    }


def stream(
    *,
    store: storage.Store,
    rt: resources.ResourceType,
    namespace: str | None,
    label: selectors.LabelSelector,
    field: selectors.FieldSelector,
    start_rv: int,
    initial: list[dict[str, Any]],
    render: Render,
    timeout_s: float | None,
    bookmarks: bool,
    initial_events_end: bool = False,
    bookmark_interval: float,
    drop_after: float | None,
    stop: threading.Event,
) -> Iterator[Any]:
    """The events of one watch request (see the module docstring)."""
    started = time.monotonic()
    deadline = started + timeout_s if timeout_s is not None else None
    drop_at = started + drop_after if drop_after is not None else None
    next_bookmark = started + bookmark_interval
    yield from ({"type": "ADDED", "object": render(obj)} for obj in initial)
    if initial_events_end and bookmarks:
        yield bookmark(rt, start_rv, initial_end=True)
    last = start_rv
    while not stop.is_set() and not store.closed:
        now = time.monotonic()
        if drop_at is not None and now >= drop_at:
            yield DROP
            return
        if deadline is not None and now >= deadline:
            if bookmarks:
                yield bookmark(rt, last)
            return
        if bookmarks and now >= next_bookmark:
            yield bookmark(rt, last)
            next_bookmark = now + bookmark_interval
        wake = [t for t in (deadline, drop_at, next_bookmark if bookmarks else None) if t]
        wait = min(wake) - now if wake else 3600.0
        try:
            events = store.events_after(last, timeout=max(wait, 0.0))
        except errors.Expired as exc:
            yield {"type": "ERROR", "object": exc.status()}
            return
        for event in events:
            last = event.rv
            if event.group_resource != rt.group_resource:
                continue
            seen = convert(event, namespace=namespace, label=label, field=field)
            if seen is not None:
                yield {"type": seen[0], "object": render(seen[1])}
