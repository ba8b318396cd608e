"""The EventRecorder port on Kubernetes: each recorded event becomes a core v1 Event
about our object, so `kubectl describe rsvc web` and `kubectl get events` show
`RevisionCreated`, `ReleaseStarted`, `StepAdvanced`, `RolledBack`, … next to the
events of the Deployments underneath.

`make_event` (pure: `now` is passed in) builds the Event as client-go would — named
`<name>.<hex nanoseconds>`, the note cut at the API server's 1024 characters;
`KubernetesEvents.record` creates it. Recording is best effort: an event that cannot
be written is logged and dropped; it never fails a reconcile.

I/O: the API server (`rest.Resources`), in `record` only. Called by the reconcilers
through the EventRecorder port (`platform.make`).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import structlog

from rollout.api import kinds
from rollout.platforms import ports
from rollout.platforms.kubernetes import refs, rest

__all__ = ["EventSubject", "KubernetesEvents", "make_event"]

log = structlog.get_logger(__name__)

USES: tuple[tuple[str, str, tuple[str, ...]], ...] = (  # for the RBAC rules (see store.USES)
    ("", "events", ("create",)),
)

EVENT_NOTE_LIMIT = 1024  # the API server's limit for events.k8s.io notes


@dataclasses.dataclass(frozen=True)
class EventSubject:
    """The object an Event is about, when the caller holds a reference, not the object
    (the EventRecorder port receives kind, namespace and name)."""

    api_version: str
    kind: str
    name: str
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None


def _subject(involved: kinds.Resource | EventSubject) -> EventSubject:
    if isinstance(involved, EventSubject):
        return involved
    meta = involved.metadata
    return EventSubject(
        involved.api_version,
        involved.kind,
        meta.name,
        meta.namespace,
        meta.uid,
        meta.resource_version,
    )


def make_event(
    involved: kinds.Resource | EventSubject,
    reason: str,
    message: str,
    warning: bool,
    now: datetime,
    *,
    component: str = "rollout-controller",
    instance: str | None = None,
    action: str = "Reconcile",
) -> dict[str, Any]:
    """A core v1 Event about `involved` (a resource, or a reference to one), named
    `<name>.<hex nanoseconds>` as client-go names them.

    `instance` (reportingInstance, e.g. the pod name) defaults to `component`; the API
    server requires it, and `action`, on events that carry `eventTime`."""
    at = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
    since = at - datetime(1970, 1, 1, tzinfo=UTC)
    nanos = (since.days * 86_400 + since.seconds) * 10**9 + since.microseconds * 1000
    subject = _subject(involved)
    namespace = subject.namespace or "default"
    reference: dict[str, Any] = {
        "apiVersion": subject.api_version,
        "kind": subject.kind,
        "name": subject.name,
        "namespace": namespace,
    }
    if subject.uid:
        reference["uid"] = subject.uid
    if subject.resource_version:
        reference["resourceVersion"] = subject.resource_version
    seconds = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{subject.name}.{nanos:x}", "namespace": namespace},
        "involvedObject": reference,
        "reason": reason,
        "message": message[:EVENT_NOTE_LIMIT],
        "type": "Warning" if warning else "Normal",
        "firstTimestamp": seconds,
        "lastTimestamp": seconds,
        "eventTime": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "count": 1,
        "action": action,
        "source": {"component": component},
        "reportingComponent": component,
        "reportingInstance": instance or component,
    }


class KubernetesEvents:
    """EventRecorder port: one core v1 Event per recorded event, best effort."""

    def __init__(self, resources: rest.Resources, *, instance: str = "rollout-controller") -> None:
        self.res = resources
        self.instance = instance

    def record(self, event: ports.RecordedEvent) -> None:
        subject = EventSubject(
            api_version=kinds.API_VERSION,
            kind=event.kind,
            name=event.name,
            namespace=event.namespace,
            uid=event.uid,
        )
        body = make_event(
            subject, event.reason, event.message, event.warning, event.at, instance=self.instance
        )
        try:
            self.res.create(refs.EVENTS, event.namespace, body)
        except Exception as exc:  # an event is worth a log line, never a failed reconcile
            log.warning("could not record event", reason=event.reason, error=str(exc))
