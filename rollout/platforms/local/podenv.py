"""A container's environment as Kubernetes would give it, resolved on this machine.

`resolve(container, ...)` follows the kubelet's `makeEnvironmentVariables`
(Kubernetes 1.32):

1. `envFrom`, in order: every key of the Secret or ConfigMap it names, behind its
   `prefix`; a later source overrides an earlier one; a missing source with
   `optional: true` adds nothing.
2. `env`, in order, each overriding what came before:
   - `value`: its `$(NAME)` references to variables set so far (by `envFrom` or an
     earlier `env`) are expanded; `$$` is a literal `$`; a reference to nothing is
     left as written (`expand`, a port of Kubernetes' `expansion.Expand`);
   - `valueFrom.fieldRef`, the downward API: `metadata.name` (the pod name the
     local platform gives the revision's process: `pod_name`), `metadata.namespace`,
     `metadata.uid` (the Revision's), `metadata.labels['k']` and
     `metadata.annotations['k']` (the template's, plus the labels the platforms add;
     a missing key is ""), `spec.nodeName` (this host's name),
     `spec.serviceAccountName` (`default` when the template names none),
     `status.hostIP(s)` and `status.podIP(s)` (127.0.0.1);
   - `valueFrom.resourceFieldRef`: the container's `resources` (a request defaults
     to its limit; an unset cpu, memory or ephemeral-storage limit is this machine's
     capacity, as the kubelet gives the node's allocatable), divided by `divisor`
     (Kubernetes' allowed values only) and rounded up as the kubelet does;
   - `valueFrom.secretKeyRef` / `configMapKeyRef`: one key; with `optional: true`
     a missing Secret, ConfigMap or key leaves the variable unset.

Values from `valueFrom` and `envFrom` are not expanded (as in Kubernetes). Anything
the kubelet would refuse to start the container for — a missing Secret, ConfigMap or
key that is not optional, a field path or resource the downward API does not give,
a value holding NUL — raises `ConfigError` (reason `CreateContainerConfigError`)
with a message that names the variable, the object and key, and where it looked.

Pure: Secrets and ConfigMaps are read through `Sources` (the runtime passes
`configfiles.ConfigFiles`, tests a dict), and the pod and node are values. Called
by `podtemplate.plan`.
"""

from __future__ import annotations

import dataclasses
import decimal
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Protocol

from rollout.api import base, podspec

__all__ = [
    "REASON",
    "Capacity",
    "ConfigError",
    "Kind",
    "Pod",
    "Sources",
    "expand",
    "pod_name",
    "resolve",
]

#: The reason of a container the kubelet cannot configure (and of a revision here).
REASON = "CreateContainerConfigError"

Kind = Literal["Secret", "ConfigMap"]

#: Field paths the downward API gives to env (Kubernetes' validEnvDownwardAPIFieldPathExpressions).
_FIELD_PATHS = (
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "metadata.labels['<key>']",
    "metadata.annotations['<key>']",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
)
_RESOURCES = ("cpu", "memory", "ephemeral-storage")
_HUGEPAGES = "hugepages-"
_CPU_DIVISORS = ("1m", "1")
_BYTE_DIVISORS = ("1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei")
# IsConfigMapKey: what a Secret's or ConfigMap's key may be (also a file name here).
_KEY = re.compile(r"[-._a-zA-Z0-9]+")


class ConfigError(Exception):
    """The container cannot be configured: the kubelet's CreateContainerConfigError."""

    reason = REASON

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclasses.dataclass(frozen=True)
class Pod:
    """What the downward API reads: the pod the local platform stands in for."""

    name: str
    namespace: str
    uid: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    service_account: str
    node_name: str
    host_ip: str = "127.0.0.1"
    pod_ip: str = "127.0.0.1"


@dataclasses.dataclass(frozen=True)
class Capacity:
    """This machine's cpu (cores), memory and ephemeral storage (bytes): what an unset
    limit reads as."""

    cpu: decimal.Decimal
    memory: decimal.Decimal
    ephemeral_storage: decimal.Decimal

    def of(self, resource: str) -> decimal.Decimal:
        return {"cpu": self.cpu, "memory": self.memory}.get(resource, self.ephemeral_storage)


class Sources(Protocol):
    """Where Secrets and ConfigMaps are read (`configfiles.ConfigFiles`)."""

    def data(self, kind: Kind, namespace: str, name: str) -> Mapping[str, str] | None:
        """Every key of the object and its value; None when there is no such object.
        Raises `ConfigError` when it cannot be read."""
        ...

    def location(self, kind: Kind, namespace: str, name: str, key: str | None = None) -> str:
        """Where the object (or its key) is looked for, for messages."""
        ...


def pod_name(revision: str) -> str:
    """The pod name of a revision's process (`metadata.name` in the downward API)."""
    return f"{revision}-local"


