"""The request handlers: one `Api.handle(request)` per HTTP request, transport-free.

`handle` classifies the request (`routing.py`), answers discovery
(`discovery.py`), or for a resource request: looks up its `ResourceType`, draws the
injected fault (`faults.py`, before anything is written), and runs the verb —
get, list, watch, create, update, patch, delete, deletecollection — over the
`Store` with the rules of `objects.py`, `schema.py`, `patching.py`, `gc.py`,
`crds.py` and `tables.py`. Every outcome is a `Response` (status + JSON body), a
`WatchStream` (events to write as they come) or a `Drop` (hold, then close the
connection without an answer); every failure is an `ApiError` turned into a
`Status` body, and an unexpected exception is a 500 `InternalError` Status — it never
reaches the server loop. Each resource request is appended to the request log.

Read-check-write sequences run under the store's lock, so a conditional update is a
compare-and-swap and a delete's cascade is applied as one step.

Deliberate deviations (see also the other modules' docstrings): `limit`/`continue`
are ignored (a list always returns every object; no `continue` token);
`resourceVersion` on list/get is ignored (always the latest state); `dryRun=All`
validates and answers without storing; `fieldManager`/`fieldValidation` are ignored
(unknown fields are always rejected); server-side apply is refused with 415, and so
are protobuf bodies (kubectl's generator commands such as `kubectl create namespace`
send protobuf: use `kubectl apply -f`/`create -f`, which send JSON); PUT of
a missing object is 404 for every type; creating in a missing namespace is 404, as
on a real cluster (`default`, `kube-system`, `kube-public`, `kube-node-lease` exist).

Called by `server.py`, which owns the sockets and threads.
"""

from __future__ import annotations

import copy
import datetime
import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from kubeemu import (
    crds,
    discovery,
    errors,
    faults,
    gc,
    objects,
    patching,
    recording,
    resources,
    routing,
    selectors,
    storage,
    tables,
    watching,
)

__all__ = ["Api", "Drop", "Request", "Response", "WatchStream"]

log = logging.getLogger(__name__)

CRD_RESOURCE = ("apiextensions.k8s.io", "customresourcedefinitions")
NAMESPACES = ("", "namespaces")
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
_BODY_TYPES = {
    "",
    "application/json",
    "application/yaml",
    "text/yaml",
    MERGE,
    JSON_PATCH,
    STRATEGIC,
}


