"""Load resources from files and directories, reporting problems with file and line.

Directories are searched recursively for `*.yaml` and `*.yml`, in sorted order. A
path that holds no resource is an error (`no resources in …`): a file with no YAML
document (empty, or only comments and `---`), a directory without YAML files or whose
files hold none — an empty input never passes as "0 resource(s) valid". A file without
resources inside a directory that has some is a warning. A
name defined twice (same kind, namespace and name) is an error at the second place.
A file larger than `limits.MAX_FILE_BYTES` is an error and is not read further than
that (so `/dev/zero` or a runaway file cannot fill memory). This module reads files;
parsing and validation are `rollout.api.documents`'.

Called by the CLI (`validate`, `apply`).
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterable

from rollout.api import base, documents, limits, route, routefit, routing, service

__all__ = ["load_paths", "route_rule_problems", "unknown_policies"]

_SUFFIXES = (".yaml", ".yml")


def load_paths(paths: Iterable[str | pathlib.Path]) -> documents.Parsed:
    """Every resource in the given files and directories, and every problem found."""
    result = documents.Parsed()
    for given, found in _expand(paths, result):
        loaded = [_load_file(path) for path in found]
        empty = [part for part in loaded if not (part.documents or part.diagnostics)]
        if given.is_dir() and (not found or len(empty) == len(loaded)):
            why = (
                "its .yaml and .yml files are empty or hold only comments and ---"
                if found
                else "it has no .yaml or .yml files"
            )
            result.diagnostics.append(
                documents.Diagnostic(str(given), 0, "", f"no resources in the directory: {why}")
            )
            continue
        for path, part in zip(found, loaded, strict=True):
            if any(part is e for e in empty):
                # Named: an error. Found by a directory search beside others: a warning.
                severity: documents.Severity = "warning" if given.is_dir() else "error"
                where = part.warnings if severity == "warning" else part.diagnostics
                where.append(documents.Diagnostic(str(path), 0, "", _EMPTY, severity))
            result.extend(part)
    result.diagnostics.extend(_duplicates(result.documents))
    return result


_EMPTY = "no resources in the file: it is empty or holds only comments and ---"


def _load_file(path: pathlib.Path) -> documents.Parsed:
    """One file's resources, problems and warnings."""
    try:
        with path.open("rb") as stream:
            data = stream.read(limits.MAX_FILE_BYTES + 1)
            if len(data) > limits.MAX_FILE_BYTES:
                message = _too_large(os.fstat(stream.fileno()).st_size)
                return documents.Parsed(
                    diagnostics=[documents.Diagnostic(str(path), 0, "", message)]
                )
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return documents.Parsed(
            diagnostics=[documents.Diagnostic(str(path), 1, "", "not UTF-8 text")]
        )
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return documents.Parsed(diagnostics=[documents.Diagnostic(str(path), 1, "", reason)])
    return documents.parse(text, str(path))


def _too_large(size: int) -> str:
    """A file over the limit; a device or a pipe has no size, only "more than"."""
    limit = limits.MAX_FILE_BYTES
    if size > limit:
        return "file " + base.too_large(size, limit)
    return f"file too large (more than {limit} bytes; at most {limit})"


def _expand(
    paths: Iterable[str | pathlib.Path], result: documents.Parsed
) -> list[tuple[pathlib.Path, list[pathlib.Path]]]:
    """Each path given, with the files it names (itself, or a directory's YAML files)."""
    out: list[tuple[pathlib.Path, list[pathlib.Path]]] = []
    for raw in paths:
        path = pathlib.Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in _SUFFIXES)
            out.append((path, found))
        elif path.exists():
            out.append((path, [path]))
        else:
            result.diagnostics.append(documents.Diagnostic(str(path), 0, "", "no such file"))
    return out


