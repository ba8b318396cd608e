"""What the emulator serves: `ResourceType`s (built-in and from CRDs) and the `Registry`.

A `ResourceType` is one served group/version/plural with the facts the handlers need:
its kind and names, scope, verbs, whether it has a `/status` subresource, whether the
apiserver tracks `metadata.generation` for it, its printer columns and (for custom
resources) its compiled schema. Objects are stored per *group resource*
(group + plural), so every served version of a CRD sees the same objects, as with
the apiserver's `None` conversion strategy.

Built-ins follow the real apiserver's strategies where a controller can tell (their
defaults and checks are in `builtins.py`):

- generation is set (1 on create, +1 on spec change) only for Deployments (which also
  bump it on annotation changes, as `apps/v1` does) and CustomResourceDefinitions;
  Namespaces, Services, ConfigMaps, Events, Leases and HorizontalPodAutoscalers carry
  no `metadata.generation`, like on a real cluster;
- DELETE answers the deleted object for Namespaces, CRDs and custom resources, and a
  `Status{status: Success, details}` for the other built-ins.

`Registry` is thread-safe; `crds.py` turns CRD objects into `ResourceType`s and the
handlers (`api.py`) and `discovery.py` look them up. No I/O.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ALL_VERBS",
    "BUILTINS",
    "PrinterColumn",
    "Registry",
    "ResourceType",
    "version_sort_key",
]

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
STATUS_VERBS = ("get", "patch", "update")


@dataclass(frozen=True)
class PrinterColumn:
    """One `additionalPrinterColumns` entry of a CRD version."""

    name: str
    type: str
    json_path: str
    format: str = ""
    description: str = ""
    priority: int = 0


@dataclass(frozen=True)
class ResourceType:
    """One served group/version/resource."""

    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    status_subresource: bool = False
    tracks_generation: bool = False
    generation_on_annotations: bool = False
    returns_deleted_object: bool = False
    custom: bool = False
    storage: bool = True
    printer_columns: tuple[PrinterColumn, ...] = ()
    schema: Any = field(default=None, compare=False, hash=False, repr=False)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def group_resource(self) -> tuple[str, str]:
        return (self.group, self.plural)

    @property
    def qualified_plural(self) -> str:
        """`services.rollout.dev`, `deployments.apps`, `configmaps`."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def qualified_kind(self) -> str:
        """`Service.rollout.dev`, `Deployment.apps`, `ConfigMap` (as in Invalid messages)."""
        return f"{self.kind}.{self.group}" if self.group else self.kind


def _builtin(group: str, version: str, plural: str, kind: str, **kwargs: Any) -> ResourceType:
    return ResourceType(
        group=group,
        version=version,
        plural=plural,
        singular=kind.lower(),
        kind=kind,
        **{"namespaced": True, **kwargs},
    )


BUILTINS: tuple[ResourceType, ...] = (
    _builtin(
        "",
        "v1",
        "namespaces",
        "Namespace",
        namespaced=False,
        short_names=("ns",),
        verbs=tuple(v for v in ALL_VERBS if v != "deletecollection"),
        status_subresource=True,
        returns_deleted_object=True,
    ),
    _builtin(
        "",
        "v1",
        "services",
        "Service",
        short_names=("svc",),
        categories=("all",),
        status_subresource=True,
    ),
    _builtin("", "v1", "configmaps", "ConfigMap", short_names=("cm",)),
    _builtin("", "v1", "serviceaccounts", "ServiceAccount", short_names=("sa",)),
    _builtin("", "v1", "secrets", "Secret"),
    _builtin("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", namespaced=False),
    _builtin(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        namespaced=False,
    ),
    _builtin("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    _builtin("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
    _builtin(
        "networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", short_names=("netpol",)
    ),
    _builtin("", "v1", "events", "Event", short_names=("ev",)),
    _builtin(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        short_names=("deploy",),
        categories=("all",),
        status_subresource=True,
        tracks_generation=True,
        generation_on_annotations=True,
    ),
    _builtin(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        short_names=("hpa",),
        categories=("all",),
        status_subresource=True,
    ),
    _builtin("coordination.k8s.io", "v1", "leases", "Lease"),
    _builtin("events.k8s.io", "v1", "events", "Event", short_names=("ev",)),
    _builtin(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        namespaced=False,
        short_names=("crd", "crds"),
        categories=("api-extensions",),
        status_subresource=True,
        tracks_generation=True,
        returns_deleted_object=True,
    ),
)

_KUBE_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_sort_key(version: str) -> tuple[int, int, int, str]:
    """Kubernetes version priority: v2 > v1 > v1beta1 > v1alpha1 > anything else."""
    match = _KUBE_VERSION.match(version)
    if match is None:
        return (3, 0, 0, version)
    major = int(match.group(1))
    stage = {None: 0, "beta": 1, "alpha": 2}[match.group(2)]
    minor = int(match.group(3) or 0)
    return (stage, -major, -minor, version)


class Registry:
    """The served resource types: the built-ins plus one entry per registered CRD."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._crds: dict[str, tuple[ResourceType, ...]] = {}

    def set_crd(self, crd_name: str, types: Iterable[ResourceType]) -> None:
        with self._lock:
            self._crds[crd_name] = tuple(types)

    def remove_crd(self, crd_name: str) -> None:
        with self._lock:
            self._crds.pop(crd_name, None)

    def all(self) -> list[ResourceType]:
        with self._lock:
            custom = [t for types in self._crds.values() for t in types]
        return [*BUILTINS, *custom]

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        for rt in self.all():
            if (rt.group, rt.version, rt.plural) == (group, version, plural):
                return rt
        return None

    def versions_of(self, group: str, plural: str) -> list[ResourceType]:
        """Every served version of one group resource (the storage version first)."""
        found = [rt for rt in self.all() if rt.group_resource == (group, plural)]
        return sorted(found, key=lambda rt: (not rt.storage, version_sort_key(rt.version)))

    def group_versions(self) -> dict[str, list[str]]:
        """Group name → served versions in priority order ('' is the core group)."""
        groups: dict[str, set[str]] = {}
        for rt in self.all():
            groups.setdefault(rt.group, set()).add(rt.version)
        return {g: sorted(vs, key=version_sort_key) for g, vs in groups.items()}
