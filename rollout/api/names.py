"""Names, labels, annotations and headers: the one place each is spelled.

- Revisions are `<service>-NNNNN` (five digits or more, counting from 1);
  `revision_number` reads the counter back (0 for a name that is not one of ours,
  e.g. `web-12`). Releases are named after their canary (`web-00002`), a retry adds
  the attempt (`web-00002-2`; the attempt is also in `ATTEMPT_ANNOTATION`).
- Every object made for a Service carries `SERVICE_LABEL`; revisions and what runs
  them also `REVISION_LABEL`. A revision copies the Service's `SOURCE_DIR_ANNOTATION`.
- The data planes pin a request to a tagged target with `TAG_HEADER`, and the local
  proxy to a revision with `REVISION_HEADER`, which it also sets on every answer.
- The Service reconciler marks each revision's routing state (Knative's
  `serving.knative.dev/routingState`) in `ROUTING_STATE_LABEL` (`active` or
  `reserve`), when it last changed in `ROUTING_STATE_MODIFIED_ANNOTATION`, the delay
  after which a reserve revision goes to 0 replicas in `SCALE_DOWN_DELAY_ANNOTATION`,
  and, for a canary whose size follows its weight, its replica count in
  `CANARY_REPLICAS_ANNOTATION` (`rollout.reconcilers.scaling`).

Pure; no I/O.
"""

from __future__ import annotations

import re

__all__ = [
    "ADOPTED_BY_LABEL",
    "ATTEMPT_ANNOTATION",
    "CANARY_REPLICAS_ANNOTATION",
    "CLUSTER_DOMAIN",
    "MANAGED_BY",
    "MANAGED_BY_LABEL",
    "ORIGINAL_REPLICAS_ANNOTATION",
    "REVISION_HEADER",
    "REVISION_LABEL",
    "ROUTING_STATE_LABEL",
    "ROUTING_STATE_MODIFIED_ANNOTATION",
    "SCALE_DOWN_DELAY_ANNOTATION",
    "SERVICE_LABEL",
    "SOURCE_DIR_ANNOTATION",
    "SPEC_HASH_ANNOTATION",
    "TAG_HEADER",
    "WORKLOAD_FINALIZER",
    "attempt_of",
    "release_name",
    "revision_name",
    "revision_number",
    "sticky_value",
]

SERVICE_LABEL = "rollout.dev/service"
REVISION_LABEL = "rollout.dev/revision"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "rollout"
ATTEMPT_ANNOTATION = "rollout.dev/attempt"
SPEC_HASH_ANNOTATION = "rollout.dev/spec-hash"  # what the controller last wrote (Kubernetes)
ROUTING_STATE_LABEL = "rollout.dev/routing-state"  # active | reserve
ROUTING_STATE_MODIFIED_ANNOTATION = "rollout.dev/routing-state-modified"  # RFC 3339
SCALE_DOWN_DELAY_ANNOTATION = "rollout.dev/scale-down-delay"  # a duration: 30s
CANARY_REPLICAS_ANNOTATION = "rollout.dev/canary-replicas"  # an integer
# A Deployment adopted by a Service's `workloadRef`: by which Service, and the replicas
# it had (restored when the Service goes); the Service's finalizer until it is restored.
ADOPTED_BY_LABEL = "rollout.dev/adopted-by"
ORIGINAL_REPLICAS_ANNOTATION = "rollout.dev/original-replicas"
WORKLOAD_FINALIZER = "rollout.dev/restore-workload"
# The directory of the file a Service was applied from (`rollout apply -f`, local state
# only), copied to its revisions: the local platform resolves relative paths there.
SOURCE_DIR_ANNOTATION = "local.rollout.dev/source-dir"
TAG_HEADER = "Rollout-Tag"
REVISION_HEADER = "Rollout-Revision"
CLUSTER_DOMAIN = "cluster.local"

_NUMBER = re.compile(r"-([0-9]{5,})$")


def revision_name(service: str, number: int) -> str:
    """`web`, 12 → `web-00012`."""
    return f"{service}-{number:05d}"


def revision_number(name: str | None) -> int:
    """The counter of a revision name (`web-00012` → 12); 0 when there is none."""
    match = _NUMBER.search(name or "")
    return int(match.group(1)) if match else 0


def release_name(canary: str, attempt: int) -> str:
    """`web-00002` for the first release of a canary, `web-00002-2` for a retry."""
    return canary if attempt == 1 else f"{canary}-{attempt}"


def sticky_value(canary: str, attempt: int) -> str:
    """The sticky-session cookie's value of a release: `web-00002-1`, `web-00002-2` for
    its retry — its canary and attempt, so that a cookie an earlier release gave never
    pins a later canary, nor a retried release's clients to the attempt rolled back."""
    return f"{canary}-{attempt}"


def attempt_of(annotations: dict[str, str]) -> int:
    """The attempt a release's annotations record (1 when they record none)."""
    try:
        return max(1, int(annotations.get(ATTEMPT_ANNOTATION, "1")))
    except ValueError:
        return 1
