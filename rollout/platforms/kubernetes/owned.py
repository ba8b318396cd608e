"""What every object we write shares: its metadata (name, namespace, labels, the
controller owner reference to the Revision or Route it belongs to, so the garbage
collector removes it with its owner), the shape of a ClusterIP v1 Service on port 80,
and a Service's cluster DNS name; plus the lenient integer reader the read-backs use
on stored objects.

The owner references carry `blockOwnerDeletion: true` (a foreground deletion of a
Revision or Route waits for what it owns), which under the
OwnerReferencesPermissionEnforcement admission plugin (on by default in OpenShift)
needs `update` on the owner's `finalizers` subresource: `USES` declares it for the
RBAC rules (docs/decisions.md, "Deletion").

Pure; no I/O, no client import. Called by `workloads`, `traffic` and the router
modules (`gateway_api`, `istio`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rollout.api import kinds, names

__all__ = [
    "SERVICE_PORT",
    "USES",
    "Obj",
    "count",
    "metadata",
    "namespace_of",
    "service",
    "service_host",
]

# Not calls: what admission asks of a write whose owner reference blocks the owner's
# deletion (see store.USES for the rules these feed).
USES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (kinds.GROUP, "revisions/finalizers", ("update",)),  # Deployments, Services, HPAs
    (kinds.GROUP, "routes/finalizers", ("update",)),  # the route's Service, HTTPRoute, VS
)

Obj = dict[str, Any]

SERVICE_PORT = 80  # every Service we write listens here (→ the serving port of the pods)


def service_host(name: str, namespace: str, cluster_domain: str = names.CLUSTER_DOMAIN) -> str:
    """The cluster DNS name of a v1 Service: `<name>.<namespace>.svc.<domain>`."""
    return f"{name}.{namespace}.svc.{cluster_domain}"


def namespace_of(obj: kinds.Resource) -> str:
    return obj.metadata.namespace or "default"


def _owner(obj: kinds.Resource) -> Obj:
    if not obj.metadata.uid:
        raise ValueError(f"{obj.kind} {obj.metadata.name!r} has no uid: owners must be stored")
    return {
        "apiVersion": obj.api_version,
        "kind": obj.kind,
        "name": obj.metadata.name,
        "uid": obj.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def metadata(name: str, owner: kinds.Resource, labels: Mapping[str, str]) -> Obj:
    """Metadata of an object named `name`, in `owner`'s namespace, owned by it.

    Raises ValueError when `owner` has no uid (only stored objects own)."""
    return {
        "name": name,
        "namespace": namespace_of(owner),
        "labels": dict(labels),
        "ownerReferences": [_owner(owner)],
    }


def service(
    name: str,
    owner: kinds.Resource,
    labels: Mapping[str, str],
    *,
    selector: Mapping[str, str],
    target_port: int,
) -> Obj:
    """A ClusterIP v1 Service: port 80 → `target_port` on the pods `selector` picks."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(name, owner, labels),
        "spec": {
            "type": "ClusterIP",
            "selector": dict(selector),
            "ports": [
                {"name": "http", "port": SERVICE_PORT, "targetPort": target_port, "protocol": "TCP"}
            ],
        },
    }


def count(value: object, default: int = 0) -> int:
    """An integer field of a stored object; `default` when absent or not an integer."""
    return value if isinstance(value, int) and not isinstance(value, bool) else default
