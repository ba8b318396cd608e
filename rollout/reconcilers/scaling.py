"""Scaling decisions, pure: which revisions are active and which are in reserve, how
many replicas each is asked for and from when, how big a canary must be for its
weight, and how much traffic its ready replicas can serve.

Knative's split of the work (its labeler and its scale-to-zero), in two steps:
- the **Service reconciler** — the one that knows the Route and the releases — marks
  each revision (`routing_states`, then `marks`): the label
  `rollout.dev/routing-state: active|reserve`, the time it last changed
  (`rollout.dev/routing-state-modified`), for a reserve revision the delay in force
  (`rollout.dev/scale-down-delay`), and for a canary whose size follows its weight its
  replica count (`rollout.dev/canary-replicas`). Metadata, not spec: a Revision's spec
  is immutable;
- the **Revision reconciler** turns the marks and the time into the replica count it
  asks the runtime for (`desired`): active → its full size (`scaling_of(rev)
  .minReplicas`, or the canary count); reserve → its full size until `modified +
  delay`, then 0. Never 0 before the delay has passed: a mark it cannot read keeps
  the revision running.

A revision is **active** when the Route sends it traffic or names it by tag (spec or
applied status), when it is the stable revision, when a running release names it
(stable or canary, whatever its weight: blue-green tests a canary at 0% by tag), or
when it is the latest revision and still to be rolled out (no policy, or no release
of it has ended yet). Everything else — the stable a promotion replaced, a canary
rolled back, aborted, failed or superseded — is **reserve**. `retry` makes a new
release of the same canary: active again, it is scaled up, and the release waits for
it to be serving (Ready and Active) before any weight goes to it.

**Delay** (`scale_down_delay`): the Service's `scaleDownDelay`, else the policy's,
else 30 s.

**Canary sizing** (`canaryScale: {minReplicas, matchWeight: true}`, Argo Rollouts'
dynamic scaling): while a release runs, the canary is asked for
`canary_replicas(weight) = max(minReplicas, ceil(S × weight / 100))` replicas, where
S (`stable_size`) is the stable revision's size (its replica count, at least its
`minReplicas`: an HPA may have grown it) and the weight is the one the release asks
for — so the canary is scaled for a step before traffic moves to it. The Route then
carries the canary's weight only once its ready replicas can serve it
(`routable_weight`): `capacity(ready) = floor(100 × ready / S)` is the share of
traffic its ready replicas serve at the stable's load per replica; below the wanted
weight the Route keeps the weight it has (lowered to the capacity if replicas were
lost), so the release's step waits (it steps on only when the weights are applied,
and rolls back if they are not within its progress deadline). At promotion the
weight is 100: the canary reaches S ready replicas before it takes all traffic, and
the stable goes to reserve only once the release has ended. Since `ceil` rounds up,
`capacity(canary_replicas(w)) ≥ w`: a canary that reaches its count can always take
its weight.

No I/O, no clock: `now` is passed in. Called by `reconcilers/service/plan.py` and
`reconcilers/revision.py`; table- and property-tested in
tests/unit/reconcilers/test_scaling.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from rollout.api import durations, meta, names, policyspec, revision, service, split
from rollout.api import rolloutpolicy as policies
from rollout.api.revision import RoutingState

__all__ = [
    "DEFAULT_SCALE_DOWN_DELAY",
    "Want",
    "active_revisions",
    "canary_replicas",
    "capacity",
    "desired",
    "format_time",
    "marks",
    "parse_time",
    "routable_weight",
    "scale_down_delay",
    "stable_size",
]

DEFAULT_SCALE_DOWN_DELAY = timedelta(seconds=30)


# --- the Service reconciler's side: routing states and marks ------------------------------


def scale_down_delay(svc: service.Service, policy: policies.RolloutPolicy | None) -> timedelta:
    """The delay in force: the Service's `scaleDownDelay`, else its policy's, else 30 s."""
    if svc.spec.scale_down_delay is not None:
        return svc.spec.scale_down_delay
    if policy is not None and policy.spec.scale_down_delay is not None:
        return policy.spec.scale_down_delay
    return DEFAULT_SCALE_DOWN_DELAY


def active_revisions(
    *,
    stable: str | None,
    routed: Iterable[split.TrafficTarget],
    running: Iterable[str | None],
    pending: str | None,
) -> set[str]:
    """The revisions that must run: the stable, those the Route sends traffic to or
    names by tag (`routed`: its spec and what it applies), those a running release
    names (`running`), and the latest revision while it is to be rolled out
    (`pending`). The others are in reserve."""
    active = {t.revision_name for t in routed if t.percent > 0 or t.tag}
    active.update(n for n in (stable, pending, *running) if n)
    return active


def marks(
    rev: revision.Revision,
    state: RoutingState,
    *,
    now: datetime,
    delay: timedelta,
    canary: int | None = None,
) -> meta.ObjectMeta | None:
    """The revision's metadata with its routing marks (see the module docstring); None
    when it already has them. The modified time moves only when the state changes."""
    labels = dict(rev.metadata.labels)
    annotations = dict(rev.metadata.annotations)
    if labels.get(names.ROUTING_STATE_LABEL) != state.value or (
        names.ROUTING_STATE_MODIFIED_ANNOTATION not in annotations
    ):
        annotations[names.ROUTING_STATE_MODIFIED_ANNOTATION] = format_time(now)
    labels[names.ROUTING_STATE_LABEL] = state.value
    if state is RoutingState.RESERVE:
        annotations[names.SCALE_DOWN_DELAY_ANNOTATION] = durations.format_duration(delay)
    else:
        annotations.pop(names.SCALE_DOWN_DELAY_ANNOTATION, None)
    if canary is None:
        annotations.pop(names.CANARY_REPLICAS_ANNOTATION, None)
    else:
        annotations[names.CANARY_REPLICAS_ANNOTATION] = str(canary)
    if labels == rev.metadata.labels and annotations == rev.metadata.annotations:
        return None
    return rev.metadata.model_copy(update={"labels": labels, "annotations": annotations})


# --- canary sizing and capacity --------------------------------------------------------


def stable_size(stable: revision.Revision) -> int:
    """S: the stable revision's replicas, at least its `minReplicas` (an HPA may have
    grown it; pods that are not ready yet still count: a blip must not shrink the
    canary)."""
    return max(revision.scaling_of(stable).min_replicas, stable.status.replicas, 1)


def canary_replicas(weight: int, size: int, scale: policyspec.CanaryScale) -> int:
    """`max(minReplicas, ceil(size × weight / 100))`: replicas for `weight`% of the
    traffic at the stable's load per replica."""
    return max(scale.min_replicas, -(-size * weight // 100))


def capacity(ready: int, size: int) -> int:
    """The share of traffic (percent) `ready` replicas serve at the stable's load per
    replica: `floor(100 × ready / size)`, at most 100."""
    return min(100, ready * 100 // max(size, 1))


def routable_weight(wanted: int, room: int | None, current: int) -> int:
    """The canary weight the Route may carry: `wanted` when the canary's ready replicas
    can serve it (`room` is their capacity; None: not limited), else the weight it
    carries now (`current`), lowered to the capacity if replicas were lost — never more
    than they can serve."""
    if room is None or wanted <= room:
        return wanted
    return min(current, room)


# --- the Revision reconciler's side: replicas from marks and time ------------------------


@dataclasses.dataclass(frozen=True)
class Want:
    """What the Revision reconciler asks for: `replicas` (0: scaled to zero), the
    routing state and when it last changed (None: not marked), and for a reserve
    revision when it goes to 0 (`scale_down_at`; None: never — its marks cannot be
    read) after `delay`."""

    replicas: int
    state: RoutingState
    since: datetime | None = None
    scale_down_at: datetime | None = None
    delay: timedelta | None = None

    def requeue(self, now: datetime) -> timedelta | None:
        """How long until the replica count changes by itself (the scale-down time)."""
        if self.replicas == 0 or self.scale_down_at is None:
            return None
        return max(self.scale_down_at - now, timedelta(0))


def desired(rev: revision.Revision, now: datetime) -> Want:
    """The replicas to ask the runtime for now (see the module docstring). A revision
    without marks (made before they existed, or not marked yet) is active."""
    labels, annotations = rev.metadata.labels, rev.metadata.annotations
    full = _canary_count(annotations) or revision.scaling_of(rev).min_replicas
    since = parse_time(annotations.get(names.ROUTING_STATE_MODIFIED_ANNOTATION))
    if labels.get(names.ROUTING_STATE_LABEL) != RoutingState.RESERVE.value:
        return Want(full, RoutingState.ACTIVE, since)
    delay = _duration(annotations.get(names.SCALE_DOWN_DELAY_ANNOTATION))
    if since is None or delay is None:  # unreadable marks: never scale down early
        return Want(full, RoutingState.RESERVE, since, None, delay)
    at = since + delay
    return Want(0 if now >= at else full, RoutingState.RESERVE, since, at, delay)


def _canary_count(annotations: dict[str, str]) -> int | None:
    text = annotations.get(names.CANARY_REPLICAS_ANNOTATION)
    if text is None or not text.isdigit() or int(text) < 1:
        return None
    return int(text)


def _duration(text: str | None) -> timedelta | None:
    if text is None:
        return None
    try:
        return durations.parse_duration(text)
    except ValueError:
        return None


def format_time(at: datetime) -> str:
    """RFC 3339 in UTC with microseconds (`2026-01-01T00:00:00.250000Z`): a scale-down
    time read back is never earlier than the one written."""
    return at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
