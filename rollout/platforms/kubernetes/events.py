"""The EventRecorder port on Kubernetes: each recorded event becomes a core v1 Event
about our object, so `kubectl describe rsvc web` and `kubectl get events` show
`RevisionCreated`, `ReleaseStarted`, `StepAdvanced`, `RolledBack`, … next to the
events of the Deployments underneath.

Recording is best effort: an event that cannot be written is logged and dropped; it
never fails a reconcile.
"""

from __future__ import annotations

import structlog

from rollout.api import kinds
from rollout.platforms import ports
from rollout.platforms.kubernetes import builders, rest

__all__ = ["KubernetesEvents"]

log = structlog.get_logger(__name__)

USES: tuple[tuple[str, str, tuple[str, ...]], ...] = (  # for the RBAC rules (see store.USES)
    ("", "events", ("create",)),
)


class KubernetesEvents:
    def __init__(self, resources: rest.Resources, *, instance: str = "rollout-controller") -> None:
        self.res = resources
        self.instance = instance

    def record(self, event: ports.RecordedEvent) -> None:
        subject = builders.EventSubject(
            api_version=kinds.API_VERSION,
            kind=event.kind,
            name=event.name,
            namespace=event.namespace,
            uid=event.uid,
        )
        body = builders.make_event(
            subject, event.reason, event.message, event.warning, event.at, instance=self.instance
        )
        try:
            self.res.create(rest.EVENTS, event.namespace, body)
        except Exception as exc:  # an event is worth a log line, never a failed reconcile
            log.warning("could not record event", reason=event.reason, error=str(exc))
