"""The Store port over the Kubernetes API: our resources as custom objects (CRDs).

`KubernetesStore(api_client)` keeps the contract of `rollout/store/port.py` through the
package's one transport (`rest.Resources`, JSON by path), which is how the controller
and every CLI command work with `--backend kubernetes`:

- get / list (label selectors, one namespace or all) / create / update (the
  object's `metadata.resourceVersion` is the precondition: 409 → `Conflict`) /
  update_status (the `/status` subresource) / delete (background cascade: the
  API server's garbage collector removes what the object owns).
- An object the CRD schema accepts but our model refuses (`kubectl apply` of a Route
  whose percents sum to 140) is listed apart, in `Listed.invalid`, with the message
  `rollout validate` would give (`customobjects.from_bodies`): one bad object never
  fails the list of its kind. `get` of it raises `errors.Undecodable`; its watch
  events carry it the same way (`feed`); `update_invalid_status` writes its status
  (GET, then PUT of `/status` conditional on the resourceVersion the controller saw).
- `create` on the API server drops `status` (it is a subresource); when the object
  given carries a status, the store writes it right after, so `create` means the same
  on every backend.
- `watch(kind, since, timeout)` reads from one buffered, long-lived watch feed per
  kind (`feed.Feed`, its own module), resumed from the last resourceVersion seen. A
  410 Gone surfaces as `Expired` (the controller lists again). One reader per kind:
  `watch` assumes one consumer that resumes from the last event it was given (the
  controller's pump); a `since` the feed does not know restarts it.
- API errors (`rest.ApiError`) map to the store's (`translate`): 404 NotFound, 409
  AlreadyExists on create and Conflict otherwise, 410 Expired, 400/422 Invalid,
  anything else (5xx, timeouts, connection errors) `StoreError` — the controller
  retries those with backoff.

Scoped to namespaces (`KubernetesStore(api, namespaces=("a", "b"))`, the controller's
`--watch-namespaces`): every request names one of them — a list of all namespaces
lists each one, and the watch of a kind is one stream per namespace feeding one
buffer — so the controller needs no cluster-wide grant, and a call outside them is
refused before it is sent (`StoreError`). The resourceVersion such a list returns
is a token naming each namespace's version (`namespaces:a=12,b=15`), from which the
streams start; afterwards the reader resumes from real event versions, as above. A
version the scoped feed does not know (it fell out of the buffer) is `Expired`: the
controller lists again.

The only I/O adapter for our CRDs (bodies and paths: `customobjects`); the rest of
`platforms/kubernetes` manages the built-in objects (Deployments, Services, routes,
leases, events).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from rollout.api import kinds
from rollout.platforms.kubernetes import customobjects, feed, rest
from rollout.store import errors, objects, port

__all__ = ["KubernetesStore", "translate"]

_TOKEN = "namespaces:"  # a scoped list's resourceVersion: namespaces:a=12,b=15

# What the controller calls through this store (the RBAC rules grant exactly the
# union of every adapter's USES; tests/unit/kubernetes/test_rbac_usage.py).
USES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    # update: a workloadRef Service's finalizer, added and removed (`adopting`)
    (kinds.GROUP, "services", ("get", "list", "watch", "update")),
    (kinds.GROUP, "revisions", ("get", "list", "watch", "create", "update", "delete")),
    (kinds.GROUP, "routes", ("get", "list", "watch", "create", "update")),
    (kinds.GROUP, "releases", ("get", "list", "watch", "create")),
    (kinds.GROUP, "rolloutpolicies", ("get", "list", "watch")),
    *(
        (kinds.GROUP, f"{plural}/status", ("update",))
        for plural in ("services", "revisions", "routes", "releases")
    ),
    # not a call: revisions, routes and releases are created with an owner reference
    # to their Service that blocks its deletion (admission asks for this; `owned`)
    (kinds.GROUP, "services/finalizers", ("update",)),
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
        self._res = rest.Resources(api_client, timeout=request_timeout)
        self._timeout = request_timeout
        self._namespaces = tuple(dict.fromkeys(namespaces)) if namespaces else None
        self._feeds: dict[str, feed.Feed] = {}
        self._lock = threading.Lock()

    def _scoped(self, namespace: str, what: str) -> None:
        if self._namespaces is not None and namespace not in self._namespaces:
            raise errors.StoreError(
                f"{what}: namespace {namespace} is not watched"
                f" (--watch-namespaces {','.join(self._namespaces)})"
            )

    # --- reads ------------------------------------------------------------------------

    def get(self, kind: str, namespace: str, name: str) -> kinds.Resource:
        ref = customobjects.ref(kind)
        what = f"{kind} {namespace}/{name}"
        self._scoped(namespace, what)
        return customobjects.from_body(kind, self._call(what, self._res.get, ref, namespace, name))

    def list(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        labels: Mapping[str, str] | None = None,
    ) -> port.Listed:
        ref = customobjects.ref(kind)
        selector = ",".join(f"{key}={value}" for key, value in sorted((labels or {}).items()))
        if namespace is None and self._namespaces is not None:
            return self._list_each(kind, selector, self._namespaces)
        what = f"{kind} list" if namespace is None else f"{kind} list in {namespace}"
        if namespace is not None:
            self._scoped(namespace, what)
        body = self._call(what, self._res.list, ref, namespace, labels=selector)
        items, invalid = customobjects.from_bodies(kind, body.get("items", []))
        items.sort(key=lambda o: (o.metadata.namespace or "", o.metadata.name))
        invalid.sort(key=lambda o: o.key)
        rv = str(body.get("metadata", {}).get("resourceVersion", ""))
        return port.Listed(items, rv, invalid)

    def _list_each(self, kind: str, selector: str, namespaces: tuple[str, ...]) -> port.Listed:
        """A list of every watched namespace: one request each; the version is a token
        of theirs (`namespaces:a=12,b=15`), where the scoped watch starts."""
        ref = customobjects.ref(kind)
        items: list[kinds.Resource] = []
        invalid: list[port.InvalidObject] = []
        versions: dict[str, str] = {}
        for namespace in namespaces:
            what = f"{kind} list in {namespace}"
            body = self._call(what, self._res.list, ref, namespace, labels=selector)
            valid, bad = customobjects.from_bodies(kind, body.get("items", []))
            items += valid
            invalid += bad
            versions[namespace] = str(body.get("metadata", {}).get("resourceVersion", ""))
        items.sort(key=lambda o: (o.metadata.namespace or "", o.metadata.name))
        invalid.sort(key=lambda o: o.key)
        return port.Listed(items, _token(versions), invalid)

    # --- writes -----------------------------------------------------------------------

    def create(self, obj: kinds.Resource) -> kinds.Resource:
        k = objects.kind_of(obj.kind)
        namespace = obj.metadata.namespace or port.DEFAULT_NAMESPACE
        what = f"{obj.kind} {namespace}/{obj.metadata.name}"
        self._scoped(namespace, what)
        body = customobjects.to_body(obj)
        for key in ("uid", "resourceVersion", "generation", "creationTimestamp"):
            body["metadata"].pop(key, None)
        body["metadata"]["namespace"] = namespace
        status = body.pop("status", None)
        created = self._call(
            what,
            self._res.create,
            customobjects.ref(obj.kind),
            namespace,
            body,
            on_conflict=errors.AlreadyExists,
        )
        stored = customobjects.from_body(obj.kind, created)
        if (
            k.has_status
            and status
            and customobjects.from_body(obj.kind, {**created, "status": status}) != stored
        ):
            stored = self.update_status(stored.model_copy(update={"status": obj.status}))  # type: ignore[union-attr]
        return stored

    def update(self, obj: kinds.Resource) -> kinds.Resource:
        objects.kind_of(obj.kind)
        return self._replace(obj, status=False)

    def update_status(self, obj: kinds.Resource) -> kinds.Resource:
        if not objects.kind_of(obj.kind).has_status:
            raise errors.Invalid(f"{obj.kind} has no status")
        return self._replace(obj, status=True)

    def _replace(self, obj: kinds.Resource, *, status: bool) -> kinds.Resource:
        """PUT of the object, or of its `/status` subresource; its resourceVersion is
        the precondition, the current one when it has none (unconditional: the API
        server needs some version)."""
        namespace = obj.metadata.namespace or port.DEFAULT_NAMESPACE
        what = f"{obj.kind} {namespace}/{obj.metadata.name}" + (" status" if status else "")
        self._scoped(namespace, what)
        body = customobjects.to_body(obj)
        for key in ("uid", "generation", "creationTimestamp", "managedFields"):
            body["metadata"].pop(key, None)  # the server's own; a stale uid would conflict
        if obj.metadata.resource_version is None:
            body["metadata"]["resourceVersion"] = self.get(
                obj.kind, namespace, obj.metadata.name
            ).metadata.resource_version
        if not status and objects.kind_of(obj.kind).has_status:
            body.pop("status", None)  # the main resource ignores it; do not send it
        ref, name = customobjects.ref(obj.kind), obj.metadata.name
        sub = "status" if status else ""
        updated = self._call(what, self._res.replace, ref, namespace, name, body, sub=sub)
        return customobjects.from_body(obj.kind, updated)

    def update_invalid_status(self, obj: port.InvalidObject, status: Mapping[str, Any]) -> str:
        kind, namespace, name = obj.key
        if not objects.kind_of(kind).has_status:
            raise errors.Invalid(f"{kind} has no status")
        what = f"{kind} {namespace}/{name} status"
        self._scoped(namespace, what)
        ref = customobjects.ref(kind)
        body = self._call(what, self._res.get, ref, namespace, name)
        body = {**body, "status": dict(status)}  # the stored object as it is: not a model
        body["metadata"] = {**body.get("metadata", {})}
        if obj.metadata.resource_version is not None:
            body["metadata"]["resourceVersion"] = obj.metadata.resource_version
        updated = self._call(what, self._res.replace, ref, namespace, name, body, sub="status")
        return str(updated.get("metadata", {}).get("resourceVersion", ""))

    def delete(self, kind: str, namespace: str, name: str) -> None:
        ref = customobjects.ref(kind)
        what = f"{kind} {namespace}/{name}"
        self._scoped(namespace, what)
        self._call(what, self._res.delete, ref, namespace, name, missing_ok=False)

    # --- watch ------------------------------------------------------------------------

    def watch(self, kind: str, *, since: str, timeout: float) -> Iterator[port.WatchEvent]:
        ref = customobjects.ref(kind)
        with self._lock:
            current = self._feeds.get(kind)
            if current is None or not current.knows(since):
                if current is not None:
                    current.stop()
                    del self._feeds[kind]
                starts = self._starts(kind, since)
                current = feed.Feed(self._res, kind, ref, since, starts, self._timeout)
                self._feeds[kind] = current
        try:
            events = current.take_after(since, timeout)
        except errors.Expired:
            with self._lock:
                if self._feeds.get(kind) is current:
                    del self._feeds[kind]
            current.stop()
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
        for each in feeds:
            each.stop()
        for each in feeds:
            each.join()

    # --- plumbing ---------------------------------------------------------------------

    def _call(
        self,
        what: str,
        method: Callable[..., Any],
        *args: Any,
        on_conflict: type[errors.StoreError] = errors.Conflict,
        **kwargs: Any,
    ) -> Any:
        try:
            return method(*args, **kwargs)
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
