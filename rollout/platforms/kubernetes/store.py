"""The Store port over the Kubernetes API: our resources as custom objects (CRDs).

`KubernetesStore(api_client)` keeps the contract of `rollout/store/port.py` with the
official client's `CustomObjectsApi`, which is how the controller and every CLI
command work with `--backend kubernetes`:

- get / list (label selectors, one namespace or all) / create / update (the
  object's `metadata.resourceVersion` is the precondition: 409 → `Conflict`) /
  update_status (the `/status` subresource) / delete (background cascade: the
  API server's garbage collector removes what the object owns).
- `create` on the API server drops `status` (it is a subresource); when the object
  given carries a status, the store writes it right after, so `create` means the same
  on every backend.
- `watch(kind, since, timeout)` reads from one long-lived watch stream per kind
  (`_Feed`, a thread), resumed from the last resourceVersion seen — events or
  bookmarks — when the server or the network closes it. A 410 Gone surfaces as
  `Expired` (the controller lists again). The stream is buffered, so a caller
  polling with a small timeout costs no HTTP request per call. Across a network
  "what is already there" cannot be known exactly: a call returns once the events
  the server sent have stopped coming for `_QUIET` seconds (at once when the feed is
  already caught up), or after `timeout`.
- API errors map to the store's: 404 NotFound, 409 AlreadyExists on create and
  Conflict otherwise, 410 Expired, 400/422 Invalid, anything else (5xx, timeouts,
  connection errors) `StoreError` — the controller retries those with backoff.

One reader per kind: `watch` assumes one consumer that resumes from the last event
it was given (the controller's pump); a `since` the feed does not know restarts it.

Scoped to namespaces (`KubernetesStore(api, namespaces=("a", "b"))`, the controller's
`--watch-namespaces`): every request names one of them — a list of all namespaces
lists each one, and the watch of a kind is one stream per namespace feeding one
buffer — so the controller needs no cluster-wide grant, and a call outside them is
refused before it is sent (`StoreError`). The resourceVersion such a list returns
is a token naming each namespace's version (`namespaces:a=12,b=15`), from which the
streams start; afterwards the reader resumes from real event versions, as above. A
version the scoped feed does not know (it fell out of the buffer) is `Expired`: the
controller lists again.

The only I/O adapter for our CRDs; the rest of `platforms/kubernetes` manages the
built-in objects (Deployments, Services, routes, leases, events).
"""

from __future__ import annotations

import collections
import contextlib
import json
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import kubernetes.watch.watch
import structlog
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from rollout.api import kinds, meta
from rollout.store import errors, objects, port

__all__ = ["KubernetesStore", "translate"]

log = structlog.get_logger(__name__)

_QUIET = 0.05  # seconds without a new event after which a catching-up read returns
_CATCH_UP = 2.0  # at most this long for a new stream to deliver what is already there
_STREAM_SECONDS = 300  # the server closes each watch request after this; we resume
_BACKOFF = (0.2, 5.0)  # reconnect delay: first, maximum
_KEEP = 10_000  # events kept per feed for a reader that is behind

_TOKEN = "namespaces:"  # a scoped list's resourceVersion: namespaces:a=12,b=15

_META_KEYS = frozenset(field.alias or name for name, field in meta.ObjectMeta.model_fields.items())

# What the controller calls through this store (the RBAC rules grant exactly the
# union of every adapter's USES; tests/unit/kubernetes/test_rbac_usage.py).
USES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (kinds.GROUP, "services", ("get", "list", "watch")),
    (kinds.GROUP, "revisions", ("get", "list", "watch", "create", "delete")),
    (kinds.GROUP, "routes", ("get", "list", "watch", "create", "update")),
    (kinds.GROUP, "releases", ("get", "list", "watch", "create")),
    (kinds.GROUP, "rolloutpolicies", ("get", "list", "watch")),
    *(
        (kinds.GROUP, f"{plural}/status", ("update",))
        for plural in ("services", "revisions", "routes", "releases")
    ),
)


