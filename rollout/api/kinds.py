"""The registry of resource kinds: names, aliases, models and printer columns.

One table drives the YAML loader (kind → model), the CLI (`get rsvc`), and the CRD
generator (plural, short names, printer columns).

Pure data; no I/O.
"""

from __future__ import annotations

import dataclasses

from rollout.api import base, release, revision, rolloutpolicy, route, service

__all__ = [
    "API_VERSION",
    "GROUP",
    "KINDS",
    "VERSION",
    "Column",
    "Kind",
    "Resource",
    "lookup",
]

GROUP = "rollout.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

Resource = (
    service.Service
    | revision.Revision
    | route.Route
    | rolloutpolicy.RolloutPolicy
    | release.Release
)

_READY = '.status.conditions[?(@.type=="Ready")].status'


@dataclasses.dataclass(frozen=True)
class Column:
    """A `kubectl get` column: header, JSONPath and OpenAPI type."""

    name: str
    json_path: str
    type: str = "string"
    description: str = ""
    priority: int = 0


@dataclasses.dataclass(frozen=True)
class Kind:
    kind: str
    plural: str
    short_names: tuple[str, ...]
    model: type[base.ApiModel]
    columns: tuple[Column, ...]
    has_status: bool = True

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def aliases(self) -> frozenset[str]:
        return frozenset({self.kind.lower(), self.plural, self.singular, *self.short_names})


_AGE = Column("Age", ".metadata.creationTimestamp", "date")

KINDS: dict[str, Kind] = {
    k.kind: k
    for k in (
        Kind(
            "Service",
            "services",
            ("rsvc",),
            service.Service,
            (
                Column("Stable", ".status.stableRevision"),
                Column("Latest", ".status.latestCreatedRevision"),
                Column("Release", ".status.currentRelease"),
                Column("Ready", _READY),
                Column("URL", ".status.url"),
                _AGE,
            ),
        ),
        Kind(
            "Revision",
            "revisions",
            ("rrev",),
            revision.Revision,
            (
                Column("Service", ".spec.service"),
                Column("Ready", _READY),
                Column("Replicas", ".status.readyReplicas", "integer"),
                Column("Desired", ".status.desiredReplicas", "integer"),
                Column("Active", '.status.conditions[?(@.type=="Active")].reason'),
                Column("Restarts", ".status.restarts", "integer"),
                Column("Reason", '.status.conditions[?(@.type=="Ready")].reason', priority=1),
                _AGE,
            ),
        ),
        Kind(
            "Route",
            "routes",
            ("rroute",),
            route.Route,
            (
                Column("Service", ".spec.service"),
                Column("URL", ".status.url"),
                Column("Ready", _READY),
                _AGE,
            ),
        ),
        Kind(
            "RolloutPolicy",
            "rolloutpolicies",
            ("rpol",),
            rolloutpolicy.RolloutPolicy,
            (Column("Deadline", ".spec.progressDeadline"), _AGE),
            has_status=False,
        ),
        Kind(
            "Release",
            "releases",
            ("rrel",),
            release.Release,
            (
                Column("Service", ".spec.service"),
                Column("Phase", ".status.phase"),
                Column("Step", ".status.step"),  # `2/6`, counted from 1 (stepIndex: from 0)
                Column("Weight", ".status.weights.canary", "integer"),
                Column("Stable", ".spec.stableRevision"),
                Column("Canary", ".spec.canaryRevision"),
                Column("Message", ".status.message", priority=1),
                _AGE,
            ),
        ),
    )
}


def lookup(name: str) -> Kind | None:
    """The kind called `name`: its kind, plural, singular or a short name, any case."""
    wanted = name.lower()
    return next((k for k in KINDS.values() if wanted in k.aliases), None)