def resolve(
    container: Mapping[str, Any],
    *,
    pod: Pod,
    containers: Sequence[Mapping[str, Any]] = (),
    capacity: Capacity,
    sources: Sources,
) -> dict[str, str]:
    """The container's environment (see the module docstring), in the order set.
    `containers`: the pod's containers, for a `resourceFieldRef.containerName`."""
    objects = _Objects(sources, pod.namespace)
    env: dict[str, str] = {}
    for i, source in enumerate(container.get("envFrom") or []):
        kind: Kind = "Secret" if source.get("secretRef") is not None else "ConfigMap"
        ref = source.get("secretRef") or source.get("configMapRef") or {}
        data = objects.get(kind, ref.get("name"), f"envFrom[{i}]", optional=_optional(ref))
        prefix = source.get("prefix") or ""
        for key, value in (data or {}).items():
            env[prefix + key] = _checked(f"envFrom[{i}]", prefix + key, value)
    for var in container.get("env") or []:
        name = var["name"]
        value = var.get("value")
        source = var.get("valueFrom")
        if value or source is None:
            env[name] = expand(value or "", env.get)
            continue
        what = f"env {name}"
        if source.get("fieldRef") is not None:
            env[name] = _field(what, source["fieldRef"], pod)
        elif source.get("resourceFieldRef") is not None:
            env[name] = _resource(what, source["resourceFieldRef"], container, containers, capacity)
        else:
            kind = "Secret" if source.get("secretKeyRef") is not None else "ConfigMap"
            ref = source.get("secretKeyRef") or source.get("configMapKeyRef") or {}
            found = objects.key(kind, ref, what)
            if found is None:
                continue  # optional and missing: not set at all
            env[name] = _checked(what, name, found)
    return env


def expand(text: str, lookup: Callable[[str], str | None]) -> str:
    """`$(NAME)` → `lookup(NAME)` (left as written when it is None), `$$` → `$`; any
    other `$` is kept. Kubernetes' `expansion.Expand`, character for character."""
    out: list[str] = []
    checkpoint = 0
    cursor = 0
    end = len(text)
    while cursor < end:
        if text[cursor] == "$" and cursor + 1 < end:
            out.append(text[checkpoint:cursor])
            following = text[cursor + 1]
            advance = 1
            if following == "$":  # escaped: one $
                out.append("$")
            elif following == "(":
                closer = text.find(")", cursor + 2)
                if closer < 0:  # incomplete: kept
                    out.append("$(")
                else:
                    name = text[cursor + 2 : closer]
                    found = lookup(name)
                    out.append(found if found is not None else f"$({name})")
                    advance = closer - cursor
            else:
                out.append("$" + following)
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    return "".join(out) + text[checkpoint:]


# ---- Secrets and ConfigMaps ------------------------------------------------------------


class _Objects:
    """Each Secret and ConfigMap read once per resolution (as the kubelet caches them)."""

    def __init__(self, sources: Sources, namespace: str) -> None:
        self.sources = sources
        self.namespace = namespace
        self.read: dict[tuple[Kind, str], Mapping[str, str] | None] = {}

    def get(
        self, kind: Kind, name: object, what: str, *, optional: bool
    ) -> Mapping[str, str] | None:
        """The object's data; None when it is missing and optional."""
        if not isinstance(name, str) or len(name) > 253 or not base.DNS1123_SUBDOMAIN.match(name):
            raise ConfigError(f"{what}: {name!r} is not a valid {kind} name (a DNS subdomain)")
        if (kind, name) not in self.read:
            self.read[kind, name] = self.sources.data(kind, self.namespace, name)
        data = self.read[kind, name]
        if data is None and not optional:
            where = self.sources.location(kind, self.namespace, name)
            raise ConfigError(
                f"{what}: {kind.lower()} {self.namespace}/{name} not found (looked for {where})"
            )
        return data

    def key(self, kind: Kind, ref: Mapping[str, Any], what: str) -> str | None:
        """The key's value; None when the object or key is missing and optional."""
        name, key, optional = ref.get("name"), ref.get("key"), _optional(ref)
        data = self.get(kind, name, what, optional=optional)
        if data is None:
            return None
        if not isinstance(key, str) or not _KEY.fullmatch(key) or key in (".", ".."):
            raise ConfigError(f"{what}: {key!r} is not a valid {kind} key")
        if key not in data:
            if optional:
                return None
            where = self.sources.location(kind, self.namespace, str(name), key)
            raise ConfigError(
                f"{what}: couldn't find key {key} in {kind} {self.namespace}/{name}"
                f" (looked for {where})"
            )
        return data[key]


def _optional(ref: Mapping[str, Any]) -> bool:
    return ref.get("optional") is True


def _checked(what: str, name: str, value: str) -> str:
    if "\0" in value:
        raise ConfigError(f"{what}: the value of {name} holds NUL, which no environment can carry")
    return value


