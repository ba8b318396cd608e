"""The request rules a release asks the Route to carry: the header routes and mirrors
in force at a step, and the sticky session.

`rules_at(steps, index)` is to `setHeaderRoute` and `setMirror` what `steps.weight_at`
is to `setWeight`: the steps at or before `index`, in order, each setting its rule by
name (a replaced rule keeps its place; one removed — no `match`, `percent: 0` — and set
again goes last). `for_step` turns them into the Route's rules, to the canary, with
the policy's `sessionAffinity` as a cookie naming the release's canary and attempt
(`names.sticky_value`). The effects put them in the status beside the weights while
the release runs; promoting, rolling back and every end ask for none (`route.Rules()`).
`applied` is whether the Route reads them back as asked — with the weights, what
`conditions.weights_applied` waits for before a step counts as in force.

Pure; no I/O. Used by the release's model, conditions and schedule.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from rollout.api import matching, names, policyspec, route
from rollout.api.release import ReleaseSpec, ReleaseStatus

__all__ = ["Active", "applied", "for_step", "rules_at", "sticky", "wanted"]


@dataclasses.dataclass(frozen=True)
class Active:
    """The header routes and mirrors in force at a step, by name, in their order."""

    header_routes: tuple[matching.HeaderRouteStep, ...] = ()
    mirrors: tuple[matching.MirrorStep, ...] = ()


def rules_at(steps: Sequence[policyspec.Step], index: int) -> Active:
    """The setHeaderRoute and setMirror rules in force at step `index`: the last of each
    name at or before it, without those removed."""
    routes: dict[str, matching.HeaderRouteStep] = {}
    mirrors: dict[str, matching.MirrorStep] = {}
    for step in steps[: index + 1]:
        if (r := step.set_header_route) is not None:
            if r.match is None:
                routes.pop(r.name, None)
            else:
                routes[r.name] = r
        if (m := step.set_mirror) is not None:
            if m.percent == 0:
                mirrors.pop(m.name, None)
            else:
                mirrors[m.name] = m
    return Active(tuple(routes.values()), tuple(mirrors.values()))


def sticky(spec: ReleaseSpec, attempt: int) -> matching.StickySession | None:
    """The policy's sessionAffinity as the Route's sticky session to the canary."""
    affinity = spec.policy.session_affinity
    if affinity is None:
        return None
    return matching.StickySession(
        cookie_name=affinity.cookie_name,
        cookie_value=names.sticky_value(spec.canary_revision, attempt),
        max_age=affinity.max_age,
        revision_name=spec.canary_revision,
    )


def for_step(
    spec: ReleaseSpec, steps: Sequence[policyspec.Step], index: int, *, attempt: int
) -> route.Rules:
    """What a release at step `index` asks the Route to carry."""
    active = rules_at(steps, index)
    canary = spec.canary_revision
    return route.Rules(
        header_routes=tuple(
            matching.HeaderRoute(name=r.name, match=list(r.match or []), revision_name=canary)
            for r in active.header_routes
        ),
        mirrors=tuple(
            sorted(
                (
                    matching.Mirror(
                        name=m.name,
                        percent=m.percent,
                        match=list(m.match or []),
                        revision_name=canary,
                    )
                    for m in active.mirrors
                ),
                key=lambda m: m.name,
            )
        ),
        session_affinity=sticky(spec, attempt),
    )


def wanted(status: ReleaseStatus) -> route.Rules:
    """The rules the status asks the Route to carry."""
    return route.Rules.of(status)


def applied(status: ReleaseStatus, observed: route.Rules | None) -> bool:
    """Whether the Route reads back the rules the status asks for (None: not known)."""
    return observed is not None and wanted(status).difference(observed) is None
