"""The workload of a Service, frozen into each Revision: a pod template and scaling.

`template` is a Kubernetes `PodTemplateSpec` — `metadata` (labels, annotations) and
`spec`, the whole core/v1 `PodSpec`, checked offline by `podspec.check` (the schema
of Kubernetes 1.32 and the API server's own rules). On Kubernetes it becomes the
Deployment's pod template as written; on the local platform the first container's
`command` runs (images are not run locally), so each app container needs an image
or a command. The old flattened shape (`template.containers`) gets one error that
says where the containers go now.

`Scaling` (replica bounds, an HPA target) sits next to the template in the Service.

Pure data and rules; no I/O.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, ValidationInfo, WithJsonSchema, model_validator

from rollout.api import base, meta, podspec, problems

__all__ = ["PodTemplate", "Scaling", "TemplateMeta"]

#: The template's spec: a Kubernetes pod spec, as a plain dict (checked by `podspec`). Its
#: JSON schema names the Kubernetes definition; the CRDs put its structural schema there.
PodSpecField = Annotated[
    dict[str, Any],
    WithJsonSchema(
        {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
            "x-rollout-kubernetes-definition": podspec.POD_SPEC,
        }
    ),
]

_MOVED = {
    "containers": "move `template.containers` under `template.spec` (a Kubernetes pod"
    " template: template: {metadata: …, spec: {containers: […]}})",
    "scaling": "move `template.scaling` to the Service's `spec.scaling` (next to the template)",
}


class Scaling(base.ApiModel):
    """Replica bounds; on Kubernetes a HorizontalPodAutoscaler when max > min."""

    min_replicas: base.PositiveCount = 1
    """The fewest replicas a revision runs while it serves."""
    max_replicas: base.PositiveCount | None = None
    """The most replicas; above minReplicas, a HorizontalPodAutoscaler scales between the two
    (Kubernetes)."""
    target_cpu_utilization_percentage: base.Percent | None = None
    """The average CPU use, in percent of the request, the HorizontalPodAutoscaler aims for."""

    @model_validator(mode="after")
    def _rules(self) -> Scaling:
        found = []
        if self.max_replicas is not None and self.max_replicas < self.min_replicas:
            found.append(
                problems.Problem(
                    ("maxReplicas",),
                    f"must be at least minReplicas ({self.min_replicas})",
                )
            )
        problems.raise_problems("Scaling", found)
        return self


class TemplateMeta(base.ApiModel):
    labels: meta.Labels = Field(default_factory=dict)
    """Labels added to the pods."""
    annotations: meta.Annotations = Field(default_factory=dict)
    """Annotations added to the pods."""


class PodTemplate(base.ApiModel):
    """What runs: a Kubernetes pod template. A change to it makes a new Revision."""

    metadata: TemplateMeta | None = None
    """Labels and annotations of the pods."""
    spec: PodSpecField
    """The pods' spec: a Kubernetes PodSpec."""

    @model_validator(mode="before")
    @classmethod
    def _old_shape(cls, data: Any) -> Any:
        """The fields of the old flattened template, each with where it goes now."""
        if isinstance(data, dict):
            moved = [problems.Problem((k,), why) for k, why in _MOVED.items() if k in data]
            problems.raise_problems("PodTemplate", moved)
        return data

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> PodTemplate:
        if isinstance(info.context, dict) and info.context.get(base.STORED):
            return self  # checked when it was written (`base.STORED`)
        problems.raise_problems("PodTemplate", template_problems(self))
        return self


def template_problems(template: PodTemplate) -> list[problems.Problem]:
    """The pod spec's problems, then: each app container has an image or a command."""
    found = [problems.Problem(("spec", *p.loc), p.message) for p in podspec.check(template.spec)]
    if found:
        return found
    for i, container in enumerate(podspec.app_containers(template.spec)):
        if not container.get("image") and not container.get("command"):
            found.append(
                problems.Problem(
                    ("spec", "containers", i),
                    "a container needs an image (Kubernetes) or a command (local platform)",
                )
            )
    return found