# ---- the downward API ------------------------------------------------------------------


def _field(what: str, ref: Mapping[str, Any], pod: Pod) -> str:
    version = ref.get("apiVersion") or "v1"
    path = ref.get("fieldPath")
    if version != "v1":
        raise ConfigError(f"{what}: fieldRef.apiVersion {version!r} is not supported (only v1)")
    simple = {
        "metadata.name": pod.name,
        "metadata.namespace": pod.namespace,
        "metadata.uid": pod.uid,
        "spec.nodeName": pod.node_name,
        "spec.serviceAccountName": pod.service_account,
        "status.hostIP": pod.host_ip,
        "status.hostIPs": pod.host_ip,
        "status.podIP": pod.pod_ip,
        "status.podIPs": pod.pod_ip,
    }
    if isinstance(path, str) and path in simple:
        return simple[path]
    subscripted = _subscript(path) if isinstance(path, str) else None
    if subscripted == "metadata.labels":
        return pod.labels.get(_subscript_key(str(path)), "")
    if subscripted == "metadata.annotations":
        return pod.annotations.get(_subscript_key(str(path)), "")
    raise ConfigError(
        f"{what}: fieldRef.fieldPath {path!r} is not given to environment variables"
        f" (one of {', '.join(_FIELD_PATHS)})"
    )


def _subscript(path: str) -> str | None:
    """`metadata.labels['k']` → `metadata.labels` (fieldpath.SplitMaybeSubscriptedPath)."""
    if not path.endswith("']"):
        return None
    head, sep, _ = path[:-2].partition("['")
    return head if sep and head else None


def _subscript_key(path: str) -> str:
    return path[:-2].partition("['")[2]


# ---- resources ---------------------------------------------------------------------------


def _resource(
    what: str,
    ref: Mapping[str, Any],
    container: Mapping[str, Any],
    containers: Sequence[Mapping[str, Any]],
    capacity: Capacity,
) -> str:
    wanted = ref.get("containerName")
    if wanted:
        found = [c for c in containers if c.get("name") == wanted]
        if not found:
            raise ConfigError(
                f"{what}: resourceFieldRef.containerName {wanted!r} names no container"
            )
        container = found[0]
    field = str(ref.get("resource"))
    part, _, resource = field.partition(".")
    if part not in ("limits", "requests") or not (
        resource in _RESOURCES or resource.startswith(_HUGEPAGES)
    ):
        raise ConfigError(
            f"{what}: resourceFieldRef.resource {field!r} is not supported (limits. or requests."
            " followed by cpu, memory, ephemeral-storage or hugepages-<size>)"
        )
    divisor = _quantity(what, "resourceFieldRef.divisor", ref.get("divisor"))
    if not divisor:  # unset or zero: 1, as the kubelet has it
        divisor = decimal.Decimal(1)
    allowed = _CPU_DIVISORS if resource == "cpu" else _BYTE_DIVISORS
    if divisor not in {podspec.parse_quantity(d) for d in allowed}:
        raise ConfigError(
            f"{what}: resourceFieldRef.divisor {ref.get('divisor')!r} is not supported with"
            f" {resource} (only {', '.join(allowed)})"
        )
    amount = _amount(what, container.get("resources") or {}, part, resource, capacity)
    if resource == "cpu":  # convertResourceCPUToString: milli-units, rounded up
        return str(math.ceil(float(_ceil(amount * 1000)) / float(_ceil(divisor * 1000))))
    return str(math.ceil(float(_ceil(amount)) / float(_ceil(divisor))))


def _amount(
    what: str, resources: Mapping[str, Any], part: str, resource: str, capacity: Capacity
) -> decimal.Decimal:
    """The container's request or limit as the kubelet sees it: a request defaults to
    the limit (the API server's defaulting); a cpu, memory or ephemeral-storage limit
    that is unset or zero is the node's (`defaultPodLimitsForDownwardAPI`)."""
    limits = resources.get("limits") or {}
    requests = resources.get("requests") or {}
    if part == "requests":
        given = requests.get(resource, limits.get(resource))
        return _quantity(what, f"resources.requests.{resource}", given) or decimal.Decimal(0)
    limit = _quantity(what, f"resources.limits.{resource}", limits.get(resource))
    if not limit and resource in _RESOURCES:
        return capacity.of(resource)
    return limit or decimal.Decimal(0)


def _quantity(what: str, field: str, value: object) -> decimal.Decimal | None:
    if value is None:
        return None
    parsed = podspec.parse_quantity(value)
    if parsed is None:
        raise ConfigError(f"{what}: {field} {value!r} is not a quantity")
    return parsed


def _ceil(value: decimal.Decimal) -> int:
    return int(value.to_integral_value(rounding=decimal.ROUND_CEILING))
