"""What the controller may do on a cluster: the rules of its ClusterRole, as data.

`RULES` is the single source of the `rollout-controller` ClusterRole: `manifests`
renders it into `deploy/rbac.yaml` and `rollout install --print` (a test checks both
against it), and a test compares it with the API calls the Kubernetes adapter
actually makes (against the API emulator, with the adapter), so that a call without a
grant (a 403 in production) or a grant without a call (needless power) fails the
build. Each adapter module declares what it calls (`USES`); the rules are their union.

Pure data; no I/O. Called by `manifests` and by tests.
"""

from __future__ import annotations

__all__ = ["CRUD", "RULES", "STATUS", "WORKLOAD", "Rule", "grants", "policy_rules"]

Rule = tuple[str, str, tuple[str, ...]]  # (apiGroup, resource, verbs); "" is the core group

CRUD = ("get", "list", "watch", "create", "update", "patch", "delete")
STATUS = ("get", "update", "patch")
WORKLOAD = ("get", "create", "patch", "delete")  # read, make, converge by merge patch, remove

RULES: tuple[Rule, ...] = (
    # our resources: the controller reads them all, makes revisions, routes and
    # releases, deletes old revisions, moves a route's split, and writes status
    ("rollout.dev", "services", ("get", "list", "watch")),
    ("rollout.dev", "revisions", ("get", "list", "watch", "create", "delete")),
    ("rollout.dev", "routes", ("get", "list", "watch", "create", "update")),
    ("rollout.dev", "releases", ("get", "list", "watch", "create")),
    ("rollout.dev", "rolloutpolicies", ("get", "list", "watch")),
    *(
        ("rollout.dev", f"{resource}/status", ("update",))
        for resource in ("services", "revisions", "routes", "releases")
    ),
    # what a revision runs as, and what a route splits traffic with
    ("apps", "deployments", WORKLOAD),
    ("", "services", WORKLOAD),
    ("autoscaling", "horizontalpodautoscalers", WORKLOAD),
    ("gateway.networking.k8s.io", "httproutes", WORKLOAD),
    ("networking.istio.io", "virtualservices", WORKLOAD),
    # leader election and events
    ("coordination.k8s.io", "leases", ("get", "create", "update")),
    ("", "events", ("create",)),
)


def grants(rules: tuple[Rule, ...] = RULES) -> frozenset[tuple[str, str, str]]:
    """Every (apiGroup, resource, verb) the rules allow."""
    return frozenset((group, resource, verb) for group, resource, verbs in rules for verb in verbs)


def policy_rules(rules: tuple[Rule, ...] = RULES) -> list[dict[str, list[str]]]:
    """The ClusterRole's `rules`: resources of one group with the same verbs share a rule,
    in the order they first appear."""
    merged: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for group, resource, verbs in rules:
        merged.setdefault((group, verbs), []).append(resource)
    return [
        {"apiGroups": [group], "resources": resources, "verbs": list(verbs)}
        for (group, verbs), resources in merged.items()
    ]
