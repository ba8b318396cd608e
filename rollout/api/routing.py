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
    namespace: base.Name | None = None
    section_name: base.Name | None = None
    group: str = "gateway.networking.k8s.io"
    kind: str = "Gateway"


class Routing(base.ApiModel):
    router: Router | None = None
    parent_refs: list[ParentRef] = Field(default_factory=list)
    hostnames: list[str] = Field(default_factory=list)
    hosts: list[str] = Field(default_factory=list)
    gateways: list[str] = Field(default_factory=list)
