"""Kubernetes-shaped object metadata shared by every resource.

`ObjectMeta` carries the fields users write (name, namespace, labels, annotations)
and the fields a store or the Kubernetes API server sets (uid, resourceVersion,
generation, timestamps, owner references, finalizers). The same model reads a
user's YAML and an object returned by the API server.

Pure data; no I/O.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from rollout.api import base

__all__ = ["ObjectMeta", "OwnerReference"]


class OwnerReference(base.ApiModel):
    """Points at the object that owns this one; deleting the owner deletes this."""

    api_version: str
    kind: str
    name: str
    uid: str
    controller: base.Bool | None = None
    block_owner_deletion: base.Bool | None = None


class ObjectMeta(base.ApiModel):
    """Name, namespace, labels and the bookkeeping a store adds."""

    name: base.Name
    namespace: base.Name | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    uid: str | None = None
    resource_version: str | None = None
    generation: base.Int | None = None
    creation_timestamp: datetime | None = None
    deletion_timestamp: datetime | None = None
    deletion_grace_period_seconds: base.Int | None = None
    owner_references: list[OwnerReference] = Field(default_factory=list)
    finalizers: list[str] = Field(default_factory=list)
    managed_fields: list[dict[str, Any]] | None = None
