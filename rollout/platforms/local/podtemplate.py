"""What the local platform runs from a revision's pod template, and what it cannot
honour.

`plan(rev, ...) -> Launch` (or `CannotRun`) and `ignored(spec)`; the runtime calls
both when it first ensures a revision.

Honoured — the first app container (`containers[0]`) runs as a process:
- `command` + `args` (the image is not run; a container with no command cannot run
  here: `NoCommand`), with Kubernetes' `$(NAME)` expansion from the container's
  environment (`PORT` included) at each start;
- `env` and `envFrom`, resolved as the kubelet would (`podenv`: literal values,
  `fieldRef`, `resourceFieldRef`, `secretKeyRef`/`configMapKeyRef` and `envFrom`
  from the state dir's files, `configfiles`); `PORT` is then set to the port the
  local platform picks (a template's own `PORT` is overridden), with
  `ROLLOUT_REVISION` and `ROLLOUT_SERVICE`;
- the working directory: `workingDir`, a relative one (and a relative command path)
  resolved against the directory of the file the Service was applied from (the
  `local.rollout.dev/source-dir` annotation `rollout apply -f` records, copied to
  each revision), else against the controller's working directory — which messages
  then say;
- `readinessProbe`: `httpGet` (`path`, `httpHeaders`) or `tcpSocket`, on the
  process's `PORT`, with its `initialDelaySeconds`, `periodSeconds`,
  `timeoutSeconds` and `failureThreshold`; no probe means GET / (`slots.Readiness`);
- `ports`: the serving port is `PORT` here (where `containerPort` says on Kubernetes);
- `metadata.labels` and `metadata.annotations`, through `fieldRef`;
- `restartPolicy: Always` and the pod fields whose value is what a local process has
  anyway (`hostNetwork`, `hostPID`, `hostIPC: true`; `automountServiceAccountToken`,
  `enableServiceLinks: false`).

Ignored — every other field that is set, reported once as the Revision's
`IgnoredOnLocal` condition (the field paths, in the template's order): pod fields
such as `volumes`, `nodeSelector`, `affinity`, `tolerations`, `securityContext`,
`imagePullSecrets`, `serviceAccountName` (no identity is given; `fieldRef` still
reads it); init, extra and ephemeral containers (`containers[1] (sidecar "name")`);
and of `containers[0]`: `image`, `imagePullPolicy`, `resources` (not enforced;
`resourceFieldRef` reads them), `volumeMounts`, `livenessProbe`, `startupProbe`,
`lifecycle`, `securityContext`, …, a readiness probe's `exec` or `grpc` (it is
then a TCP connect on `PORT`), its `scheme`, `host`, a `port` other than the serving
one, a `successThreshold` other than 1, and a port's `hostPort`, `hostIP` and a
protocol other than TCP.

Pure but for `plan`'s reads through `podenv.Sources`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from rollout.api import names, podspec, revision
from rollout.platforms.local import podenv, slots

__all__ = ["CannotRun", "Host", "Launch", "Workdir", "ignored", "plan", "workdir"]

# Pod fields whose value here is what a local process has anyway.
_POD_AS_LOCAL: dict[str, object] = {
    "hostNetwork": True,
    "hostPID": True,
    "hostIPC": True,
    "automountServiceAccountToken": False,
    "enableServiceLinks": False,
}
_CONTAINER_HONOURED = {"name", "command", "args", "env", "envFrom", "workingDir"}
_PROBE_TIMINGS = {"initialDelaySeconds", "periodSeconds", "timeoutSeconds", "failureThreshold"}
_CONTAINER_KINDS = {
    "initContainers": "init container",
    "ephemeralContainers": "ephemeral container",
}


class CannotRun(Exception):
    """The revision cannot be started here: `reason` (CamelCase) and why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclasses.dataclass(frozen=True)
class Host:
    """This machine as the pod's node: its name and capacity."""

    node_name: str
    capacity: podenv.Capacity


@dataclasses.dataclass(frozen=True)
class Workdir:
    """Where the process runs, and what a relative path there was resolved against."""

    path: Path
    origin: str

    def describe(self) -> str:
        return f"{self.path} ({self.origin})"


@dataclasses.dataclass(frozen=True)
class Launch:
    """What the runtime starts for a revision."""

    argv: tuple[str, ...]  # command + args as written: `$(NAME)` is expanded at each start
    env: Mapping[str, str]  # the container's environment, without PORT
    workdir: Workdir
    readiness: slots.Readiness


def plan(
    rev: revision.Revision, *, default_dir: Path, host: Host, sources: podenv.Sources
) -> Launch:
    """The first container as a process. Raises `CannotRun` (NoCommand, or
    CreateContainerConfigError from the environment)."""
    spec = rev.spec.template.spec
    container = podspec.app_containers(spec)[0]
    if not container.get("command"):
        raise CannotRun(
            "NoCommand",
            f"container {container.get('name')!r} has no command: the local platform runs a"
            " command (images are not run locally)",
        )
    try:
        env = podenv.resolve(
            container,
            pod=_pod(rev, host),
            containers=[c for _, c in podspec.all_containers(spec)],
            capacity=host.capacity,
            sources=sources,
        )
    except podenv.ConfigError as e:
        raise CannotRun(e.reason, f"container {container.get('name')!r}: {e.message}") from e
    return Launch(
        argv=(*(container.get("command") or []), *(container.get("args") or [])),
        env=env,
        workdir=workdir(rev, container, default_dir),
        readiness=slots.Readiness.of(container),
    )


