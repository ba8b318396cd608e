"""The ports a platform provides to the reconcilers: Runtime, TrafficRouter,
EventRecorder — and `Platform`, the three with a `MetricProvider` (declared in
`rollout.analysis.measurement`, beside what it measures) — and, where the platform
has them, `Workloads`: existing Deployments a Service adopts (`spec.workloadRef`).

Implementations: `memory` (tests), `sim` (rehearsal: `rollout controller --platform
sim`), later `local` (processes and a proxy) and `kubernetes`.

Every method is idempotent: reconcilers call them on every pass with the desired
state, never with a change.

Pure declarations; no I/O.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, Protocol

from rollout.analysis import measurement
from rollout.analysis.providers import secrets as secret_values
from rollout.api import matching, revision, route, split

__all__ = [
    "AppliedRoute",
    "EventRecorder",
    "Platform",
    "RecordedEvent",
    "RevisionNotice",
    "RouteProblem",
    "Runtime",
    "RuntimeState",
    "TrafficRouter",
    "Workload",
    "Workloads",
]


@dataclasses.dataclass(frozen=True)
class RevisionNotice:
    """Something lasting the runtime says about a revision, shown as a condition of the
    Revision with status True and recorded once as a warning Event — e.g. the local
    platform's `IgnoredOnLocal`: the fields of the template it does not honour."""

    type: str  # the condition type, CamelCase
    reason: str  # CamelCase
    message: str


@dataclasses.dataclass(frozen=True)
class RuntimeState:
    """What the runtime reports about one revision. `ready`: every replica asked for
    is ready (the Revision reconciler keeps a Ready revision Ready while it scales and
    some are); asked for 0, never ready, reason `ScaledToZero`, `replicas` counting
    what is still stopping."""

    ready: bool
    reason: str  # CamelCase: Starting, Ready, ProbeFailing, CrashLoop, ScaledToZero, …
    message: str = ""
    replicas: int = 0
    ready_replicas: int = 0
    restarts: int = 0
    url: str | None = None
    failed: bool = False  # a failure the revision will not recover from (crash loop)
    notices: tuple[RevisionNotice, ...] = ()
    # How its last replica to stop ended ("killed by SIGKILL", "exited with code 3",
    # "cannot start …"; empty when none did or the runtime cannot tell) and the last
    # lines of that replica's own output: the Revision's Ready message names them.
    last_exit: str = ""
    log_tail: tuple[str, ...] = ()
    # The runtime watches the workload: any change of this state wakes the revision's
    # reconcile (no need to poll while it moves; a slow resync is enough).
    watched: bool = False


class Runtime(Protocol):
    def ensure(self, rev: revision.Revision, *, replicas: int) -> RuntimeState:
        """Run the revision with `replicas` replicas (0: none — scaled to zero, its
        workload kept so that it can be scaled up again); report its state. The
        Revision reconciler decides the count (`rollout.reconcilers.scaling`)."""
        ...

    def remove(self, namespace: str, name: str) -> None:
        """Delete the revision's workload; nothing happens when there is none."""
        ...


@dataclasses.dataclass(frozen=True)
class RouteProblem:
    """Why a router did not apply a route now (the Route's Ready condition says so, and
    the route is reconciled again soon)."""

    reason: str  # CamelCase: EndpointsPending (the data plane keeps its last split), ProxyDown
    message: str


@dataclasses.dataclass(frozen=True)
class AppliedRoute:
    """What the data plane applies for a route: the split (read back, with a URL per
    tag and, where the router knows it, whether each target is ready to serve) and the
    URL that reaches the service. With a `problem`, the split asked for was not
    applied: `traffic` is what the data plane still holds (empty when it cannot be
    reached). `header_routes`, `mirrors` and `session_affinity` are the request rules
    the data plane holds, read back too (a router that cannot apply one of the
    route's rules says so in `problem`, never applies part of them silently)."""

    traffic: list[split.TrafficStatus]
    url: str | None = None
    header_routes: list[matching.HeaderRoute] = dataclasses.field(default_factory=list)
    mirrors: list[matching.Mirror] = dataclasses.field(default_factory=list)
    session_affinity: matching.StickySession | None = None
    drift: str = ""  # non-empty: the data plane had been changed by someone else; restored
    problem: RouteProblem | None = None


class TrafficRouter(Protocol):
    def apply(self, rt: route.Route) -> AppliedRoute:
        """Make the data plane split traffic as `rt.spec.traffic` says; return what it
        actually applies (read back, not assumed)."""
        ...

    def remove(self, namespace: str, name: str) -> None:
        """Forget the route; nothing happens when there is none."""
        ...


@dataclasses.dataclass(frozen=True)
class Workload:
    """An existing workload (a Deployment) as the platform read it, for `workloadRef`."""

    name: str
    # Its pod template as the workload runs it: {"metadata": {labels, annotations},
    # "spec": {...}}, without what the platform's own controllers add (pod-template-hash).
    template: dict[str, Any]
    replicas: int  # what it asks for now
    available_replicas: int = 0  # of the current generation (0 until observed)
    original_replicas: int | None = None  # recorded when adopted; None: not adopted
    adopted_by: str | None = None  # the Service that adopted it


class Workloads(Protocol):
    """Existing workloads a Service adopts: read them, record the adoption, scale them,
    and give them back. Every method is idempotent."""

    def read(self, namespace: str, name: str) -> Workload | None:
        """The workload, or None when there is none."""
        ...

    def adopted(self, namespace: str, service: str) -> list[Workload]:
        """The workloads `service` adopted (and has not given back)."""
        ...

    def adopt(self, namespace: str, name: str, *, service: str, original_replicas: int) -> None:
        """Record that `service` adopted it and the replicas to give back."""
        ...

    def scale(self, namespace: str, name: str, replicas: int) -> None: ...

    def release(self, namespace: str, name: str) -> None:
        """Forget the adoption (the record of it is removed; the replicas stay)."""
        ...


@dataclasses.dataclass(frozen=True)
class RecordedEvent:
    """A Kubernetes-style event about one object."""

    kind: str
    namespace: str
    name: str
    reason: str
    message: str
    warning: bool
    at: datetime
    uid: str | None = None  # of the object, when known (Kubernetes links events by it)


class EventRecorder(Protocol):
    def record(self, event: RecordedEvent) -> None: ...


@dataclasses.dataclass(frozen=True)
class Platform:
    name: str
    runtime: Runtime
    router: TrafficRouter
    metrics: measurement.MetricProvider
    events: EventRecorder
    # Whether a reading may wait on I/O (HTTP, a proxy): then the controller takes
    # readings on its measurement threads, each within a deadline, never inside a
    # reconcile. False only for providers that are pure CPU (sim, memory), measured inline.
    metrics_may_block: bool = True
    # Where a `secretKeyRef` (a webhook's HMAC key) is read: Kubernetes Secrets on a
    # cluster; None elsewhere (env and file sources still work).
    secrets: secret_values.SecretReader | None = None
    # Existing Deployments a Service's `workloadRef` adopts: Kubernetes only; None
    # elsewhere (the Service says WorkloadRefUnsupported).
    workloads: Workloads | None = None