def unknown_policies(docs: list[documents.Document]) -> list[documents.Diagnostic]:
    """A warning for each Service naming a policy that no document of the run defines
    (in its namespace; a document without one matches any). `rollout validate` has no
    store to look in: a policy applied before is reported too, and the warning says
    where it looked."""
    policies = [d.resource.metadata for d in docs if d.resource.kind == "RolloutPolicy"]
    found = []
    for doc in docs:
        obj = doc.resource
        if not isinstance(obj, service.Service) or obj.spec.policy is None:
            continue
        name, namespace = obj.spec.policy, obj.metadata.namespace
        if any(
            p.name == name and (None in (p.namespace, namespace) or p.namespace == namespace)
            for p in policies
        ):
            continue
        line = doc.line_of(("spec", "policy"))
        message = f'policy "{name}" not found in this run'
        found.append(documents.Diagnostic(doc.path, line, "spec.policy", message, "warning"))
    return found


def route_rule_problems(docs: list[documents.Document]) -> list[documents.Diagnostic]:
    """An error for each Service whose policy (in this run) asks for request rules its
    router cannot express (`routefit`): at the Service's `spec.policy` and at the
    policy's step; and for each Route whose rules its router cannot express. A Service
    naming no router is checked for gateway-api, the controller's default unless it
    runs with `--router istio`."""
    policies = [d for d in docs if d.resource.kind == "RolloutPolicy"]
    found = []
    for doc in docs:
        obj = doc.resource
        if isinstance(obj, route.Route):  # a Route written out: its rules as they stand
            rt = obj.spec
            for limit in routing.route_limits(
                rt.routing,
                rt.traffic,
                (),
                header_routes=rt.header_routes,
                mirrors=rt.mirrors,
                sticky=rt.session_affinity,
            ):
                at = (
                    "mirrors"
                    if rt.mirrors
                    else "headerRoutes"
                    if rt.header_routes
                    else "sessionAffinity"
                )
                line = doc.line_of(("spec", at))
                found.append(documents.Diagnostic(doc.path, line, "spec", limit.message))
            continue
        if not isinstance(obj, service.Service) or obj.spec.policy is None:
            continue
        namespace = obj.metadata.namespace
        policy = next(
            (
                p
                for p in policies
                if p.resource.metadata.name == obj.spec.policy
                and (
                    None in (p.resource.metadata.namespace, namespace)
                    or p.resource.metadata.namespace == namespace
                )
            ),
            None,
        )
        if policy is None:
            continue
        spec = getattr(policy.resource, "spec", None)
        steps = getattr(spec, "steps", None) or []
        affinity = getattr(spec, "session_affinity", None)
        router = (obj.spec.routing.router if obj.spec.routing else None) or "gateway-api"
        for problem in routefit.policy_fit(obj.spec.routing, steps, affinity):
            where = f"step {problem.step + 1} of policy {obj.spec.policy!r}"
            message = f"{where}: {problem.message}"
            if obj.spec.routing is None or obj.spec.routing.router is None:
                message += (
                    f" (checked for {router}, the controller's default router; name one in"
                    " spec.routing.router)"
                )
            line = doc.line_of(("spec", "policy"))
            found.append(documents.Diagnostic(doc.path, line, "spec.policy", message))
            step_line = policy.line_of(("spec", "steps", problem.step))
            step_message = f"service {obj.metadata.name!r} ({router}): {problem.message}"
            found.append(
                documents.Diagnostic(
                    policy.path, step_line, f"spec.steps[{problem.step}]", step_message
                )
            )
    return found


def _duplicates(docs: list[documents.Document]) -> list[documents.Diagnostic]:
    seen: dict[tuple[str, str, str], documents.Document] = {}
    found = []
    for doc in docs:
        meta = doc.resource.metadata
        key = (doc.resource.kind, meta.namespace or "default", meta.name)
        first = seen.setdefault(key, doc)
        if first is not doc:
            found.append(
                documents.Diagnostic(
                    doc.path,
                    doc.line_of(("metadata", "name")),
                    "metadata.name",
                    f"{doc.resource.kind} {meta.name!r} is defined twice"
                    f" (first at {first.path}:{first.line})",
                )
            )
    return found
