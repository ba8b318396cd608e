"""Where each kind of object we call lives on the API server: group, version, plural,
and the URL paths built from them.

`rest.Resources` takes a `Ref` for every call; each adapter names the kinds it
touches here or in its own module (a router module declares its route kind's `REF`,
the store builds the Ref of each of our CRDs). Pure; no client import.
"""

from __future__ import annotations

import dataclasses

__all__ = ["DEPLOYMENTS", "EVENTS", "HPAS", "LEASES", "SECRETS", "SERVICES", "Ref"]


@dataclasses.dataclass(frozen=True)
class Ref:
    """Where a kind of object lives on the API server."""

    group: str  # "" for the core group
    version: str
    plural: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None, name: str | None = None, sub: str = "") -> str:
        """`…/namespaces/<namespace>/<plural>[/<name>[/<sub>]]`; namespace None: the
        collection across every namespace."""
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        path = f"{root}/{self.plural}"
        if namespace is not None:
            path = f"{root}/namespaces/{namespace}/{self.plural}"
        if name is not None:
            path = f"{path}/{name}"
        return f"{path}/{sub}" if sub else path


DEPLOYMENTS = Ref("apps", "v1", "deployments")
SERVICES = Ref("", "v1", "services")
HPAS = Ref("autoscaling", "v2", "horizontalpodautoscalers")
LEASES = Ref("coordination.k8s.io", "v1", "leases")
EVENTS = Ref("", "v1", "events")
SECRETS = Ref("", "v1", "secrets")
