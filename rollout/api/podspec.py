"""A Kubernetes pod spec, checked offline as the API server of Kubernetes 1.32 would.

`check(spec)` checks a `PodSpec` (a plain dict, camelCase as on the wire) in two
passes and returns every `Problem` at its field path (relative to the pod spec):

1. **The schema**: the OpenAPI schema of `io.k8s.api.core.v1.PodSpec` in Kubernetes
   `KUBERNETES_VERSION`, as shipped by the `kubernetes-validate` package (strict: an
   unknown field is an error), with JSON Schema (draft 2020-12). Every field the API
   accepts is accepted; jsonschema's messages are reworded (`unknown field (did you
   mean imagePullPolicy?)`, `is required`, `must be a string or an integer`, `must be
   a quantity`). Integers are bounded by their `format` (int32, int64), as Go's
   decoder bounds them. A quantity is a string or an integer (`cpu: 0.5` is written
   `"0.5"` or `500m`), as the CRD's schema (`podschema`) takes it.
2. **The rules the API server enforces in Go** that the schema cannot say, the ones a
   manifest gets wrong in practice: container names (DNS-1123 labels, unique across
   init and app containers), port numbers and names (IANA service names: at most 15
   characters, at least one letter), env var names, `value` xor one `valueFrom`
   source, resource quantities (`cpu: lots`) and requests ≤ limits, probes (one
   handler, ports, an HTTP path starting with `/`; its timings: `initialDelaySeconds`
   ≥ 0, the others ≥ 1 — the minimum each field documents; the API server refuses
   negatives and silently turns a 0 into the default, which the local platform would
   not), volume names and mounts that name a volume, the enums (`imagePullPolicy`,
   `protocol`), `restartPolicy: Always` (a Deployment's pods), native sidecars
   (`restartPolicy: Always` on init containers only), no `ephemeralContainers` (not
   in a pod template). Text that reaches a process (command, args, env values) holds
   no NUL and at most 128 KiB per string (execve's limits); `workingDir` no line
   break or NUL. Messages use the wording of `base` (`must not contain a NUL (\\0)`,
   `too large (N bytes; at most M)`).

Pure; reads the packaged schema once (no network). Called by `workload`; `podschema`
makes the CRDs' schema of a template's spec from the same `definitions()`.
"""

from __future__ import annotations

import decimal
import difflib
import functools
import importlib.resources
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rollout.api import base, problems

if TYPE_CHECKING:  # imported when a pod spec is first checked: commands that only
    import jsonschema  # read stored objects never load it

__all__ = [
    "DEFAULT_PORT",
    "FORMAT_BOUNDS",
    "KUBERNETES_VERSION",
    "MAX_ARG_BYTES",
    "POD_SPEC",
    "PROBE_MINIMUMS",
    "all_containers",
    "app_containers",
    "check",
    "definitions",
    "parse_quantity",
    "serving_port",
]

#: The Kubernetes version whose pod spec schema templates are checked against.
KUBERNETES_VERSION = "1.32.0"
#: Linux's MAX_ARG_STRLEN: execve refuses a longer argument or environment string.
MAX_ARG_BYTES = 128 * 1024
#: The serving port when the first container declares none.
DEFAULT_PORT = 8080

#: The definition a template's `spec` is checked against.
POD_SPEC = "io.k8s.api.core.v1.PodSpec"
_QUANTITY_DEF = "io.k8s.apimachinery.pkg.api.resource.Quantity"
# A quantity is a string or an integer, as in the CRD (`x-kubernetes-int-or-string`):
# Kubernetes' own schema also takes a JSON number such as 0.5, which the CRD refuses.
_QUANTITY_SCHEMA = {"oneOf": [{"type": ["string", "null"]}, {"type": ["integer", "null"]}]}
#: The range of each integer `format` of the schema (Go's int32 and int64).
FORMAT_BOUNDS = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
#: A probe's timings and their documented minimums ("Minimum value is 1").
PROBE_MINIMUMS = {
    "initialDelaySeconds": 0,
    "periodSeconds": 1,
    "timeoutSeconds": 1,
    "successThreshold": 1,
    "failureThreshold": 1,
    "terminationGracePeriodSeconds": 1,
}
_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
_VALUE_SOURCES = ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef")
_IANA_SVC_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$")
_HAS_LETTER = re.compile(r"[a-z]")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
# resource.Quantity: a signed decimal or exponent number with an optional suffix.
_QUANTITY = re.compile(
    r"^(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+))(?P<suffix>[KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+)?$"
)
_SUFFIX = {
    "n": decimal.Decimal("1e-9"),
    "u": decimal.Decimal("1e-6"),
    "m": decimal.Decimal("1e-3"),
    "": decimal.Decimal(1),
    "k": decimal.Decimal("1e3"),
    "M": decimal.Decimal("1e6"),
    "G": decimal.Decimal("1e9"),
    "T": decimal.Decimal("1e12"),
    "P": decimal.Decimal("1e15"),
    "E": decimal.Decimal("1e18"),
    **{
        s: decimal.Decimal(1024) ** (i + 1)
        for i, s in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))
    },
}
_ENUMS = {
    "imagePullPolicy": ("Always", "IfNotPresent", "Never"),
    "protocol": ("TCP", "UDP", "SCTP"),
}

