"""The workload template of a Service, frozen into each Revision.

Kubernetes-shaped containers (image, command, args, env, ports, readiness probe,
resources) plus `scaling`. On the local platform a container runs its `command`
and the image is ignored; on Kubernetes the template becomes a pod template.

Text that reaches a process or a protocol is checked here, so that a template that
validates also starts: `command`, `args` and env values may hold any text but NUL
(execve cannot pass it; line breaks are data, as in Kubernetes — `sh -c` scripts);
env names are `[A-Za-z_][A-Za-z0-9_.-]*` (no `=`, no line break); `workingDir` has no
line break or NUL; a readiness probe's `httpGet.path` starts with `/` and has no
space or control character (it is written into the request line); an image
reference has neither. Each string is at most `MAX_ARG_BYTES` (128 KiB, Linux's limit
on one argument or environment string). Counts are 32-bit, as in Kubernetes.

Pure data and rules; no I/O.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from rollout.api import base, meta, problems

__all__ = [
    "MAX_ARG_BYTES",
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

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
MAX_ARG_BYTES = 128 * 1024  # Linux's MAX_ARG_STRLEN: execve refuses a longer string


def _check_env_name(value: str) -> str:
    # fullmatch: `$` would also match before a final line feed ("NAME\n").
    if not _ENV_NAME.fullmatch(value):
        raise PydanticCustomError(
            "env_name",
            "{value} is not a valid environment variable name (letters, digits, '_', '.'"
            " and '-', not starting with a digit; no '=')",
            {"value": repr(value)},
        )
    return value


def _check_probe_path(value: str) -> str:
    if not value.startswith("/"):
        raise PydanticCustomError(
            "probe_path", "must start with '/' (got {value})", {"value": repr(value)}
        )
    return value


# What execve can carry: anything but NUL, at most MAX_ARG_BYTES.
ProcessText = Annotated[str, base.checked_text(base.NUL, max_bytes=MAX_ARG_BYTES)]


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
    value: ProcessText = ""


class ContainerPort(base.ApiModel):
    container_port: base.Port
    name: base.Name | None = None
    protocol: Literal["TCP"] = "TCP"


class HTTPGetAction(base.ApiModel):
    path: Annotated[
        str,
        base.checked_text(base.CONTROLS + " ", max_bytes=8192),
        AfterValidator(_check_probe_path),
    ] = "/"
    port: base.Port | None = None


class Probe(base.ApiModel):
    """Readiness by HTTP GET, with the Kubernetes timing fields."""

    http_get: HTTPGetAction = Field(default_factory=HTTPGetAction)
    initial_delay_seconds: base.Count = 0
    period_seconds: base.PositiveCount = 1
    timeout_seconds: base.PositiveCount = 1
    failure_threshold: base.PositiveCount = 3


class ResourceRequirements(base.ApiModel):
    requests: dict[str, Quantity] = Field(default_factory=dict)
    limits: dict[str, Quantity] = Field(default_factory=dict)


class Container(base.ApiModel):
    name: base.Name = "app"
    image: Annotated[str, base.checked_text(base.CONTROLS + " ")] | None = None
    command: list[ProcessText] | None = None
    args: list[ProcessText] | None = None
    working_dir: Annotated[str, base.checked_text(base.LINE_BREAKS)] | None = None
    env: list[EnvVar] = Field(default_factory=list)
    ports: list[ContainerPort] = Field(default_factory=list)
    readiness_probe: Probe | None = None
    resources: ResourceRequirements | None = None


class Scaling(base.ApiModel):
    """Replica bounds; on Kubernetes a HorizontalPodAutoscaler when max > min."""

    min_replicas: base.PositiveCount = 1
    max_replicas: base.PositiveCount | None = None
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
    labels: meta.Labels = Field(default_factory=dict)
    annotations: meta.Annotations = Field(default_factory=dict)


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
