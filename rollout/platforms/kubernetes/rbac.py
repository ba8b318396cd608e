"""What the controller may do on a cluster, and where: its RBAC rules, as data.

The rules come in three scopes, because least privilege is also about *where*:

- `NAMESPACED` — our resources, what a revision runs as, what a route splits
  traffic with, Events: granted in every namespace the controller serves. Cluster-wide
  (a ClusterRole and a ClusterRoleBinding) by default; with
  `rollout install --watch-namespaces a,b` a Role and a RoleBinding in each listed
  namespace instead, and nothing cluster-wide at all.
- `LEADER` — the leader-election Lease: a Role and RoleBinding in the controller's
  own namespace only (the Lease lives there: `$POD_NAMESPACE`), in both modes.
- `SECRETS` — `get` on Secrets, for metric providers' `secretKeyRef` credentials:
  granted only for the Secrets named at install (`--secret-names`, RBAC
  `resourceNames`), in the same namespaces as `NAMESPACED`; by default not at all.

`RULES` (their union) is everything the code may call: a test compares it with what
the adapters declare they call (`USES` in each module), so that a call without a
grant (a 403 in production) or a grant without a call (needless power) fails the
build, and the end-to-end tests run the controller under the rendered RBAC objects
(the API emulator enforces them) and check each request it makes.

Pure data; no I/O. Called by `manifests` and by tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "CRUD",
    "LEADER",
    "NAMESPACED",
    "RULES",
    "SECRETS",
    "STATUS",
    "WORKLOAD",
    "Rule",
    "grants",
    "policy_rules",
    "secret_rules",
]

Rule = tuple[str, str, tuple[str, ...]]  # (apiGroup, resource, verbs); "" is the core group

CRUD = ("get", "list", "watch", "create", "update", "patch", "delete")
STATUS = ("get", "update", "patch")
WORKLOAD = ("get", "create", "patch", "delete")  # read, make, converge by merge patch, remove

NAMESPACED: tuple[Rule, ...] = (
    # our resources: the controller reads them all, makes revisions, routes and
    # releases, marks revisions' routing state (their metadata), deletes old
    # revisions, moves a route's split, and writes status; it updates a Service only
    # for its finalizer (spec.workloadRef)
    ("rollout.dev", "services", ("get", "list", "watch", "update")),
    ("rollout.dev", "revisions", ("get", "list", "watch", "create", "update", "delete")),
    ("rollout.dev", "routes", ("get", "list", "watch", "create", "update")),
    ("rollout.dev", "releases", ("get", "list", "watch", "create")),
    ("rollout.dev", "rolloutpolicies", ("get", "list", "watch")),
    *(
        ("rollout.dev", f"{resource}/status", ("update",))
        for resource in ("services", "revisions", "routes", "releases")
    ),
    # not calls: what we create is owned by a Service, Revision or Route with
    # blockOwnerDeletion, which the OwnerReferencesPermissionEnforcement admission
    # plugin (OpenShift's default) allows only with update on the owner's finalizers
    *(
        ("rollout.dev", f"{resource}/finalizers", ("update",))
        for resource in ("services", "revisions", "routes")
    ),
    # what a revision runs as, and what a route splits traffic with; Deployments
    # also listed and watched (selected by label): ours, whose status wakes their
    # revision (`runtime`), and those a Service's workloadRef adopted, whose
    # replicas and adoption record are patched (`adopter`)
    ("apps", "deployments", ("get", "list", "watch", "create", "patch", "delete")),
    ("", "services", WORKLOAD),
    ("autoscaling", "horizontalpodautoscalers", WORKLOAD),
    ("gateway.networking.k8s.io", "httproutes", WORKLOAD),
    ("networking.istio.io", "virtualservices", WORKLOAD),
    # what happened, next to the objects it happened to
    ("", "events", ("create",)),
)
LEADER: tuple[Rule, ...] = (("coordination.k8s.io", "leases", ("get", "create", "update")),)
SECRETS: Rule = ("", "secrets", ("get",))  # only with resourceNames: see secret_rules

RULES: tuple[Rule, ...] = (*NAMESPACED, *LEADER, SECRETS)


def grants(rules: tuple[Rule, ...] = RULES) -> frozenset[tuple[str, str, str]]:
    """Every (apiGroup, resource, verb) the rules allow."""
    return frozenset((group, resource, verb) for group, resource, verbs in rules for verb in verbs)


def policy_rules(rules: tuple[Rule, ...] = RULES) -> list[dict[str, Any]]:
    """A Role's or ClusterRole's `rules`: resources of one group with the same verbs
    share a rule, in the order they first appear."""
    merged: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for group, resource, verbs in rules:
        merged.setdefault((group, verbs), []).append(resource)
    return [
        {"apiGroups": [group], "resources": resources, "verbs": list(verbs)}
        for (group, verbs), resources in merged.items()
    ]


def secret_rules(names: Sequence[str]) -> list[dict[str, Any]]:
    """`get` on exactly the Secrets `names` (none: no rule, no access to Secrets).

    `resourceNames` can narrow `get` (the reader fetches one Secret by name); it could
    not narrow `list` or `watch`, which the reader never does."""
    if not names:
        return []
    group, resource, verbs = SECRETS
    return [
        {
            "apiGroups": [group],
            "resources": [resource],
            "resourceNames": sorted(set(names)),
            "verbs": list(verbs),
        }
    ]