class KubernetesStore:
    """The Store port on a Kubernetes API server (see the module docstring)."""

    def __init__(
        self,
        api_client: client.ApiClient,
        *,
        request_timeout: float = 15.0,
        namespaces: tuple[str, ...] | None = None,
    ) -> None:
        self._client = api_client
        self._api = client.CustomObjectsApi(api_client)
        self._timeout = request_timeout
        self._namespaces = tuple(dict.fromkeys(namespaces)) if namespaces else None
        self._feeds: dict[str, _Feed] = {}
        self._lock = threading.Lock()

    def _scoped(self, namespace: str, what: str) -> None:
        if self._namespaces is not None and namespace not in self._namespaces:
            raise errors.StoreError(
                f"{what}: namespace {namespace} is not watched"
                f" (--watch-namespaces {','.join(self._namespaces)})"
            )

    # --- reads ------------------------------------------------------------------------

    def get(self, kind: str, namespace: str, name: str) -> kinds.Resource:
        k = objects.kind_of(kind)
        self._scoped(namespace, f"{kind} {namespace}/{name}")
        body = self._call(
            self._api.get_namespaced_custom_object,
            kinds.GROUP,
            kinds.VERSION,
            namespace,
            k.plural,
            name,
            what=f"{kind} {namespace}/{name}",
        )
        return from_body(kind, body)

    def list(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        labels: Mapping[str, str] | None = None,
    ) -> port.Listed:
        k = objects.kind_of(kind)
        selector = ",".join(f"{key}={value}" for key, value in sorted((labels or {}).items()))
        if namespace is None and self._namespaces is not None:
            return self._list_each(kind, k.plural, selector, self._namespaces)
        if namespace is not None:
            self._scoped(namespace, f"{kind} list in {namespace}")
        if namespace is None:
            body = self._call(
                self._api.list_cluster_custom_object,
                kinds.GROUP,
                kinds.VERSION,
                k.plural,
                label_selector=selector,
                what=f"{kind} list",
            )
        else:
            body = self._call(
                self._api.list_namespaced_custom_object,
                kinds.GROUP,
                kinds.VERSION,
                namespace,
                k.plural,
                label_selector=selector,
                what=f"{kind} list in {namespace}",
            )
        items = [from_body(kind, item) for item in body.get("items", [])]
        items.sort(key=lambda o: (o.metadata.namespace or "", o.metadata.name))
        return port.Listed(items, str(body.get("metadata", {}).get("resourceVersion", "")))

    def _list_each(
        self, kind: str, plural: str, selector: str, namespaces: tuple[str, ...]
    ) -> port.Listed:
        """A list of every watched namespace: one request each; the version is a token
        of theirs (`namespaces:a=12,b=15`), where the scoped watch starts."""
        items: list[kinds.Resource] = []
        versions: dict[str, str] = {}
        for namespace in namespaces:
            body = self._call(
                self._api.list_namespaced_custom_object,
                kinds.GROUP,
                kinds.VERSION,
                namespace,
                plural,
                label_selector=selector,
                what=f"{kind} list in {namespace}",
            )
            items += [from_body(kind, item) for item in body.get("items", [])]
            versions[namespace] = str(body.get("metadata", {}).get("resourceVersion", ""))
        items.sort(key=lambda o: (o.metadata.namespace or "", o.metadata.name))
        return port.Listed(items, _token(versions))

    # --- writes -----------------------------------------------------------------------

    def create(self, obj: kinds.Resource) -> kinds.Resource:
        k = objects.kind_of(obj.kind)
        namespace = obj.metadata.namespace or port.DEFAULT_NAMESPACE
        self._scoped(namespace, f"{obj.kind} {namespace}/{obj.metadata.name}")
        body = to_body(obj)
        for key in ("uid", "resourceVersion", "generation", "creationTimestamp"):
            body["metadata"].pop(key, None)
        body["metadata"]["namespace"] = namespace
        status = body.pop("status", None)
        created = self._call(
            self._api.create_namespaced_custom_object,
            kinds.GROUP,
            kinds.VERSION,
            namespace,
            k.plural,
            body,
            what=f"{obj.kind} {namespace}/{obj.metadata.name}",
            on_conflict=errors.AlreadyExists,
        )
        stored = from_body(obj.kind, created)
        if k.has_status and status and from_body(obj.kind, {**created, "status": status}) != stored:
            stored = self.update_status(stored.model_copy(update={"status": obj.status}))  # type: ignore[union-attr]
        return stored

    def update(self, obj: kinds.Resource) -> kinds.Resource:
        k = objects.kind_of(obj.kind)
        namespace = obj.metadata.namespace or port.DEFAULT_NAMESPACE
        self._scoped(namespace, f"{obj.kind} {namespace}/{obj.metadata.name}")
        body = to_body(obj)
        for key in ("uid", "generation", "creationTimestamp", "managedFields"):
            body["metadata"].pop(key, None)  # the server's own; a stale uid would conflict
        if obj.metadata.resource_version is None:
            # unconditional: the API server needs some version; take the current one
            body["metadata"]["resourceVersion"] = self.get(
                obj.kind, namespace, obj.metadata.name
            ).metadata.resource_version
        if k.has_status:
            body.pop("status", None)  # the main resource ignores it; do not send it
        updated = self._call(
            self._api.replace_namespaced_custom_object,
            kinds.GROUP,
            kinds.VERSION,
            namespace,
            k.plural,
            obj.metadata.name,
            body,
            what=f"{obj.kind} {namespace}/{obj.metadata.name}",
        )
        return from_body(obj.kind, updated)

    def update_status(self, obj: kinds.Resource) -> kinds.Resource:
        k = objects.kind_of(obj.kind)
        if not k.has_status:
            raise errors.Invalid(f"{obj.kind} has no status")
        namespace = obj.metadata.namespace or port.DEFAULT_NAMESPACE
        self._scoped(namespace, f"{obj.kind} {namespace}/{obj.metadata.name} status")
        body = to_body(obj)
        for key in ("uid", "generation", "creationTimestamp", "managedFields"):
            body["metadata"].pop(key, None)
        if obj.metadata.resource_version is None:
            body["metadata"]["resourceVersion"] = self.get(
                obj.kind, namespace, obj.metadata.name
            ).metadata.resource_version
        updated = self._call(
            self._api.replace_namespaced_custom_object_status,
            kinds.GROUP,
            kinds.VERSION,
            namespace,
            k.plural,
            obj.metadata.name,
            body,
            what=f"{obj.kind} {namespace}/{obj.metadata.name} status",
        )
        return from_body(obj.kind, updated)

    def delete(self, kind: str, namespace: str, name: str) -> None:
        k = objects.kind_of(kind)
        self._scoped(namespace, f"{kind} {namespace}/{name}")
        self._call(
            self._api.delete_namespaced_custom_object,
            kinds.GROUP,
            kinds.VERSION,
            namespace,
            k.plural,
            name,
            propagation_policy="Background",
            what=f"{kind} {namespace}/{name}",
        )

    # --- watch ------------------------------------------------------------------------

    def watch(self, kind: str, *, since: str, timeout: float) -> Iterator[port.WatchEvent]:
        k = objects.kind_of(kind)
        with self._lock:
            feed = self._feeds.get(kind)
            if feed is None or not feed.knows(since):
                if feed is not None:
                    feed.stop()
                    del self._feeds[kind]
                starts = self._starts(kind, since)
                feed = _Feed(self._api, kind, k.plural, since, starts, self._timeout)
                self._feeds[kind] = feed
        try:
            events = feed.take_after(since, timeout)
        except errors.Expired:
            with self._lock:
                if self._feeds.get(kind) is feed:
                    del self._feeds[kind]
            feed.stop()
            raise
        return iter(events)

    def _starts(self, kind: str, since: str) -> dict[str | None, str]:
        """Where each stream of a new feed starts: namespace (None: all) → version."""
        if self._namespaces is None:
            return {None: since}
        versions = _untoken(since)
        if versions is None or set(versions) != set(self._namespaces):
            raise errors.Expired(f"{kind} watch from {since}: not a version of this scope")
        return {namespace: versions[namespace] for namespace in self._namespaces}

    def close(self) -> None:
        with self._lock:
            feeds = list(self._feeds.values())
            self._feeds.clear()
        for feed in feeds:
            feed.stop()
        for feed in feeds:
            feed.join()

    # --- plumbing ---------------------------------------------------------------------

    def _call(
        self,
        method: Any,
        *args: Any,
        what: str,
        on_conflict: type[errors.StoreError] = errors.Conflict,
        **kwargs: Any,
    ) -> Any:
        try:
            return method(*args, _request_timeout=self._timeout, **kwargs)
        except ApiException as exc:
            raise translate(exc, what, on_conflict=on_conflict) from exc
        except (HTTPError, OSError) as exc:
            raise errors.StoreError(f"{what}: the API server did not answer: {exc}") from exc


