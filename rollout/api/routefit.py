"""Whether a policy's request rules fit a Service's router: the Routes a release of that
policy would ask for, step by step, against what the router can express
(`routing.route_limits` with the header routes, mirrors and sticky session).

A release's Route carries the stable and canary revisions tagged `stable` and `canary`
(the Service reconciler's split), the canary's weight from the last `setWeight`, the
header routes and mirrors the `setHeaderRoute` / `setMirror` steps so far left in
place (a later step of the same name replaces one; `setHeaderRoute` without `match`,
or `setMirror` at percent 0, removes it), and — with the policy's `sessionAffinity` —
the sticky cookie to the canary. Each step's Route is checked; a problem is reported
once, at the first step that meets it.

The steps are read by their field names (`setWeight`, `setHeaderRoute`, `setMirror`)
and the policy's `sessionAffinity`, the shapes `matching` declares: a step without
them is only a weight, a pause or an analysis here.

Pure; no I/O. Called by `loader.route_rule_problems` for `rollout validate`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from rollout.api import matching, routing, split

__all__ = ["StepProblem", "policy_fit"]

STABLE, CANARY = "stable", "canary"  # stand-ins for the release's revisions


@dataclasses.dataclass(frozen=True)
class StepProblem:
    step: int  # index into the policy's steps
    message: str


def policy_fit(
    given: routing.Routing | None,
    steps: Sequence[Any],
    session_affinity: matching.SessionAffinity | None,
    *,
    router: routing.Router | None = None,
) -> list[StepProblem]:
    """What the router (`router`, else `given.router`, else gateway-api) cannot express
    of the Routes the steps ask for, each at the first step that asks for it."""
    weight = 0
    header_routes: dict[str, matching.HeaderRoute] = {}
    mirrors: dict[str, matching.Mirror] = {}
    sticky = None
    if session_affinity is not None:
        sticky = matching.StickySession(
            cookie_name=session_affinity.cookie_name,
            cookie_value="release",
            max_age=session_affinity.max_age,
            revision_name=CANARY,
        )
    seen: set[str] = set()
    found: list[StepProblem] = []
    for i, step in enumerate(steps):
        if (w := getattr(step, "set_weight", None)) is not None:
            weight = int(w)
        hr = getattr(step, "set_header_route", None)
        if isinstance(hr, matching.HeaderRouteStep):
            if hr.match is None:
                header_routes.pop(hr.name, None)
            else:
                header_routes[hr.name] = matching.HeaderRoute(
                    name=hr.name, match=hr.match, revision_name=CANARY
                )
        m = getattr(step, "set_mirror", None)
        if isinstance(m, matching.MirrorStep):
            if m.percent <= 0:
                mirrors.pop(m.name, None)
            else:
                mirrors[m.name] = matching.Mirror(
                    name=m.name, percent=m.percent, match=m.match or [], revision_name=CANARY
                )
        if not (header_routes or mirrors or sticky):
            continue
        traffic = [
            split.TrafficTarget(revision_name=STABLE, percent=100 - weight, tag="stable"),
            split.TrafficTarget(revision_name=CANARY, percent=weight, tag="canary"),
        ]
        for problem in routing.route_limits(
            given,
            traffic,
            (),
            header_routes=list(header_routes.values()),
            mirrors=list(mirrors.values()),
            sticky=sticky,
            router=router,
        ):
            if problem.message not in seen:
                seen.add(problem.message)
                found.append(StepProblem(i, problem.message))
    return found