def workdir(rev: revision.Revision, container: Mapping[str, Any], default_dir: Path) -> Workdir:
    """`workingDir` against the applied file's directory (else `default_dir`)."""
    source = rev.metadata.annotations.get(names.SOURCE_DIR_ANNOTATION)
    if source:
        base, origin = default_dir / source, "the directory of the applied file"
    else:
        base = default_dir
        origin = (
            "the controller's working directory: no source directory is recorded for this"
            f" revision ({names.SOURCE_DIR_ANNOTATION}, set by `rollout apply -f FILE`)"
        )
    working_dir = container.get("workingDir")
    if not working_dir:
        return Workdir(base, origin)
    if Path(working_dir).is_absolute():
        return Workdir(Path(working_dir), "workingDir")
    return Workdir(base / working_dir, f"workingDir under {origin}")


def ignored(spec: Mapping[str, Any]) -> tuple[str, ...]:
    """The field paths of the pod spec the local platform does not honour, in the
    template's order (see the module docstring)."""
    return tuple(_ignored(spec))


def _ignored(spec: Mapping[str, Any]) -> Iterator[str]:
    for field, value in spec.items():
        if _unset(value) or field == "restartPolicy":  # Always, the only value allowed
            continue
        if field in _POD_AS_LOCAL and value == _POD_AS_LOCAL[field]:
            continue
        if field == "containers":
            yield from _container((field, 0), value[0], podspec.serving_port(spec))
            for i, extra in enumerate(value[1:], start=1):
                yield f"containers[{i}] (sidecar {extra.get('name')!r})"
        elif field in _CONTAINER_KINDS:
            for i, c in enumerate(value):
                kind = _CONTAINER_KINDS[field]
                if field == "initContainers" and c.get("restartPolicy") == "Always":
                    kind = "native sidecar"
                yield f"{field}[{i}] ({kind} {c.get('name')!r})"
        else:
            yield field


def _container(loc: tuple[str, int], c: Mapping[str, Any], serving: int) -> Iterator[str]:
    here = f"{loc[0]}[{loc[1]}]"
    port_names = {p.get("name") for p in c.get("ports") or [] if p.get("containerPort") == serving}
    for field, value in c.items():
        if _unset(value) or field in _CONTAINER_HONOURED:
            continue
        if field == "readinessProbe":
            yield from (f"{here}.{field}.{p}" for p in _probe(value, serving, port_names))
        elif field == "ports":
            yield from (f"{here}.{field}{p}" for p in _ports(value))
        else:
            yield f"{here}.{field}"


def _probe(probe: Mapping[str, Any], serving: int, port_names: set[Any]) -> Iterator[str]:
    for field, value in probe.items():
        if _unset(value) or field in _PROBE_TIMINGS:
            continue
        if field == "successThreshold":
            if value != 1:
                yield field
        elif field in ("httpGet", "tcpSocket"):
            for part, setting in value.items():
                if _unset(setting) or (field == "httpGet" and part in ("path", "httpHeaders")):
                    continue
                if part == "port" and (setting == serving or setting in port_names):
                    continue
                if part == "scheme" and setting == "HTTP":
                    continue
                yield f"{field}.{part}"
        else:  # exec, grpc: a TCP connect on PORT instead
            yield f"{field} (probed as a TCP connect)"


def _ports(declared: Sequence[Mapping[str, Any]]) -> Iterator[str]:
    for i, port in enumerate(declared):
        for field, value in port.items():
            if _unset(value) or field in ("containerPort", "name"):
                continue
            if field == "protocol" and value == "TCP":
                continue
            yield f"[{i}].{field}"


def _unset(value: object) -> bool:
    return value is None or value == [] or value == {} or value == ""


def _pod(rev: revision.Revision, host: Host) -> podenv.Pod:
    """The pod the downward API describes: the template's metadata with the labels the
    platforms add (as on Kubernetes), this host as its node."""
    meta = rev.spec.template.metadata
    spec = rev.spec.template.spec
    labels = {
        **(meta.labels if meta else {}),
        names.SERVICE_LABEL: rev.spec.service,
        names.REVISION_LABEL: rev.metadata.name,
        names.MANAGED_BY_LABEL: names.MANAGED_BY,
    }
    return podenv.Pod(
        name=podenv.pod_name(rev.metadata.name),
        namespace=rev.metadata.namespace or "default",
        uid=rev.metadata.uid or "",
        labels=labels,
        annotations=dict(meta.annotations) if meta else {},
        service_account=spec.get("serviceAccountName") or spec.get("serviceAccount") or "default",
        node_name=host.node_name,
    )