Loc = problems.Loc
Problem = problems.Problem


@functools.cache
def definitions() -> dict[str, Any]:
    """The packaged schema document of Kubernetes `KUBERNETES_VERSION` (strict)."""
    folder = f"v{KUBERNETES_VERSION}-local-strict"
    path = (
        importlib.resources.files("kubernetes_validate")
        / "kubernetes-json-schema"
        / folder
        / "_definitions.json"
    )
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def _int_format(name: str) -> Any:
    low, high = FORMAT_BOUNDS[name]

    def check(value: object) -> bool:
        return not isinstance(value, int) or isinstance(value, bool) or low <= value <= high

    return check


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    import jsonschema

    defs = {**definitions()["$defs"], _QUANTITY_DEF: _QUANTITY_SCHEMA}
    document = {**definitions(), "$defs": defs, "$ref": f"#/$defs/{POD_SPEC}"}
    formats = jsonschema.FormatChecker(formats=())
    for name in FORMAT_BOUNDS:
        formats.checks(name)(_int_format(name))
    return jsonschema.Draft202012Validator(document, format_checker=formats)


def check(spec: object) -> list[Problem]:
    """Every problem of a pod spec, schema first (the rules run only on a spec the
    schema accepts: they read its shapes).

    Answers are cached by the spec's canonical JSON: the store validates every object
    it reads, and a controller reads the same templates over and over (a production
    template takes ~2.5 ms to check, its JSON ~0.05 ms to write)."""
    try:
        key = json.dumps(spec, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):  # not JSON (YAML gives no such thing): no cache
        return _check(spec)
    return list(_cached(key))


@functools.lru_cache(maxsize=2048)
def _cached(key: str) -> tuple[Problem, ...]:
    return tuple(_check(json.loads(key)))


def _check(spec: object) -> list[Problem]:
    found = [_schema_problem(e) for e in _validator().iter_errors(spec)]
    if found:
        return sorted(set(found), key=lambda p: [str(part) for part in p.loc])
    assert isinstance(spec, Mapping)
    return list(_rules(spec))


# ---- accessors (for a spec that passed `check`) ---------------------------------


