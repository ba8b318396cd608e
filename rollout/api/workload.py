"""The workload template of a Service, frozen into each Revision.

Kubernetes-shaped containers (image, command, args, env, ports, readiness probe,
resources) plus `scaling`. On the local platform a container runs its `command`
and the image is ignored; on Kubernetes the template becomes a pod template.

Pure data and rules; no I/O.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from rollout.api import base, problems

__all__ = [
    "Container",
    "ContainerPort",
    "EnvVar",
    "HTTPGetAction",
    "Probe",
    "ResourceRequirements",
    "Scaling",
    "TemplateMeta",
    "WorkloadTemplate",
]

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def _check_env_name(value: str) -> str:
    if not _ENV_NAME.match(value):
        raise PydanticCustomError(
            "env_name", "{value} is not a valid environment variable name", {"value": repr(value)}
        )
    return value


def _quantity(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise PydanticCustomError(
            "quantity", "must be a quantity such as 500m, 2, 256Mi or 1Gi (a string or integer)"
        )
    return str(value)


Quantity = Annotated[
    str,
    BeforeValidator(_quantity),
    WithJsonSchema({"x-kubernetes-int-or-string": True}),
]


class EnvVar(base.ApiModel):
    name: Annotated[str, AfterValidator(_check_env_name)]
    value: str = ""


class ContainerPort(base.ApiModel):
    container_port: base.Port
    name: base.Name | None = None
    protocol: Literal["TCP"] = "TCP"


class HTTPGetAction(base.ApiModel):
    path: str = "/"
    port: base.Port | None = None


class Probe(base.ApiModel):
    """Readiness by HTTP GET, with the Kubernetes timing fields."""

    http_get: HTTPGetAction = Field(default_factory=HTTPGetAction)
    initial_delay_seconds: base.NonNegativeInt = 0
    period_seconds: base.PositiveInt = 1
    timeout_seconds: base.PositiveInt = 1
    failure_threshold: base.PositiveInt = 3


class ResourceRequirements(base.ApiModel):
    requests: dict[str, Quantity] = Field(default_factory=dict)
    limits: dict[str, Quantity] = Field(default_factory=dict)


class Container(base.ApiModel):
    name: base.Name = "app"
    image: str | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    working_dir: str | None = None
    env: list[EnvVar] = Field(default_factory=list)
    ports: list[ContainerPort] = Field(default_factory=list)
    readiness_probe: Probe | None = None
    resources: ResourceRequirements | None = None


class Scaling(base.ApiModel):
    """Replica bounds; on Kubernetes a HorizontalPodAutoscaler when max > min."""

    min_replicas: base.PositiveInt = 1
    max_replicas: base.PositiveInt | None = None
    target_cpu_utilization_percentage: base.Percent | None = None

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
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class WorkloadTemplate(base.ApiModel):
    """What runs: containers and scaling. A change to it makes a new Revision."""

    metadata: TemplateMeta | None = None
    containers: list[Container]
    scaling: Scaling | None = None

    @model_validator(mode="after")
    def _rules(self) -> WorkloadTemplate:
        problems.raise_problems("WorkloadTemplate", template_problems(self))
        return self


def template_problems(template: WorkloadTemplate) -> list[problems.Problem]:
    """At least one container; each has an image or a command; names are unique."""
    if not template.containers:
        return [problems.Problem(("containers",), "at least one container is required")]
    found = []
    seen: set[str] = set()
    for i, container in enumerate(template.containers):
        if not container.image and not container.command:
            found.append(
                problems.Problem(
                    ("containers", i),
                    "a container needs an image (Kubernetes) or a command (local platform)",
                )
            )
        if container.name in seen:
            found.append(
                problems.Problem(
                    ("containers", i, "name"), f"duplicate container name {container.name!r}"
                )
            )
        seen.add(container.name)
    return found
