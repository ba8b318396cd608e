"""What a create or an update does to an object, before it is stored.

The rules of the apiserver's generic registry and strategies, as pure functions:

- `check_identity` — `apiVersion`/`kind` must be the URL's, the body's namespace
  (defaulted from the URL) and name must match it: otherwise `BadRequest`.
- `metadata_causes` — name syntax (DNS-1123 subdomain; label for Namespaces;
  DNS-1035 label for Services), `generateName`, labels, annotations (at most 256 KiB
  together, which bounds what a client-side `kubectl apply` can apply),
  ownerReferences: `Invalid` causes.
- `prepare_create` — sets `uid`, `creationTimestamp`, `generation: 1` (for the types
  that track it, see `resources.py`), drops the body's `status` when the type has a
  status subresource (custom resources) or resets it (built-ins: `{}` or what
  `builtins.initial_status` says, e.g. Namespaces `{phase: Active}`).
- `prepare_update` — keeps the system metadata (uid, creationTimestamp, generation,
  deletionTimestamp); on the main resource of a type with a status subresource the
  status is the stored one; on `/status` everything but `status` is the stored
  object.
- `bump_generation` — `generation` +1 exactly when the rest of the object changed
  (spec, or anything but metadata and a subresource status; Deployments also count
  annotations), judged after defaulting.
- `same_content` — an update that changes nothing is not a write (no new
  resourceVersion, no watch event), as the apiserver skips identical updates.

`resourceVersion` is not set here (the store does it, atomically). Pure; no I/O.
Called by `api.py`.
"""

from __future__ import annotations

import copy
import datetime
import re
import secrets
from typing import Any

from kubeemu import builtins, errors, resources, selectors

