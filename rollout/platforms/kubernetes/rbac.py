"""What the controller may do on a cluster: the rules of its ClusterRole, as data.

`RULES` is the single source of the `rollout-controller` ClusterRole: `manifests`
renders it into `deploy/rbac.yaml` and `rollout install --print` (a test checks both
against it), and a test compares it with the API calls the Kubernetes adapter
actually makes (against the API emulator, with the adapter), so that a call without a
grant (a 403 in production) or a grant without a call (needless power) fails the
build. It starts generous while the adapter is written, and is trimmed to what the
adapter calls.

Pure data; no I/O. Called by `manifests` and by tests.
"""

from __future__ import annotations

__all__ = ["CRUD", "RULES", "STATUS", "Rule", "grants", "policy_rules"]

Rule = tuple[str, str, tuple[str, ...]]  # (apiGroup, resource, verbs); "" is the core group

CRUD = ("get", "list", "watch", "create", "update", "patch", "delete")
STATUS = ("get", "update", "patch")

RULES: tuple[Rule, ...] = (
    # our resources, and their status subresources (the reconcilers write status)
    *(
        ("rollout.dev", resource, CRUD)
        for resource in ("services", "revisions", "routes", "releases", "rolloutpolicies")
    ),
    *(
        ("rollout.dev", f"{resource}/status", STATUS)
        for resource in ("services", "revisions", "routes", "releases")
    ),
    # what a revision runs as
    ("apps", "deployments", CRUD),
    ("", "services", CRUD),
    ("autoscaling", "horizontalpodautoscalers", CRUD),
    # what a route splits traffic with
    ("gateway.networking.k8s.io", "httproutes", CRUD),
    ("networking.istio.io", "virtualservices", CRUD),
    # leader election and events
    ("coordination.k8s.io", "leases", ("get", "create", "update")),
    ("", "events", ("create", "patch")),
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