@dataclass(frozen=True)
class Request:
    """One HTTP request, as the server read it."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes = b""

    def header(self, name: str) -> str:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return ""

    @property
    def media_type(self) -> str:
        return self.header("Content-Type").split(";")[0].strip().lower()


@dataclass
class Response:
    """A complete answer: status and JSON body."""

    status: int
    body: Any
    content_type: str = "application/json"


@dataclass
class WatchStream:
    """A streaming answer: JSON watch events (or `watching.DROP`) as they come."""

    events: Iterator[Any]
    status: int = 200


@dataclass
class Drop:
    """An injected timeout: hold the connection `hold_s` seconds, then close it unanswered."""

    hold_s: float
    status: int = field(default=0)


Outcome = Response | WatchStream | Drop


def _invalid(rt: resources.ResourceType, name: str, causes: list[errors.Cause]) -> errors.Invalid:
    parts = [f"{c.field}: {c.message}" for c in causes]
    joined = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    return errors.Invalid(
        f'{rt.qualified_kind} "{name}" is invalid: {joined}',
        name=name,
        group=rt.group,
        kind=rt.kind,
        causes=causes,
    )


def _not_found(rt: resources.ResourceType, name: str) -> errors.NotFound:
    return errors.NotFound(
        f'{rt.qualified_plural} "{name}" not found', name=name, group=rt.group, kind=rt.plural
    )


def _conflict(rt: resources.ResourceType, name: str, why: str) -> errors.Conflict:
    return errors.Conflict(
        f'Operation cannot be fulfilled on {rt.qualified_plural} "{name}": {why}',
        name=name,
        group=rt.group,
        kind=rt.plural,
    )


STALE = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


class Api:
    """Answers requests over one store and registry."""

    def __init__(
        self,
        *,
        store: storage.Store,
        registry: resources.Registry,
        injector: faults.FaultInjector,
        requests: recording.RequestLog,
        clock: Callable[[], datetime.datetime],
        stop: threading.Event,
        server_address: Callable[[], str],
        bookmark_interval: float,
    ) -> None:
        self.store = store
        self.registry = registry
        self.injector = injector
        self.requests = requests
        self.clock = clock
        self.stop = stop
        self.server_address = server_address
        self.bookmark_interval = bookmark_interval
        for name in INITIAL_NAMESPACES:
            ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
            rt = self.registry.lookup("", "v1", "namespaces")
            assert rt is not None
            self.store.create(NAMESPACES, self._prepare_create(rt, ns))

    # --- entry point ---------------------------------------------------------------

    def handle(self, req: Request) -> Outcome:
        info = routing.parse(req.method, req.path, req.query)
        if not isinstance(info, routing.RequestInfo):
            return self._guard(lambda: self._discovery(req, info))
        outcome = self._guard(lambda: self._resource(req, info))
        self.requests.append(
            recording.RequestRecord(
                verb=info.verb,
                group=info.group,
                version=info.version,
                resource=info.resource,
                subresource=info.subresource,
                namespace=info.namespace,
                name=info.name,
                user_agent=req.header("User-Agent"),
                status_code=outcome.status,
            )
        )
        return outcome

    def _guard(self, answer: Callable[[], Outcome]) -> Outcome:
        try:
            return answer()
        except errors.ApiError as exc:
            return Response(exc.code, exc.status())
        except Exception as exc:
            log.exception("kubeemu handler error")
            error = errors.InternalError(f"Internal error occurred: {type(exc).__name__}: {exc}")
            return Response(500, error.status())

    def _discovery(self, req: Request, info: routing.Discovery | None) -> Outcome:
        if info is None or req.method.upper() != "GET":
            raise errors.NotFound("the server could not find the requested resource")
        parts = [p for p in info.path.split("/") if p]
        body: Any = None
        if parts == ["version"]:
            body = discovery.version_info()
        elif parts in (["healthz"], ["readyz"], ["livez"]):
            return Response(200, "ok", content_type="text/plain")
        elif parts == ["api"]:
            body = discovery.api_versions(self.server_address())
        elif len(parts) == 2 and parts[0] == "api":
            body = discovery.resource_list(self.registry, "", parts[1])
        elif parts == ["apis"]:
            body = discovery.api_group_list(self.registry)
        elif len(parts) == 2 and parts[0] == "apis":
            body = discovery.api_group(self.registry, parts[1])
        elif len(parts) == 3 and parts[0] == "apis":
            body = discovery.resource_list(self.registry, parts[1], parts[2])
        if body is None:
            raise errors.NotFound("the server could not find the requested resource")
        return Response(200, body)

    # --- resource requests ---------------------------------------------------------

    def _resource(self, req: Request, info: routing.RequestInfo) -> Outcome:
        rt = self.registry.lookup(info.group, info.version, info.resource)
        if rt is None or info.verb not in resources.ALL_VERBS:
            raise errors.NotFound("the server could not find the requested resource")
        if info.namespace and not rt.namespaced:
            raise errors.NotFound("the server could not find the requested resource")
        if info.subresource and (info.subresource != "status" or not rt.status_subresource):
            raise errors.NotFound("the server could not find the requested resource")
        if info.subresource and info.verb not in resources.STATUS_VERBS:
            raise errors.MethodNotAllowed(f"{info.verb} is not supported on {info.subresource}")
        if info.verb not in rt.verbs:
            raise errors.MethodNotAllowed(f"{info.verb} is not supported on {rt.plural}")
        if rt.namespaced and not info.namespace and info.verb not in ("list", "watch"):
            raise errors.NotFound("the server could not find the requested resource")

        fault = self.injector.decide(verb=info.verb, user_agent=req.header("User-Agent"))
        if fault is faults.Fault.TIMEOUT:
            return Drop(hold_s=self.injector.faults.timeout_s + 0.25)
        if fault is faults.Fault.ERROR:
            raise errors.InternalError("Internal error occurred: injected by kubeemu")
        if fault is faults.Fault.CONFLICT:
            raise _conflict(rt, info.name, STALE + " (injected by kubeemu)")

        handler = {
            "get": self._get,
            "list": self._list,
            "watch": self._watch,
            "create": self._create,
            "update": self._update,
            "patch": self._patch,
            "delete": self._delete,
            "deletecollection": self._delete_collection,
        }[info.verb]
        return handler(req, info, rt)

    def _now(self) -> str:
        return objects.format_time(self.clock())

    def _present(self, rt: resources.ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """A stored object as served at `rt`'s version."""
        obj["apiVersion"] = rt.api_version
        obj["kind"] = rt.kind
        return obj

    def _render(self, req: Request, rt: resources.ResourceType, obj: dict[str, Any]) -> Any:
        accept = req.header("Accept")
        version = tables.negotiated(accept, "Table")
        if version is not None:
            return tables.table(
                rt,
                [obj],
                now=self.clock(),
                resource_version=obj["metadata"].get("resourceVersion", ""),
                include_object=req.query.get("includeObject", "Metadata"),
                version=version,
            )
        version = tables.negotiated(accept, "PartialObjectMetadata")
        if version is not None:
            return tables.partial_metadata(obj, version)
        return obj

    def _selectors(
        self, req: Request, info: routing.RequestInfo
    ) -> tuple[selectors.LabelSelector, selectors.FieldSelector]:
        label = selectors.parse_label_selector(req.query.get("labelSelector", ""))
        field_text = req.query.get("fieldSelector", "")
        if info.name:
            field_text = ",".join(t for t in (field_text, f"metadata.name={info.name}") if t)
        return label, selectors.parse_field_selector(field_text)

    def _body(self, req: Request) -> Any:
        if req.media_type not in _BODY_TYPES:
            raise errors.UnsupportedMedia(
                f"the body of the request was in an unknown format ({req.media_type}) - accepted"
                " media types include: application/json, application/yaml"
            )
        if not req.body.strip():
            raise errors.BadRequest("the request has no body")
        try:
            if req.media_type in ("application/yaml", "text/yaml"):
                return yaml.safe_load(req.body)
            return json.loads(req.body)
        except (ValueError, yaml.YAMLError) as exc:
            raise errors.BadRequest(f"the request body is not valid JSON: {exc}") from exc

    # --- reads -----------------------------------------------------------------------

    def _get(self, req: Request, info: routing.RequestInfo, rt: resources.ResourceType) -> Outcome:
        obj = self.store.get(rt.group_resource, self._ns(rt, info), info.name)
        if obj is None:
            raise _not_found(rt, info.name)
        return Response(200, self._render(req, rt, self._present(rt, obj)))

    def _ns(self, rt: resources.ResourceType, info: routing.RequestInfo) -> str:
        return info.namespace if rt.namespaced else ""

    def _list(self, req: Request, info: routing.RequestInfo, rt: resources.ResourceType) -> Outcome:
        label, fields = self._selectors(req, info)
        found, rv = self.store.list(rt.group_resource, info.namespace or None)
        items = [self._present(rt, o) for o in found if label.matches(o) and fields.matches(o)]
        accept = req.header("Accept")
        version = tables.negotiated(accept, "Table")
        if version is not None:
            body = tables.table(
                rt,
                items,
                now=self.clock(),
                resource_version=str(rv),
                include_object=req.query.get("includeObject", "Metadata"),
                version=version,
            )
            return Response(200, body)
        version = tables.negotiated(accept, "PartialObjectMetadataList")
        if version is not None:
            return Response(
                200,
                {
                    "kind": "PartialObjectMetadataList",
                    "apiVersion": f"meta.k8s.io/{version}",
                    "metadata": {"resourceVersion": str(rv)},
                    "items": [tables.partial_metadata(o, version) for o in items],
                },
            )
        body = {
            "kind": rt.list_kind,
            "apiVersion": rt.api_version,
            "metadata": {"resourceVersion": str(rv)},
            "items": items,
        }
        return Response(200, body)

    def _watch(
        self, req: Request, info: routing.RequestInfo, rt: resources.ResourceType
    ) -> Outcome:
        label, fields = self._selectors(req, info)
        namespace = info.namespace or None
        param = req.query.get("resourceVersion", "")
        timeout: float | None = None
        if req.query.get("timeoutSeconds"):
            try:
                timeout = float(int(req.query["timeoutSeconds"]))
            except ValueError as exc:
                raise errors.BadRequest("timeoutSeconds must be an integer") from exc
        initial: list[dict[str, Any]] = []
        send_initial = req.query.get("sendInitialEvents") in ("1", "true", "True")
        with self.store.locked():
            if param in ("", "0") or send_initial:
                found, start = self.store.list(rt.group_resource, namespace)
                initial = [o for o in found if label.matches(o) and fields.matches(o)]
            else:
                try:
                    start = int(param)
                except ValueError as exc:
                    raise errors.BadRequest(f"invalid resourceVersion {param!r}") from exc
        version = tables.negotiated(req.header("Accept"), "Table")

        def render(obj: dict[str, Any]) -> dict[str, Any]:
            shown = self._present(rt, copy.deepcopy(obj))
            if version is None:
                return shown
            return tables.table(
                rt,
                [shown],
                now=self.clock(),
                resource_version=shown["metadata"].get("resourceVersion", ""),
                include_object=req.query.get("includeObject", "Metadata"),
                version=version,
            )

        events = watching.stream(
            store=self.store,
            rt=rt,
            namespace=namespace,
            label=label,
            field=fields,
            start_rv=start,
            initial=initial,
            render=render,
            timeout_s=timeout,
            bookmarks=req.query.get("allowWatchBookmarks") in ("1", "true", "True"),
            initial_events_end=send_initial,
            bookmark_interval=self.bookmark_interval,
            drop_after=self.injector.faults.drop_watch_after_s
            if self.injector.applies_to(req.header("User-Agent"))
            else None,
            stop=self.stop,
        )
        return WatchStream(events)

    # --- writes ----------------------------------------------------------------------

    def _validate(self, rt: resources.ResourceType, obj: dict[str, Any]) -> None:
        causes = objects.metadata_causes(rt, obj)
        if rt.schema is not None:
            causes += rt.schema.validate(obj)
        if rt.group_resource == CRD_RESOURCE:
            crds.default_crd(obj)
            causes += crds.crd_causes(obj)
        if causes:
            raise _invalid(rt, str(obj["metadata"].get("name", "")), causes)

    def _prepare_create(self, rt: resources.ResourceType, body: dict[str, Any]) -> dict[str, Any]:
        return objects.prepare_create(rt, body, uid=str(uuid.uuid4()), now=self._now())

    def _after_write(self, rt: resources.ResourceType, stored: dict[str, Any]) -> None:
        if rt.group_resource == CRD_RESOURCE:
            self.registry.set_crd(stored["metadata"]["name"], crds.resource_types(stored))

    def _create(
        self, req: Request, info: routing.RequestInfo, rt: resources.ResourceType
    ) -> Outcome:
        body = self._body(req)
        objects.check_identity(rt, body, namespace=info.namespace, name=None)
        meta = body["metadata"]
        if not meta.get("name") and isinstance(meta.get("generateName"), str):
            meta["name"] = objects.generated_name(meta["generateName"])
        new = self._prepare_create(rt, body)
        self._validate(rt, new)
        if rt.group_resource == CRD_RESOURCE:
            new["status"] = crds.crd_status(new, self._now(), None)
        with self.store.locked():
            if rt.namespaced and self.store.get(NAMESPACES, "", info.namespace) is None:
                raise errors.NotFound(
                    f'namespaces "{info.namespace}" not found',
                    name=info.namespace,
                    kind="namespaces",
                )
            if req.query.get("dryRun"):
                return Response(201, self._present(rt, new))
            stored = self.store.create(rt.group_resource, new)
            if stored is None:
                raise errors.AlreadyExists(
                    f'{rt.qualified_plural} "{meta["name"]}" already exists',
                    name=meta["name"],
                    group=rt.group,
                    kind=rt.plural,
                )
            self._after_write(rt, stored)
        return Response(201, self._present(rt, stored))

    def _write_update(
        self,
        req: Request,
        info: routing.RequestInfo,
        rt: resources.ResourceType,
        old: dict[str, Any],
        body: dict[str, Any],
    ) -> Outcome:
        """The shared end of update and patch (the caller holds the store lock)."""
        old_meta = old["metadata"]
        meta = body.get("metadata") or {}
        wanted = meta.get("resourceVersion")
        if wanted and str(wanted) != old_meta["resourceVersion"]:
            raise _conflict(rt, info.name, STALE)
        if meta.get("uid") and meta["uid"] != old_meta.get("uid"):
            raise _conflict(
                rt,
                info.name,
                f"Precondition failed: UID in precondition: {meta['uid']},"
                f" UID in object meta: {old_meta.get('uid')}",
            )
        new = objects.prepare_update(rt, old, body, subresource=info.subresource)
        self._validate(rt, new)
        if rt.group_resource == CRD_RESOURCE:
            new["status"] = crds.crd_status(new, self._now(), old.get("status"))
        if objects.same_content(old, new):
            return Response(200, self._present(rt, old))  # not a write: same resourceVersion
        if req.query.get("dryRun"):
            new["metadata"]["resourceVersion"] = old_meta["resourceVersion"]
            return Response(200, self._present(rt, new))
        stored = self.store.replace(rt.group_resource, new)
        self._after_write(rt, stored)
        return Response(200, self._present(rt, stored))

    def _update(
        self, req: Request, info: routing.RequestInfo, rt: resources.ResourceType
    ) -> Outcome:
        body = self._body(req)
        objects.check_identity(rt, body, namespace=info.namespace, name=info.name)
        with self.store.locked():
            old = self.store.get(rt.group_resource, self._ns(rt, info), info.name)
            if old is None:
                raise _not_found(rt, info.name)
            return self._write_update(req, info, rt, old, body)

    def _patch(
        self, req: Request, info: routing.RequestInfo, rt: resources.ResourceType
    ) -> Outcome:
        media = req.media_type
        accepted = [JSON_PATCH, MERGE] + ([] if rt.custom else [STRATEGIC])
        if media not in accepted:
            raise errors.UnsupportedMedia(
                "the body of the request was in an unknown format - accepted media types"
                f" include: {', '.join(accepted)}"
            )
        patch = self._body(req)
        with self.store.locked():
            old = self.store.get(rt.group_resource, self._ns(rt, info), info.name)
            if old is None:
                raise _not_found(rt, info.name)
            current = self._present(rt, copy.deepcopy(old))
            if media == MERGE:
                patched = patching.merge_patch(current, patch)
            elif media == JSON_PATCH:
                patched = patching.json_patch(current, patch)
            else:
                patched = patching.strategic_merge_patch(current, patch)
            objects.check_identity(rt, patched, namespace=info.namespace, name=info.name)
            return self._write_update(req, info, rt, old, patched)

    def _delete_options(self, req: Request) -> tuple[str, dict[str, Any]]:
        options: dict[str, Any] = {}
        if req.body.strip():
            body = self._body(req)
            if not isinstance(body, dict):
                raise errors.BadRequest("DeleteOptions must be an object")
            options = body
        policy = options.get("propagationPolicy") or req.query.get("propagationPolicy")
        if policy is None:
            orphan = options.get("orphanDependents")
            policy = (
                "Orphan"
                if orphan is True or req.query.get("orphanDependents") == "true"
                else "Background"
            )
        if policy not in ("Orphan", "Background", "Foreground"):
            raise errors.BadRequest(f"unknown propagationPolicy {policy!r}")
        return policy, options.get("preconditions") or {}

    def _delete_one(
        self,
        rt: resources.ResourceType,
        namespace: str,
        name: str,
        *,
        policy: str,
        preconditions: Mapping[str, Any],
        dry_run: bool,
    ) -> dict[str, Any]:
        """Delete one object and what the garbage collector takes with it (lock held)."""
        old = self.store.get(rt.group_resource, namespace, name)
        if old is None:
            raise _not_found(rt, name)
        meta = old["metadata"]
        for key, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
            if preconditions.get(key) and str(preconditions[key]) != str(meta.get(key)):
                raise _conflict(
                    rt,
                    name,
                    f"Precondition failed: {label} in precondition: {preconditions[key]},"
                    f" {label} in object meta: {meta.get(key)}",
                )
        if dry_run:
            return old
        extra: list[tuple[storage.GroupResource, dict[str, Any]]] = []
        everything = self.store.snapshot()
        if rt.group_resource == NAMESPACES:
            extra = [(gr, o) for gr, o in everything if o["metadata"].get("namespace") == name]
            policy = "Orphan" if policy == "Orphan" else "Foreground"
        if rt.group_resource == CRD_RESOURCE:
            owned = (old["spec"]["group"], old["spec"]["names"]["plural"])
            extra = [(gr, o) for gr, o in everything if gr == owned]
        plan = gc.plan_delete((rt.group_resource, old), everything, policy=policy, extra=extra)
        if policy == "Orphan":
            self._strip(plan)
        removed = None
        for ref in plan.deletes:
            gone = self.store.remove(ref.group_resource, ref.namespace, ref.name)
            if ref == gc.Ref(rt.group_resource, namespace, name):
                removed = gone
        if policy != "Orphan":
            self._strip(plan)
        if rt.group_resource == CRD_RESOURCE:
            self.registry.remove_crd(name)
        assert removed is not None
        return removed

    def _strip(self, plan: gc.Plan) -> None:
        for ref, uids in plan.strip:
            obj = self.store.get(ref.group_resource, ref.namespace, ref.name)
            if obj is None:
                continue
            refs = [
                r for r in obj["metadata"].get("ownerReferences") or [] if r.get("uid") not in uids
            ]
            if refs:
                obj["metadata"]["ownerReferences"] = refs
            else:
                obj["metadata"].pop("ownerReferences", None)
            self.store.replace(ref.group_resource, obj)

    def _deleted_answer(self, rt: resources.ResourceType, removed: dict[str, Any]) -> Any:
        if rt.returns_deleted_object:
            return self._present(rt, removed)
        meta = removed["metadata"]
        details = {"name": meta["name"], "group": rt.group, "kind": rt.plural, "uid": meta["uid"]}
        if not rt.group:
            del details["group"]  # omitempty, as the apiserver serializes it
        return errors.status_body(code=200, reason="", message="", details=details, success=True)

    def _delete(
        self, req: Request, info: routing.RequestInfo, rt: resources.ResourceType
    ) -> Outcome:
        policy, preconditions = self._delete_options(req)
        with self.store.locked():
            removed = self._delete_one(
                rt,
                self._ns(rt, info),
                info.name,
                policy=policy,
                preconditions=preconditions,
                dry_run=bool(req.query.get("dryRun")),
            )
        return Response(200, self._deleted_answer(rt, removed))

    def _delete_collection(
        self, req: Request, info: routing.RequestInfo, rt: resources.ResourceType
    ) -> Outcome:
        policy, _ = self._delete_options(req)
        label, fields = self._selectors(req, info)
        gone = []
        with self.store.locked():
            found, _rv = self.store.list(rt.group_resource, info.namespace or None)
            for obj in found:
                if not (label.matches(obj) and fields.matches(obj)):
                    continue
                meta = obj["metadata"]
                if (
                    self.store.get(rt.group_resource, meta.get("namespace") or "", meta["name"])
                    is None
                ):
                    continue
                gone.append(
                    self._delete_one(
                        rt,
                        meta.get("namespace") or "",
                        meta["name"],
                        policy=policy,
                        preconditions={},
                        dry_run=bool(req.query.get("dryRun")),
                    )
                )
            rv = self.store.resource_version
        body = {
            "kind": rt.list_kind,
            "apiVersion": rt.api_version,
            "metadata": {"resourceVersion": str(rv)},
            "items": [self._present(rt, o) for o in gone],
        }
        return Response(200, body)