def _token(versions: Mapping[str, str]) -> str:
    return _TOKEN + ",".join(f"{namespace}={rv}" for namespace, rv in versions.items())


def _untoken(text: str) -> dict[str, str] | None:
    if not text.startswith(_TOKEN):
        return None
    pairs = [part.partition("=") for part in text[len(_TOKEN) :].split(",")]
    if not all(sep for _, sep, _ in pairs):
        return None
    return {namespace: rv for namespace, _, rv in pairs}


def translate(
    exc: ApiException, what: str, *, on_conflict: type[errors.StoreError] = errors.Conflict
) -> errors.StoreError:
    """The store error for an API error about `what`."""
    message = _message(exc)
    if exc.status == 404:
        return errors.NotFound(f"{what} not found")
    if exc.status == 409:
        return on_conflict(f"{what}: {message}")
    if exc.status == 410:
        return errors.Expired(f"{what}: {message}")
    if exc.status in (400, 422):
        return errors.Invalid(f"{what}: {message}")
    return errors.StoreError(f"{what}: API server answered {exc.status}: {message}")


def _message(exc: ApiException) -> str:
    with contextlib.suppress(TypeError, ValueError, AttributeError):
        text = str(json.loads(exc.body or "").get("message", ""))
        if text:
            return text
    return str(exc.reason or exc.status)


