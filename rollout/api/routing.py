"""Routing: how a service's traffic is split on Kubernetes.

`router` picks the data plane for one service — `gateway-api` (an HTTPRoute with
weighted backendRefs) or `istio` (a VirtualService with weighted destinations); left
out, the controller's cluster default applies (`rollout controller --router`). The
other fields are handed to that router: `parentRefs` and `hostnames` for Gateway API,
`hosts` and `gateways` for Istio. The local platform ignores this block (its proxy
splits traffic).

Pure data; no I/O.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rollout.api import base

__all__ = ["ROUTERS", "ParentRef", "Router", "Routing"]

Router = Literal["gateway-api", "istio"]
ROUTERS: tuple[Router, ...] = ("gateway-api", "istio")


class ParentRef(base.ApiModel):
    """A Gateway API parent (usually a Gateway) the HTTPRoute attaches to."""

    name: base.Name
    """The name of the parent (usually a Gateway)."""
    namespace: base.Name | None = None
    """The parent's namespace (default: the route's)."""
    section_name: base.Name | None = None
    """A listener of the parent to attach to (default: all of them)."""
    group: str = "gateway.networking.k8s.io"
    """The API group of the parent."""
    kind: str = "Gateway"
    """The kind of the parent."""


class Routing(base.ApiModel):
    router: Router | None = None
    """The data plane that splits traffic: gateway-api (an HTTPRoute) or istio (a VirtualService).
    Left out, the controller's --router default applies."""
    parent_refs: list[ParentRef] = Field(default_factory=list)
    """Gateway API: the parents (Gateways) the HTTPRoute attaches to."""
    hostnames: list[str] = Field(default_factory=list)
    """Gateway API: the hostnames the HTTPRoute matches."""
    hosts: list[str] = Field(default_factory=list)
    """Istio: the hosts of the VirtualService (default: the service's cluster host name)."""
    gateways: list[str] = Field(default_factory=list)
    """Istio: the gateways the VirtualService applies to (default: the mesh)."""
