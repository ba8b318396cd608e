"""PATCH bodies: JSON merge patch, JSON patch and (for built-ins) strategic merge patch.

- `merge_patch(target, patch)` — RFC 7386: objects merge recursively, `null` deletes a
  key, anything else (lists included) replaces.
- `json_patch(target, ops)` — RFC 6902: add, remove, replace, move, copy, test, with
  JSON pointers (`~0`, `~1`, `-` to append). A malformed document is a `BadRequest`
  (400); an operation that does not apply (a missing path, a failing `test`) is an
  `Invalid` (422), as the apiserver answers.
- `strategic_merge_patch(target, patch)` — for built-in kinds only (the apiserver
  answers 415 for custom resources, and so does `api.py`). Lists of objects merge by
  their Kubernetes merge key where the emulator knows it (containers/env/volumes by
  `name`, container ports by `containerPort`, Service ports by `port`, volumeMounts
  by `mountPath`, conditions by `type`, ownerReferences by `uid`), `finalizers` merge
  as a set; every other list is replaced. Directives: `$patch: replace|delete|merge`,
  `$retainKeys`, `$deleteFromPrimitiveList/<field>`; `$setElementOrder/<field>` is
  accepted and ignored (list order is the target's, then new items).

Pure: inputs are not modified; no I/O. Called by `api.py`.
"""

from __future__ import annotations

import copy
from typing import Any

from kubeemu import errors

__all__ = ["json_patch", "merge_patch", "strategic_merge_patch"]

_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "imagePullSecrets": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "hostAliases": "ip",
    "conditions": "type",
    "ownerReferences": "uid",
}
_SET_LISTS = {"finalizers"}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch of `target` by `patch` (a new value)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


# --- RFC 6902 -----------------------------------------------------------------------


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise errors.BadRequest(f"invalid JSON pointer {path!r}")
    if path == "":
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _cannot(op: str, path: str, why: str) -> errors.Invalid:
    return errors.Invalid(
        "the server rejected our request due to an error in our request:"
        f" {op} operation does not apply: {why}: {path}"
    )


def _resolve(doc: Any, parts: list[str], op: str, path: str) -> Any:
    node = doc
    for part in parts:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise _cannot(op, path, "doc is missing path")
    return node


def _parent(doc: Any, parts: list[str], op: str, path: str) -> tuple[Any, str]:
    if not parts:
        raise _cannot(op, path, "cannot address the document root")
    return _resolve(doc, parts[:-1], op, path), parts[-1]


def _add(doc: Any, parts: list[str], value: Any, op: str, path: str) -> Any:
    if not parts:
        return value
    parent, last = _parent(doc, parts, op, path)
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent):
            parent.insert(int(last), value)
        else:
            raise _cannot(op, path, "index out of range")
    else:
        raise _cannot(op, path, "parent is not a container")
    return doc


def _remove(doc: Any, parts: list[str], op: str, path: str) -> Any:
    parent, last = _parent(doc, parts, op, path)
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent.pop(int(last))
    raise _cannot(op, path, "doc is missing path")


def json_patch(target: Any, ops: Any) -> Any:
    """Apply an RFC 6902 JSON patch (a list of operations) to a copy of `target`."""
    if not isinstance(ops, list):
        raise errors.BadRequest(
            "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
            " (a JSON patch is a list of operations)"
        )
    doc = copy.deepcopy(target)
    for op in ops:
        if not isinstance(op, dict) or not isinstance(op.get("op"), str):
            raise errors.BadRequest(f"invalid JSON patch operation: {op!r}")
        name, path = op["op"], op.get("path")
        parts = _pointer(path)
        if name in ("add", "replace", "test") and "value" not in op:
            raise errors.BadRequest(f"{name} operation at {path!r} has no value")
        if name == "add":
            doc = _add(doc, parts, copy.deepcopy(op["value"]), name, str(path))
        elif name == "remove":
            _remove(doc, parts, name, str(path))
        elif name == "replace":
            _resolve(doc, parts, name, str(path))
            if not parts:
                doc = copy.deepcopy(op["value"])
            else:
                parent, last = _parent(doc, parts, name, str(path))
                parent[int(last) if isinstance(parent, list) else last] = copy.deepcopy(op["value"])
        elif name in ("move", "copy"):
            source = _pointer(op.get("from"))
            value = _resolve(doc, source, name, str(op.get("from")))
            if name == "move":
                if parts[: len(source)] == source and parts != source:
                    raise _cannot(name, str(path), "cannot move a value into itself")
                value = _remove(doc, source, name, str(op.get("from")))
            doc = _add(doc, parts, copy.deepcopy(value), name, str(path))
        elif name == "test":
            actual = _resolve(doc, parts, name, str(path))
            if actual != op["value"] or type(actual) is not type(op["value"]):
                raise errors.Invalid(
                    f"the server rejected our request due to an error in our request:"
                    f" testing value {path} failed"
                )
        else:
            raise errors.BadRequest(f"unexpected JSON patch operation {name!r}")
    return doc


# --- strategic merge patch ------------------------------------------------------------


def _merge_key(field: str, items: list[Any]) -> str | None:
    if field == "ports":
        dicts = [i for i in items if isinstance(i, dict)]
        if dicts and all("containerPort" in i for i in dicts):
            return "containerPort"
        return "port" if dicts and all("port" in i for i in dicts) else None
    return _MERGE_KEYS.get(field)


def _merge_list(field: str, target: list[Any], patch: list[Any]) -> list[Any]:
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [copy.deepcopy(i) for i in patch if not (isinstance(i, dict) and "$patch" in i)]
    if field in _SET_LISTS:
        out = copy.deepcopy(target)
        out.extend(v for v in patch if v not in out)
        return out
    key = _merge_key(field, [*target, *patch])
    if key is None or not all(isinstance(i, dict) for i in [*target, *patch]):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target)
    for item in patch:
        index = next((n for n, o in enumerate(out) if o.get(key) == item.get(key)), None)
        if item.get("$patch") == "delete":
            if index is not None:
                out.pop(index)
        elif index is None:
            out.append(strategic_merge_patch({}, item))
        else:
            out[index] = strategic_merge_patch(out[index], item)
    return out


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """A strategic merge patch of `target` (see the module docstring for what is known)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch", "merge")
    if directive == "delete":
        return None
    body = {k: v for k, v in patch.items() if not k.startswith("$")}
    if directive == "replace":
        return copy.deepcopy(body)
    if directive != "merge":
        raise errors.BadRequest(f"unknown strategic merge patch directive $patch={directive!r}")
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in body.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict):
            merged = strategic_merge_patch(out.get(key), value)
            if merged is None:
                out.pop(key, None)
            else:
                out[key] = merged
        elif isinstance(value, list) and isinstance(out.get(key), list):
            out[key] = _merge_list(key, out[key], value)
        elif isinstance(value, list):
            out[key] = _merge_list(key, [], value)
        else:
            out[key] = copy.deepcopy(value)
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/") and isinstance(value, list):
            field = key.split("/", 1)[1]
            if isinstance(out.get(field), list):
                out[field] = [v for v in out[field] if v not in value]
    if isinstance(patch.get("$retainKeys"), list):
        keep = set(patch["$retainKeys"])
        out = {k: v for k, v in out.items() if k in keep}
    return out