def to_body(obj: kinds.Resource) -> dict[str, Any]:
    """The object as the API server takes it (camelCase JSON, no nulls)."""
    body: dict[str, Any] = json.loads(objects.dumps(obj))
    return body


def from_body(kind: str, body: Mapping[str, Any]) -> kinds.Resource:
    """An object from the API server as our model; metadata fields we do not model
    (`selfLink`, `generateName`, …) are left out, everything else must validate."""
    data = dict(body)
    data["metadata"] = {k: v for k, v in dict(body.get("metadata", {})).items() if k in _META_KEYS}
    if data["metadata"].get("managedFields") is None:
        data["metadata"].pop("managedFields", None)
    return objects.loads(kind, json.dumps(data))


class _Feed:
    """The watch of one kind, buffered for pump-style reads: one stream of all
    namespaces, or one stream per watched namespace feeding the same buffer."""

    def __init__(
        self,
        api: client.CustomObjectsApi,
        kind: str,
        plural: str,
        since: str,
        starts: Mapping[str | None, str],
        timeout: float,
    ) -> None:
        self._api = api
        self._kind = kind
        self._plural = plural
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
        options: dict[str, Any] = {
            "watch": True,
            "resource_version": resume,
            "timeout_seconds": _STREAM_SECONDS,
            "allow_watch_bookmarks": True,
            "_preload_content": False,
            "_request_timeout": (self._timeout, _STREAM_SECONDS + self._timeout),
        }
        if namespace is None:
            response: Any = self._api.list_cluster_custom_object(
                kinds.GROUP, kinds.VERSION, self._plural, **options
            )
        else:
            response = self._api.list_namespaced_custom_object(
                kinds.GROUP, kinds.VERSION, namespace, self._plural, **options
            )
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
            raise ApiException(status=body.get("code", 500), reason=body.get("message"))
        version = str(body.get("metadata", {}).get("resourceVersion", ""))
        with self._changed:
            if version:
                self._resume[namespace] = version
            if kind in ("ADDED", "MODIFIED", "DELETED"):
                try:
                    obj = from_body(self._kind, body)
                except errors.Invalid as exc:  # not ours to judge: skip it, say so
                    log.warning("unreadable object in watch", kind=self._kind, error=str(exc))
                    return
                self._events.append(port.WatchEvent(port.EventType(kind), obj, version))
                self._last_arrival = time.monotonic()
                self._changed.notify_all()
