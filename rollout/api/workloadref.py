"""`spec.workloadRef`: a Service that adopts an existing Deployment (Argo Rollouts'
`workloadRef`, Flagger's `targetRef`).

Instead of writing `spec.template`, a Service names a Deployment in its namespace;
its revisions are made from that Deployment's pod template (what `kubectl set image`
or a Helm upgrade changes), and its replicas are the default scaling. `scaleDown`
says what happens to the original once the first revision serves:

- `never`: it is left running, never touched;
- `onsuccess` (default): scaled to 0 once the first revision is ready and carries
  all of the route's traffic;
- `progressively`: scaled down as the first revision's pods become ready (original
  − ready pods of the revision), to 0 at the same point as `onsuccess`.

The original replica count is recorded on the Deployment
(`names.ORIGINAL_REPLICAS_ANNOTATION`) and restored when the Service is deleted.
A Kubernetes feature: the local platform refuses it with a condition.

Pure data; no I/O.
"""

from __future__ import annotations

from typing import Literal

from rollout.api import base

__all__ = ["SCALE_DOWN_MODES", "ScaleDown", "WorkloadRef"]

ScaleDown = Literal["never", "onsuccess", "progressively"]
SCALE_DOWN_MODES: tuple[ScaleDown, ...] = ("never", "onsuccess", "progressively")


class WorkloadRef(base.ApiModel):
    """The Deployment whose pod template the Service's revisions are made from."""

    api_version: Literal["apps/v1"] = "apps/v1"
    """The Deployment's API version: apps/v1."""
    kind: Literal["Deployment"] = "Deployment"
    """The kind of the workload: Deployment."""
    name: base.Subdomain
    """The name of the Deployment, in the Service's namespace."""
    scale_down: ScaleDown = "onsuccess"
    """What happens to the original Deployment once the first revision serves: never (left
    running), onsuccess (scaled to 0 once the revision carries all traffic; the default) or
    progressively (scaled down as the revision's pods become ready)."""
