"""The Service reconciler's decisions about an adopted Deployment (`spec.workloadRef`):
the template and scaling its revisions are made from, how many replicas the original
keeps, and what giving it back on deletion takes.

- `resolve`: the Deployment's pod template (as the platform read it: without the
  Deployment controller's `pod-template-hash`) becomes the revision template; its
  replicas — the count recorded at adoption, so that scaling the original down does
  not change the revisions — are the scaling when `spec.scaling` is absent (at least
  1: a Deployment adopted at 0 replicas gives revisions of 1).
- `original_target`: the replicas the original should run now, per `scaleDown`
  (None: leave it as it is):
  - `never`: None, always;
  - `onsuccess`: 0 once the first revision serves — the Service has a stable
    revision and the Route's applied split (its status) carries 100% —, until then
    None (it keeps its own replicas);
  - `progressively`: 0 once the first revision serves; before, the recorded count
    minus the ready replicas of the newest revision (never below 0), so that the
    pods behind the user's own Kubernetes Service stay about as many as before.
  Once served, the stable revision keeps being set and the split applied, so the
  answer stays 0: a Helm upgrade that resets `replicas` is scaled down again.
- `restore_steps`: on deletion (or when the Service stops naming a Deployment it
  adopted), each adopted Deployment is scaled back up to its recorded count (never
  down: one scaled up by hand since, e.g. under `never`, keeps its count) and given
  back (its record removed) once it has that many available replicas — or at once
  when `waited_enough` (the Service's progressDeadline since deletion passed) —
  so the user's Service has pods before the revisions go.

No I/O, no clock. Table-tested in tests/unit/reconcilers/test_service_adoption.py;
called by `reconcile`.
"""

from __future__ import annotations

import dataclasses

import pydantic

from rollout.api import route, workload, workloadref
from rollout.platforms import ports

__all__ = [
    "Resolved",
    "Restore",
    "original_replicas",
    "original_target",
    "resolve",
    "restore_steps",
    "serving",
]


@dataclasses.dataclass(frozen=True)
class Resolved:
    """What the revisions of an adopting Service are made from; or why it cannot be."""

    template: workload.PodTemplate | None
    scaling: workload.Scaling | None
    problem: str = ""


def original_replicas(wl: ports.Workload) -> int:
    """The replicas to give back: recorded at adoption, else what it asks for now."""
    return wl.original_replicas if wl.original_replicas is not None else wl.replicas


def resolve(wl: ports.Workload, scaling: workload.Scaling | None) -> Resolved:
    """The revision template and scaling from the Deployment `wl` (`spec.scaling`, when
    given, wins)."""
    try:
        template = workload.PodTemplate.model_validate(wl.template)
    except pydantic.ValidationError as exc:
        message = f"the pod template of Deployment {wl.name} cannot be run: {_first(exc)}"
        return Resolved(None, None, message)
    if scaling is None:
        scaling = workload.Scaling(min_replicas=max(1, original_replicas(wl)))
    return Resolved(template, scaling)


def _first(exc: pydantic.ValidationError) -> str:
    """The first error, `spec.containers.0.image: message`."""
    first = exc.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    return f"{loc}: {first['msg']}" if loc else str(first["msg"])


def serving(stable: str | None, rt: route.Route | None) -> bool:
    """The first revision serves: there is a stable revision and the Route's applied
    split carries all the traffic."""
    if stable is None or rt is None:
        return False
    applied = rt.status.traffic
    return bool(applied) and sum(t.percent for t in applied) == 100


def original_target(
    mode: workloadref.ScaleDown, original: int, *, served: bool, ready_replicas: int
) -> int | None:
    """The replicas the original Deployment should run now (None: leave it)."""
    if mode == "never":
        return None
    if served:
        return 0
    if mode == "progressively":
        return max(0, original - ready_replicas)
    return None


@dataclasses.dataclass(frozen=True)
class Restore:
    """What giving back the adopted Deployments takes now."""

    scale: tuple[tuple[str, int], ...] = ()  # (deployment, replicas) to set
    release: tuple[str, ...] = ()  # deployments given back (their record removed)
    done: bool = False  # every one is given back: the finalizer can go


def restore_steps(adopted: list[ports.Workload], *, waited_enough: bool) -> Restore:
    scale, release = [], []
    for wl in adopted:
        want = max(original_replicas(wl), wl.replicas)  # never lowered: scaled up by hand
        if wl.replicas < want:
            scale.append((wl.name, want))
        elif wl.available_replicas >= want or waited_enough:
            release.append(wl.name)
    return Restore(tuple(scale), tuple(release), done=len(release) == len(adopted))