def app_containers(spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """`containers`, the pod's app containers (the first one serves)."""
    return list(spec.get("containers") or [])


def all_containers(spec: Mapping[str, Any]) -> Iterator[tuple[Loc, Mapping[str, Any]]]:
    """Every container with its path: init, app and ephemeral containers."""
    for field in _CONTAINER_LISTS:
        for i, container in enumerate(spec.get(field) or []):
            yield (field, i), container


def serving_port(spec: Mapping[str, Any]) -> int:
    """The first container's first `containerPort`, else `DEFAULT_PORT`."""
    containers = app_containers(spec)
    declared = (containers[0].get("ports") or []) if containers else []
    return int(declared[0]["containerPort"]) if declared else DEFAULT_PORT


def parse_quantity(value: object) -> decimal.Decimal | None:
    """A Kubernetes resource quantity's value (`500m` → 0.5, `1Gi` → 1073741824), or
    None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return decimal.Decimal(str(value))
    if not isinstance(value, str):
        return None
    match = _QUANTITY.match(value)
    if match is None:
        return None
    number, suffix = decimal.Decimal(match["number"]), match["suffix"] or ""
    if suffix not in _SUFFIX:  # an exponent (e3, E-2); "E" alone is exa, "Ei" exbi
        return number * decimal.Decimal(10) ** int(suffix[1:])
    return number * _SUFFIX[suffix]


# ---- the schema's messages, reworded ------------------------------------------------


def _schema_problem(error: jsonschema.ValidationError) -> Problem:
    loc: Loc = tuple(error.absolute_path)
    instance, schema = error.instance, error.schema
    if error.validator == "additionalProperties" and isinstance(instance, dict):
        allowed = set((schema.get("properties") or {}) if isinstance(schema, dict) else ())
        extra = sorted(str(k) for k in instance if k not in allowed)
        if extra:
            near = difflib.get_close_matches(extra[0], sorted(allowed), n=1)
            hint = f"did you mean {near[0]}?" if near else "not in the Kubernetes pod spec"
            return Problem((*loc, extra[0]), f"unknown field ({hint})")
    if error.validator == "required":
        name = re.search(r"'([^']+)' is a required property", error.message)
        if name:
            return Problem((*loc, name.group(1)), "is required")
    if error.validator == "type":
        wanted = error.validator_value
        types = [str(t) for t in (wanted if isinstance(wanted, list) else [wanted]) if t != "null"]
        scalar = "boolean" if types == ["boolean"] else "number"
        quoted = (
            base.quoted_scalar(instance, scalar)
            if set(types) <= {"integer", "number", "boolean"}
            else None
        )
        if quoted is not None:
            return Problem(loc, quoted)
        return Problem(loc, f"must be {_or(types)} (got {_kind(error.instance)})")
    if error.validator == "format" and error.validator_value in FORMAT_BOUNDS:
        low, high = FORMAT_BOUNDS[error.validator_value]
        too_big = isinstance(instance, int) and instance > high
        bound = f"at most {high}" if too_big else f"at least {low}"
        return Problem(loc, f"must be {bound} (an {error.validator_value})")
    if error.validator == "oneOf":
        if schema == _QUANTITY_SCHEMA:
            if isinstance(instance, float):
                return Problem(
                    loc,
                    f"must be a quantity written as a string or an integer: write {instance}"
                    f" as '{instance}' or '{round(instance * 1000)}m'",
                )
            return Problem(
                loc, f"must be a quantity such as 500m, 2, 256Mi or 1Gi (got {_kind(instance)})"
            )
        return Problem(loc, f"must be {_or(_one_of_types(error.validator_value))}")
    return Problem(loc, error.message)


def _one_of_types(options: object) -> list[str]:
    found: list[str] = []
    for option in options if isinstance(options, list) else []:
        kind = option.get("type") if isinstance(option, dict) else None
        for t in kind if isinstance(kind, list) else [kind]:
            if isinstance(t, str) and t != "null" and t not in found:
                found.append(t)
    return found or ["a valid value"]


_ARTICLE = {"integer": "an integer", "object": "an object (a mapping)", "array": "a list"}


def _or(types: Sequence[str]) -> str:
    words = [_ARTICLE.get(t, f"a {t}") for t in types]
    return " or ".join(words) if words else "a valid value"


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "a mapping"


# ---- the API server's rules that the schema misses -------------------------------------


def _rules(spec: Mapping[str, Any]) -> Iterator[Problem]:
    if not spec.get("containers"):
        yield Problem(("containers",), "at least one container is required")
    if spec.get("ephemeralContainers"):
        yield Problem(
            ("ephemeralContainers",),
            "is not allowed in a pod template (ephemeral containers are added to running"
            " pods, e.g. by kubectl debug)",
        )
    restart = spec.get("restartPolicy")
    if restart not in (None, "Always"):
        yield Problem(
            ("restartPolicy",), f"must be Always (the pods of a Deployment), not {restart!r}"
        )
    volumes = spec.get("volumes") or []
    yield from _volumes(volumes)
    names = {v.get("name") for v in volumes}
    seen: dict[str, Loc] = {}
    for loc, container in all_containers(spec):
        name = container.get("name")
        if isinstance(name, str):
            if not base.DNS1123_LABEL.match(name):
                yield Problem((*loc, "name"), _dns_label(name))
            elif name in seen:
                yield Problem((*loc, "name"), f"duplicate container name {name!r}")
            seen.setdefault(name, loc)
        yield from _container(loc, container, names)


def _volumes(volumes: Sequence[Mapping[str, Any]]) -> Iterator[Problem]:
    seen: set[str] = set()
    for i, volume in enumerate(volumes):
        name = volume.get("name")
        if not isinstance(name, str):
            continue
        if not base.DNS1123_LABEL.match(name):
            yield Problem(("volumes", i, "name"), _dns_label(name))
        elif name in seen:
            yield Problem(("volumes", i, "name"), f"duplicate volume name {name!r}")
        seen.add(name)
        sources = [k for k in volume if k != "name" and volume[k] is not None]
        if len(sources) > 1:
            yield Problem(("volumes", i), f"may have only one source, not {', '.join(sources)}")


def _container(loc: Loc, c: Mapping[str, Any], volumes: set[Any]) -> Iterator[Problem]:
    for field in ("command", "args"):
        for i, value in enumerate(c.get(field) or []):
            yield from _process_text((*loc, field, i), value)
    working_dir = c.get("workingDir")
    if isinstance(working_dir, str) and (
        problem := base.text_problem(working_dir, base.LINE_BREAKS)
    ):
        yield Problem((*loc, "workingDir"), problem)
    for field, allowed in _ENUMS.items():
        if field in c and c[field] is not None and c[field] not in allowed:
            yield Problem((*loc, field), f"must be one of {', '.join(allowed)}")
    image = c.get("image")
    if isinstance(image, str) and (problem := base.text_problem(image, base.CONTROLS + " ")):
        yield Problem((*loc, "image"), f"an image reference {problem}")
    restart = c.get("restartPolicy")
    if restart is not None and (loc[0] != "initContainers" or restart != "Always"):
        where = "an init container (a native sidecar)" if loc[0] == "initContainers" else None
        yield Problem(
            (*loc, "restartPolicy"),
            f"may only be Always, on {where}"
            if where
            else "is only allowed on init containers (native sidecars: restartPolicy: Always)",
        )
    yield from _env(loc, c.get("env") or [])
    yield from _ports(loc, c.get("ports") or [])
    yield from _resources((*loc, "resources"), c.get("resources") or {})
    port_names = {p.get("name") for p in c.get("ports") or [] if p.get("name")}
    for probe in _PROBES:
        if c.get(probe) is not None:
            yield from _probe((*loc, probe), c[probe], port_names)
    mounts: set[str] = set()
    for i, mount in enumerate(c.get("volumeMounts") or []):
        if mount.get("name") not in volumes:
            yield Problem(
                (*loc, "volumeMounts", i, "name"),
                f"names no volume of the pod ({mount.get('name')!r} is not in spec.volumes)",
            )
        path = mount.get("mountPath")
        if path in mounts:
            yield Problem((*loc, "volumeMounts", i, "mountPath"), f"{path!r} is mounted twice")
        mounts.add(path)


def _process_text(loc: Loc, value: object) -> Iterator[Problem]:
    """execve's limits: no NUL, at most `MAX_ARG_BYTES` per string."""
    if not isinstance(value, str):
        return
    problem = base.text_problem(value, base.NUL)
    if problem is None and (size := base.utf8_size(value)) > MAX_ARG_BYTES:
        problem = base.too_large(size, MAX_ARG_BYTES)
    if problem is not None:
        yield Problem(loc, problem)


def _env(loc: Loc, env: Sequence[Mapping[str, Any]]) -> Iterator[Problem]:
    for i, var in enumerate(env):
        here = (*loc, "env", i)
        name = var.get("name")
        if isinstance(name, str) and not _ENV_NAME.fullmatch(name):
            yield Problem(
                (*here, "name"),
                f"{name!r} is not a valid environment variable name (letters, digits, '_',"
                " '.' and '-', not starting with a digit; no '=')",
            )
        yield from _process_text((*here, "value"), var.get("value"))
        source = var.get("valueFrom")
        if source is None:
            continue
        if var.get("value"):
            yield Problem((*here, "valueFrom"), "may not be given with a non-empty value")
        given = [k for k in _VALUE_SOURCES if source.get(k) is not None]
        if len(given) != 1:
            yield Problem(
                (*here, "valueFrom"),
                f"needs exactly one of {', '.join(_VALUE_SOURCES)}"
                + (f" (got {', '.join(given)})" if given else ""),
            )


def _ports(loc: Loc, declared: Sequence[Mapping[str, Any]]) -> Iterator[Problem]:
    names: set[str] = set()
    for i, port in enumerate(declared):
        here = (*loc, "ports", i)
        number = port.get("containerPort")
        if isinstance(number, int) and not 1 <= number <= 65535:
            yield Problem((*here, "containerPort"), "must be between 1 and 65535")
        host = port.get("hostPort")
        if isinstance(host, int) and not 0 <= host <= 65535:
            yield Problem((*here, "hostPort"), "must be between 0 and 65535")
        if port.get("protocol") not in (None, *_ENUMS["protocol"]):
            yield Problem((*here, "protocol"), "must be one of TCP, UDP, SCTP")
        name = port.get("name")
        if isinstance(name, str):
            problem = _iana_name(name)
            if problem:
                yield Problem((*here, "name"), problem)
            elif name in names:
                yield Problem((*here, "name"), f"duplicate port name {name!r}")
            names.add(name)


def _iana_name(name: str) -> str | None:
    if not _IANA_SVC_NAME.match(name) or "--" in name:
        return (
            f"{name!r} is not a valid port name (an IANA service name: at most 15 lowercase"
            " letters, digits and '-', not starting or ending with '-', no '--')"
        )
    if not _HAS_LETTER.search(name):
        return f"{name!r} is not a valid port name (it needs at least one letter)"
    return None


def _resources(loc: Loc, resources: Mapping[str, Any]) -> Iterator[Problem]:
    parsed: dict[str, dict[str, decimal.Decimal]] = {}
    for part in ("requests", "limits"):
        for name, value in (resources.get(part) or {}).items():
            amount = parse_quantity(value)
            if amount is None:
                yield Problem(
                    (*loc, part, name),
                    f"{value!r} is not a quantity (such as 500m, 2, 256Mi or 1Gi)",
                )
            elif amount < 0:
                yield Problem((*loc, part, name), "must not be negative")
            else:
                parsed.setdefault(part, {})[name] = amount
    for name, request in parsed.get("requests", {}).items():
        limit = parsed.get("limits", {}).get(name)
        if limit is not None and request > limit:
            yield Problem(
                (*loc, "requests", name),
                f"must be less than or equal to the {name} limit ({resources['limits'][name]})",
            )


def _probe(loc: Loc, probe: Mapping[str, Any], port_names: set[Any]) -> Iterator[Problem]:
    handlers = [h for h in _HANDLERS if probe.get(h) is not None]
    if len(handlers) != 1:
        yield Problem(
            loc,
            f"needs exactly one handler of {', '.join(_HANDLERS)}"
            + (f" (got {', '.join(handlers)})" if handlers else ""),
        )
    for field, minimum in PROBE_MINIMUMS.items():
        value = probe.get(field)
        if isinstance(value, int) and value < minimum:
            yield Problem(
                (*loc, field), "must be 0 or more" if minimum == 0 else "must be at least 1"
            )
        elif field == "successThreshold" and value not in (None, 1) and loc[-1] != "readinessProbe":
            yield Problem((*loc, field), "must be 1 for a liveness or startup probe")
    for handler in ("httpGet", "tcpSocket"):
        action = probe.get(handler)
        if action is None:
            continue
        port = action.get("port")
        if isinstance(port, int) and not 1 <= port <= 65535:
            yield Problem((*loc, handler, "port"), "must be between 1 and 65535")
        elif isinstance(port, str):
            problem = _iana_name(port)
            if problem is None and port not in port_names:
                problem = f"names no port of the container ({port!r})"
            if problem:
                yield Problem((*loc, handler, "port"), problem)
        path = action.get("path") if handler == "httpGet" else None
        if isinstance(path, str):
            problem = base.text_problem(path, base.CONTROLS + " ")
            if not path.startswith("/"):
                problem = f"must start with '/' (got {path!r})"
            if problem:
                yield Problem((*loc, handler, "path"), problem)


def _dns_label(name: str) -> str:
    return (
        f"{name!r} is not a valid name (a DNS-1123 label: at most 63 lowercase letters,"
        " digits and '-', starting and ending with a letter or digit)"
    )