__all__ = [
    "bump_generation",
    "check_identity",
    "format_time",
    "generated_name",
    "metadata_causes",
    "prepare_create",
    "prepare_update",
    "same_content",
]

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_1123 = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_LABEL_1035 = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_SYSTEM_METADATA = (
    "uid",
    "creationTimestamp",
    "generation",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
# The apiserver's TotalAnnotationSizeLimitB: all keys and values together, in bytes. A
# client-side `kubectl apply` copies the whole object into one of them.
MAX_ANNOTATION_BYTES = 256 * 1024


def format_time(when: datetime.datetime) -> str:
    """RFC 3339 in UTC with seconds, as metav1.Time serializes."""
    return when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def generated_name(prefix: str) -> str:
    """`generateName` + 5 random characters (the prefix is cut to leave room)."""
    return prefix[:58] + "".join(secrets.choice(_ALPHABET) for _ in range(5))


def check_identity(
    rt: resources.ResourceType,
    obj: dict[str, Any],
    *,
    namespace: str | None,
    name: str | None,
) -> None:
    """Raise `BadRequest` when the body does not belong at this URL; default its namespace."""
    if not isinstance(obj, dict):
        raise errors.BadRequest("the request body is not a JSON object")
    if obj.get("apiVersion") != rt.api_version or obj.get("kind") != rt.kind:
        raise errors.BadRequest(
            f"the API version in the data ({obj.get('apiVersion')}) and kind"
            f" ({obj.get('kind')}) do not match the expected {rt.api_version}, {rt.kind}"
        )
    meta = obj.get("metadata")
    if meta is None:
        meta = obj["metadata"] = {}
    if not isinstance(meta, dict):
        raise errors.BadRequest("metadata must be an object")
    if rt.namespaced:
        if not meta.get("namespace"):
            meta["namespace"] = namespace
        elif meta["namespace"] != namespace:
            raise errors.BadRequest(
                "the namespace of the provided object does not match the namespace sent"
                " on the request"
            )
    else:
        meta.pop("namespace", None)
    if name is not None and meta.get("name") != name:
        raise errors.BadRequest(
            f"the name of the object ({meta.get('name')}) does not match the name on the"
            f" URL ({name})"
        )


def _name_causes(rt: resources.ResourceType, name: Any, field: str) -> list[errors.Cause]:
    if not isinstance(name, str) or not name:
        return [
            errors.Cause(
                field, "Required value: name or generateName is required", "FieldValueRequired"
            )
        ]
    if rt.group_resource == ("", "namespaces"):
        ok, rule = _LABEL_1123.match(name), "a lowercase RFC 1123 label"
    elif rt.group_resource == ("", "services"):
        ok, rule = _LABEL_1035.match(name), "a DNS-1035 label (start with a letter)"
    else:
        ok, rule = _SUBDOMAIN.match(name) and len(name) <= 253, "a lowercase RFC 1123 subdomain"
    if ok:
        return []
    return [errors.Cause(field, f'Invalid value: "{name}": must be {rule}')]


def _annotation_bytes(values: dict[Any, Any]) -> int:
    return sum(len(str(k).encode()) + len(str(v).encode()) for k, v in values.items())


def metadata_causes(rt: resources.ResourceType, obj: dict[str, Any]) -> list[errors.Cause]:
    """Every problem with `obj.metadata` (empty list: fine)."""
    meta = obj.get("metadata") or {}
    causes = _name_causes(rt, meta.get("name"), "metadata.name")
    for field in ("labels", "annotations"):
        values = meta.get(field)
        if values is None:
            continue
        if not isinstance(values, dict):
            causes.append(errors.Cause(f"metadata.{field}", "Invalid value: must be a map"))
            continue
        for key, value in values.items():
            where = f"metadata.{field}[{key}]" if field == "labels" else f"metadata.{field}"
            if not selectors.valid_label_key(key):
                causes.append(errors.Cause(where, f'Invalid value: "{key}": invalid key'))
            if not isinstance(value, str):
                causes.append(errors.Cause(where, f"Invalid value: {value!r}: must be a string"))
            elif field == "labels" and not selectors.valid_label_value(value):
                causes.append(errors.Cause(where, f'Invalid value: "{value}": invalid label value'))
        if field == "annotations" and (size := _annotation_bytes(values)) > MAX_ANNOTATION_BYTES:
            causes.append(
                errors.Cause(
                    "metadata.annotations",
                    f"Too long: may not be more than {MAX_ANNOTATION_BYTES} bytes (got {size})",
                    "FieldValueTooLong",
                )
            )
    refs = meta.get("ownerReferences")
    if refs is not None:
        if not isinstance(refs, list):
            refs = [None]
        for n, ref in enumerate(refs):
            for key in ("apiVersion", "kind", "name", "uid"):
                if not isinstance(ref, dict) or not ref.get(key):
                    causes.append(
                        errors.Cause(
                            f"metadata.ownerReferences[{n}].{key}",
                            "Required value",
                            "FieldValueRequired",
                        )
                    )
    finalizers = meta.get("finalizers")
    if finalizers is not None and not (
        isinstance(finalizers, list) and all(isinstance(f, str) for f in finalizers)
    ):
        causes.append(
            errors.Cause("metadata.finalizers", "Invalid value: must be a list of strings")
        )
    return causes


def _initial_status(rt: resources.ResourceType) -> dict[str, Any] | None:
    return None if rt.custom else builtins.initial_status(rt.group_resource)


def prepare_create(
    rt: resources.ResourceType, obj: dict[str, Any], *, uid: str, now: str
) -> dict[str, Any]:
    """The object as first stored (without resourceVersion)."""
    new = copy.deepcopy(obj)
    meta = new["metadata"]
    for key in (*_SYSTEM_METADATA, "resourceVersion", "selfLink", "managedFields"):
        meta.pop(key, None)
    meta["uid"] = uid
    meta["creationTimestamp"] = now
    if rt.tracks_generation:
        meta["generation"] = 1
    if rt.status_subresource:
        status = _initial_status(rt)
        if status is None:
            new.pop("status", None)
        else:
            new["status"] = status
    return new


def _content(rt: resources.ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    """What counts as a change for `metadata.generation`."""
    content = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    if rt.status_subresource:
        content.pop("status", None)
    if rt.generation_on_annotations:
        content["metadata.annotations"] = (obj.get("metadata") or {}).get("annotations") or {}
    return content


def prepare_update(
    rt: resources.ResourceType,
    old: dict[str, Any],
    new: dict[str, Any],
    *,
    subresource: str,
) -> dict[str, Any]:
    """The object as stored after an update (or patch) of the main resource or `/status`."""
    if subresource == "status":
        result = copy.deepcopy(old)
        if "status" in new:
            result["status"] = copy.deepcopy(new["status"])
        else:
            result.pop("status", None)
        result["apiVersion"] = new.get("apiVersion", old.get("apiVersion"))
        return result
    result = copy.deepcopy(new)
    meta = result.setdefault("metadata", {})
    old_meta = old.get("metadata") or {}
    for key in _SYSTEM_METADATA:
        if key in old_meta:
            meta[key] = copy.deepcopy(old_meta[key])
        else:
            meta.pop(key, None)
    meta.pop("managedFields", None)
    meta.pop("selfLink", None)
    if rt.status_subresource:
        if "status" in old:
            result["status"] = copy.deepcopy(old["status"])
        else:
            result.pop("status", None)
    return result


def bump_generation(rt: resources.ResourceType, old: dict[str, Any], new: dict[str, Any]) -> None:
    """+1 on `new.metadata.generation` when its content differs from `old`'s (in place).

    Called after defaulting, so a default the apiserver fills in is not a change.
    """
    if rt.tracks_generation and _content(rt, old) != _content(rt, new):
        generation = int((old.get("metadata") or {}).get("generation", 0)) + 1
        new["metadata"]["generation"] = generation


def same_content(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """True when `new` equals `old` but for resourceVersion and apiVersion (a no-op update)."""

    def strip(obj: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in obj.items() if k != "apiVersion"}
        out["metadata"] = {
            k: v for k, v in (obj.get("metadata") or {}).items() if k != "resourceVersion"
        }
        return out

    return strip(old) == strip(new)
