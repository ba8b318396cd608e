"""Write handlers: create, update, patch, delete and deletecollection.

Each write checks the body against the URL (`objects.check_identity`), applies the
create/update rules of `objects.py`, validates metadata and (custom resources) the
schema (`schema.py`), checks preconditions, and stores the result — all under the
store's lock, so a conditional update is a compare-and-swap:

- built-ins get the apiserver's defaults and checks (`builtins.py`) on create and
  on updates of the main resource;
- custom resources: unknown fields pruned as `fieldValidation` says (`Ignore`;
  `Warn`, the default: a `Warning` header each; `Strict`: 400), the schema's
  defaults applied, then the schema and its CEL rules checked (`schema.py`);
- update/patch: a body (or patched object) whose `metadata.resourceVersion` is not
  the stored one is 409 Conflict; without one the update is unconditional — except
  a PUT of a custom resource, which must carry one (422, as upstream: custom
  resources do not allow unconditional updates); an update that changes nothing is
  not a write (same resourceVersion, no event);
- patch: merge, JSON and (built-ins only) strategic merge patches (`patching.py`);
  custom resources answer 415 to strategic merge, every type to server-side apply;
- CRDs: validated and defaulted (`crds.py`); a stored CRD (re)registers its types,
  a deleted one unregisters them and takes its objects along;
- delete: preconditions, then the apiserver's deletion rules (`collector.py`): the
  propagation policy's finalizer; an object left with finalizers only gets its
  `deletionTimestamp` and stays (answered as it is now, 200); otherwise it is
  removed at once and what it owns goes later, by the garbage collector's worker
  (`collector.py`, `gc.sweep`). An update of an object being deleted may not add a
  finalizer (422); the one that removes its last finalizer removes it and answers
  with the removed object. Namespaces and CRDs have no finalizers here: they go at
  once with their contents (`gc.plan_delete`). The answer for a removed object is
  the object for Namespaces, CRDs and custom resources, a `Status{Success,
  details}` otherwise.

After validation, `admit` (set by `api.py`) may refuse a create or update.
`dryRun=All` validates and answers without storing. Called by `api.py` after routing
and fault injection.
"""

from __future__ import annotations

import copy
import datetime
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from kubeemu import (
    builtins,
    collector,
    crds,
    errors,
    exchange,
    gc,
    objects,
    patching,
    resources,
    routing,
    storage,
)

__all__ = ["CRD_RESOURCE", "NAMESPACES", "Writes"]

CRD_RESOURCE = ("apiextensions.k8s.io", "customresourcedefinitions")
NAMESPACES = ("", "namespaces")
# (request, its info, its type, the object to store, the stored one or None): raises to refuse
Admission = Callable[
    [exchange.Request, routing.RequestInfo, resources.ResourceType, dict[str, Any], Any], None
]


def _admit_all(*_: Any) -> None:
    """No admission check."""


_FIELD_VALIDATION = ("Ignore", "Warn", "Strict")


def _prune(req: exchange.Request, rt: resources.ResourceType, obj: dict[str, Any]) -> list[str]:
    """Drop a custom resource's unknown fields as `fieldValidation` says: silently
    (`Ignore`), with a warning each (`Warn`, the default), or refuse them (`Strict`, 400)."""
    directive = req.query.get("fieldValidation") or "Warn"
    if directive not in _FIELD_VALIDATION:
        raise errors.BadRequest(
            f'fieldValidation must be one of "Ignore", "Warn", "Strict" (got "{directive}")'
        )
    if not rt.custom or rt.schema is None:
        return []
    unknown = [f'unknown field "{path}"' for path in sorted(rt.schema.prune(obj))]
    if unknown and directive == "Strict":
        raise errors.BadRequest(
            f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}:'
            f" strict decoding error: {', '.join(unknown)}"
        )
    return unknown if directive == "Warn" else []


