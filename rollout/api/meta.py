"""Kubernetes-shaped object metadata shared by every resource.

`ObjectMeta` carries the fields users write (name, namespace, labels, annotations)
and the fields a store or the Kubernetes API server sets (uid, resourceVersion,
generation, timestamps, owner references, finalizers). The same model reads a
user's YAML and an object returned by the API server.

Labels and annotations follow the Kubernetes rules, because on the kubernetes
platform they reach the API server (a Service's own, and a template's on every pod):
keys are qualified names (`[prefix/]name`, the prefix a DNS subdomain), label values
at most 63 characters of `[-A-Za-z0-9_.]` starting and ending alphanumeric, and
annotations at most 256 KiB in total. A key or value that breaks them is refused
here, not by the API server at every reconcile.

Pure data; no I/O.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from rollout.api import base, problems

__all__ = ["MAX_ANNOTATIONS_BYTES", "Annotations", "Labels", "ObjectMeta", "OwnerReference"]

MAX_ANNOTATIONS_BYTES = 256 * 1024  # Kubernetes' TotalAnnotationSizeLimitB
_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_KEY_HELP = (
    "a key is a name of at most 63 letters, digits, '-', '_' or '.' starting and ending"
    " with a letter or digit, optionally after a DNS subdomain prefix and '/'"
    " (app.kubernetes.io/name)"
)


def _key_problem(key: str) -> str | None:
    prefix, slash, name = key.rpartition("/")
    if slash and (len(prefix) > 253 or not base.DNS1123_SUBDOMAIN.fullmatch(prefix)):
        return f"{key!r} is not a valid key: the prefix must be a DNS subdomain; {_KEY_HELP}"
    if len(name) > 63 or not _NAME.fullmatch(name):
        return f"{key!r} is not a valid key: {_KEY_HELP}"
    return None


def _check_labels(labels: dict[str, str]) -> dict[str, str]:
    found = []
    for key, value in labels.items():
        message = _key_problem(key)
        if message is None and value and (len(value) > 63 or not _NAME.fullmatch(value)):
            message = (
                f"{value!r} is not a valid label value: at most 63 letters, digits, '-', '_'"
                " or '.', starting and ending with a letter or digit (or empty)"
            )
        if message is not None:
            found.append(problems.Problem((key,), message))
    problems.raise_problems("labels", found)
    return labels


def _check_annotations(annotations: dict[str, str]) -> dict[str, str]:
    found = []
    total = 0
    for key, value in annotations.items():
        message = _key_problem(key)
        if message is not None:
            found.append(problems.Problem((key,), message))
        total += base.utf8_size(key) + base.utf8_size(value)
    if total > MAX_ANNOTATIONS_BYTES:
        message = "all together " + base.too_large(total, MAX_ANNOTATIONS_BYTES)
        found.append(problems.Problem((), message))
    problems.raise_problems("annotations", found)
    return annotations


Labels = Annotated[dict[str, str], AfterValidator(_check_labels)]
Annotations = Annotated[dict[str, str], AfterValidator(_check_annotations)]


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
    labels: Labels = Field(default_factory=dict)
    annotations: Annotations = Field(default_factory=dict)
    uid: str | None = None
    resource_version: str | None = None
    generation: base.Int | None = None
    creation_timestamp: datetime | None = None
    deletion_timestamp: datetime | None = None
    deletion_grace_period_seconds: base.Int | None = None
    owner_references: list[OwnerReference] = Field(default_factory=list)
    finalizers: list[str] = Field(default_factory=list)
    managed_fields: list[dict[str, Any]] | None = None