class Writes:
    """The write verbs over one store and registry."""

    def __init__(
        self,
        *,
        store: storage.Store,
        registry: resources.Registry,
        clock: Callable[[], datetime.datetime],
        collector: collector.Collector,
    ) -> None:
        self.store = store
        self.registry = registry
        self.clock = clock
        self.allocator = builtins.Allocator()
        self.collector = collector
        # admission after validation (`api.py`: OwnerReferencesPermissionEnforcement)
        self.admit: Admission = _admit_all

    def _now(self) -> str:
        return objects.format_time(self.clock())

    def _default_and_validate(
        self,
        req: exchange.Request,
        rt: resources.ResourceType,
        obj: dict[str, Any],
        old: dict[str, Any] | None,
    ) -> list[str]:
        """Prune unknown fields (by `fieldValidation`), apply the apiserver's defaults,
        then raise `Invalid` with every violation; the warnings to send."""
        warnings = _prune(req, rt, obj)
        causes = objects.metadata_causes(rt, obj)
        if rt.schema is not None:
            causes += rt.schema.validate(obj, old)
        if not rt.custom:
            builtins.default(rt.group_resource, obj, old, self.allocator)
            causes += builtins.causes(rt.group_resource, obj, old)
        if rt.group_resource == CRD_RESOURCE:
            crds.default_crd(obj)
            causes += crds.crd_causes(obj)
        if causes:
            raise exchange.invalid(rt, str(obj["metadata"].get("name", "")), causes)
        return warnings

    def prepare_create(self, rt: resources.ResourceType, body: dict[str, Any]) -> dict[str, Any]:
        return objects.prepare_create(rt, body, uid=str(uuid.uuid4()), now=self._now())

    def _after_write(self, rt: resources.ResourceType, stored: dict[str, Any]) -> None:
        if rt.group_resource == CRD_RESOURCE:
            self.registry.set_crd(stored["metadata"]["name"], crds.resource_types(stored))

    def create(
        self, req: exchange.Request, info: routing.RequestInfo, rt: resources.ResourceType
    ) -> exchange.Outcome:
        body = exchange.parse_body(req)
        objects.check_identity(rt, body, namespace=info.namespace, name=None)
        meta = body["metadata"]
        if not meta.get("name") and isinstance(meta.get("generateName"), str):
            meta["name"] = objects.generated_name(meta["generateName"])
        new = self.prepare_create(rt, body)
        warnings = self._default_and_validate(req, rt, new, None)
        self.admit(req, info, rt, new, None)
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
                return exchange.Response(201, exchange.present(rt, new), warnings=warnings)
            stored = self.store.create(rt.group_resource, new)
            if stored is None:
                raise errors.AlreadyExists(
                    f'{rt.qualified_plural} "{meta["name"]}" already exists',
                    name=meta["name"],
                    group=rt.group,
                    kind=rt.plural,
                )
            self._after_write(rt, stored)
        return exchange.Response(201, exchange.present(rt, stored), warnings=warnings)

    def _write_update(
        self,
        req: exchange.Request,
        info: routing.RequestInfo,
        rt: resources.ResourceType,
        old: dict[str, Any],
        body: dict[str, Any],
    ) -> exchange.Outcome:
        """The shared end of update and patch (the caller holds the store lock)."""
        old_meta = old["metadata"]
        meta = body.get("metadata") or {}
        wanted = meta.get("resourceVersion")
        if wanted and str(wanted) != old_meta["resourceVersion"]:
            raise exchange.conflict(rt, info.name, exchange.STALE)
        if meta.get("uid") and meta["uid"] != old_meta.get("uid"):
            raise exchange.conflict(
                rt,
                info.name,
                f"Precondition failed: UID in precondition: {meta['uid']},"
                f" UID in object meta: {old_meta.get('uid')}",
            )
        new = objects.prepare_update(rt, old, body, subresource=info.subresource)
        added = set(new["metadata"].get("finalizers") or []) - set(old_meta.get("finalizers") or [])
        if old_meta.get("deletionTimestamp") and added:
            raise exchange.invalid(
                rt,
                info.name,
                [
                    errors.Cause(
                        "metadata.finalizers",
                        "Forbidden: no new finalizers can be added if the object is being deleted",
                    )
                ],
            )
        if info.subresource:
            warnings = _prune(req, rt, new)
            causes = rt.schema.validate(new, old) if rt.schema is not None else []
            if causes:
                raise exchange.invalid(rt, info.name, causes)
        else:
            warnings = self._default_and_validate(req, rt, new, old)
            objects.bump_generation(rt, old, new)
        self.admit(req, info, rt, new, old)
        if rt.group_resource == CRD_RESOURCE:
            new["status"] = crds.crd_status(new, self._now(), old.get("status"))
        if objects.same_content(old, new):  # not a write: the same resourceVersion
            return exchange.Response(200, exchange.present(rt, old), warnings=warnings)
        if req.query.get("dryRun"):
            new["metadata"]["resourceVersion"] = old_meta["resourceVersion"]
            return exchange.Response(200, exchange.present(rt, new), warnings=warnings)
        # the last finalizer is gone: the deletion that waited for it happens instead
        removed = self.collector.finalize(rt.group_resource, new)
        if removed is not None:
            return exchange.Response(200, exchange.present(rt, removed), warnings=warnings)
        stored = self.store.replace(rt.group_resource, new)
        self._after_write(rt, stored)
        return exchange.Response(200, exchange.present(rt, stored), warnings=warnings)

    def update(
        self, req: exchange.Request, info: routing.RequestInfo, rt: resources.ResourceType
    ) -> exchange.Outcome:
        body = exchange.parse_body(req)
        objects.check_identity(rt, body, namespace=info.namespace, name=info.name)
        if rt.custom and not (body.get("metadata") or {}).get("resourceVersion"):
            # custom resources do not allow unconditional updates (PUT), as upstream
            raise exchange.invalid(
                rt,
                info.name,
                [
                    errors.Cause(
                        "metadata.resourceVersion",
                        "Invalid value: 0x0: must be specified for an update",
                    )
                ],
            )
        with self.store.locked():
            old = self.store.get(rt.group_resource, exchange.namespace_of(rt, info), info.name)
            if old is None:
                raise exchange.not_found(rt, info.name)
            return self._write_update(req, info, rt, old, body)

    def patch(
        self, req: exchange.Request, info: routing.RequestInfo, rt: resources.ResourceType
    ) -> exchange.Outcome:
        media = req.media_type
        accepted = [exchange.JSON_PATCH, exchange.MERGE] + (
            [] if rt.custom else [exchange.STRATEGIC]
        )
        if media not in accepted:
            raise errors.UnsupportedMedia(
                "the body of the request was in an unknown format - accepted media types"
                f" include: {', '.join(accepted)}"
            )
        patch = exchange.parse_body(req)
        with self.store.locked():
            old = self.store.get(rt.group_resource, exchange.namespace_of(rt, info), info.name)
            if old is None:
                raise exchange.not_found(rt, info.name)
            current = exchange.present(rt, copy.deepcopy(old))
            if media == exchange.MERGE:
                patched = patching.merge_patch(current, patch)
            elif media == exchange.JSON_PATCH:
                patched = patching.json_patch(current, patch)
            else:
                patched = patching.strategic_merge_patch(current, patch)
            objects.check_identity(rt, patched, namespace=info.namespace, name=info.name)
            return self._write_update(req, info, rt, old, patched)

    def _delete_options(self, req: exchange.Request) -> tuple[str | None, dict[str, Any]]:
        """The propagation policy (None: not given) and the preconditions."""
        options: dict[str, Any] = {}
        if req.body.strip():
            body = exchange.parse_body(req)
            if not isinstance(body, dict):
                raise errors.BadRequest("DeleteOptions must be an object")
            options = body
        policy = options.get("propagationPolicy") or req.query.get("propagationPolicy")
        if policy is None:
            orphan = options.get("orphanDependents", req.query.get("orphanDependents"))
            if orphan is not None:
                policy = "Orphan" if orphan in (True, "true") else "Background"
        if policy not in (None, "Orphan", "Background", "Foreground"):
            raise errors.BadRequest(f"unknown propagationPolicy {policy!r}")
        return policy, options.get("preconditions") or {}

    def _delete_one(
        self,
        rt: resources.ResourceType,
        namespace: str,
        name: str,
        *,
        policy: str | None,
        preconditions: Mapping[str, Any],
        dry_run: bool,
    ) -> tuple[dict[str, Any], bool]:
        """Delete one object (lock held): (the object, whether it was removed)."""
        old = self.store.get(rt.group_resource, namespace, name)
        if old is None:
            raise exchange.not_found(rt, name)
        meta = old["metadata"]
        for key, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
            if preconditions.get(key) and str(preconditions[key]) != str(meta.get(key)):
                raise exchange.conflict(
                    rt,
                    name,
                    f"Precondition failed: {label} in precondition: {preconditions[key]},"
                    f" {label} in object meta: {meta.get(key)}",
                )
        if rt.group_resource not in (NAMESPACES, CRD_RESOURCE):
            return self.collector.delete(rt.group_resource, old, policy, dry_run=dry_run)
        if dry_run:
            return old, True
        extra: list[tuple[storage.GroupResource, dict[str, Any]]] = []
        everything = self.store.snapshot()
        if rt.group_resource == NAMESPACES:
            extra = [(gr, o) for gr, o in everything if o["metadata"].get("namespace") == name]
            policy = "Orphan" if policy == "Orphan" else "Foreground"
        if rt.group_resource == CRD_RESOURCE:
            owned = (old["spec"]["group"], old["spec"]["names"]["plural"])
            extra = [(gr, o) for gr, o in everything if gr == owned]
        policy = policy or "Background"
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
        return removed, True

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
            return exchange.present(rt, removed)
        meta = removed["metadata"]
        details = {"name": meta["name"], "group": rt.group, "kind": rt.plural, "uid": meta["uid"]}
        if not rt.group:
            del details["group"]  # omitempty, as the apiserver serializes it
        return errors.status_body(code=200, reason="", message="", details=details, success=True)

    def delete(
        self, req: exchange.Request, info: routing.RequestInfo, rt: resources.ResourceType
    ) -> exchange.Outcome:
        policy, preconditions = self._delete_options(req)
        with self.store.locked():
            obj, removed = self._delete_one(
                rt,
                exchange.namespace_of(rt, info),
                info.name,
                policy=policy,
                preconditions=preconditions,
                dry_run=bool(req.query.get("dryRun")),
            )
        if not removed:  # being deleted: answered as it is now
            return exchange.Response(200, exchange.present(rt, obj))
        return exchange.Response(200, self._deleted_answer(rt, obj))

    def delete_collection(
        self, req: exchange.Request, info: routing.RequestInfo, rt: resources.ResourceType
    ) -> exchange.Outcome:
        policy, _ = self._delete_options(req)
        label, fields = exchange.label_and_fields(req, info)
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
                obj, _removed = self._delete_one(
                    rt,
                    meta.get("namespace") or "",
                    meta["name"],
                    policy=policy,
                    preconditions={},
                    dry_run=bool(req.query.get("dryRun")),
                )
                gone.append(obj)
            rv = self.store.resource_version
        body = {
            "kind": rt.list_kind,
            "apiVersion": rt.api_version,
            "metadata": {"resourceVersion": str(rv)},
            "items": [exchange.present(rt, o) for o in gone],
        }
        return exchange.Response(200, body)
