"""The release plan: explicit steps (`setWeight`, `pause`, `analysis`, and the request
rules `setHeaderRoute` and `setMirror` of `rollout.api.matching`) and the Flagger-style
`canary: {stepWeight, maxWeight, interval}` shorthand that expands into them.

Pure models; no I/O. Rules that need the whole policy (weights never lower, analysis
steps name known metrics) are in `policyspec`. Used through `policyspec`.
"""

from __future__ import annotations

from pydantic import model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from rollout.api import base, durations, matching, problems

__all__ = [
    "AnalysisStep",
    "CanaryShorthand",
    "PauseStep",
    "Step",
    "describe_match",
    "describe_mirror",
]


class PauseStep(base.ApiModel):
    """Hold the current weight: for `duration`, or until `rollout promote` when absent."""

    duration: durations.PositiveDuration | None = None
    """How long to hold the weight; absent, until `rollout promote`."""


class AnalysisStep(base.ApiModel):
    """Hold the current weight while metrics are measured; all must pass for `duration`.

    `metrics` restricts the gate to some of the policy's metrics (default: all).
    `maxDuration`: when, at the end of `duration`, a comparison against the stable
    revision leans towards a regression without having proved one, keep observing at
    this weight — until the suspicion clears, the comparison fails, or `maxDuration`.
    """

    duration: durations.PositiveDuration
    """How long the metrics are measured at this weight."""
    max_duration: durations.PositiveDuration | None = None
    """How long to keep observing when, at the end of duration, a comparison leans towards a
    regression without having proved one."""
    metrics: list[str] | None = None
    """The names of the policy's metrics this step gates on (default: all)."""


_KINDS = ("set_weight", "pause", "analysis", "set_header_route", "set_mirror")


class Step(base.ApiModel):
    """One step of the plan: exactly one of `setWeight`, `pause`, `analysis`,
    `setHeaderRoute`, `setMirror`."""

    set_weight: base.Percent | None = None
    """Move this percent of traffic to the canary. Weights never decrease along the plan."""
    pause: PauseStep | None = None
    """Hold the current weight for a duration, or until `rollout promote`."""
    analysis: AnalysisStep | None = None
    """Hold the current weight while metrics are measured; all must pass."""
    set_header_route: matching.HeaderRouteStep | None = None
    """Send the requests matching `match` to the canary whatever its weight (A/B testing);
    a later step with the same name and no match removes the route."""
    set_mirror: matching.MirrorStep | None = None
    """Copy `percent`% of the (matching) requests to the canary; the client gets the
    stable's answer. A later step with the same name and percent 0 removes the mirror."""

    @model_validator(mode="after")
    def _exactly_one(self) -> Step:
        given = [f for f in _KINDS if getattr(self, f) is not None]
        if len(given) != 1:
            raise PydanticCustomError(
                "step",
                "a step needs exactly one of setWeight, pause, analysis, setHeaderRoute,"
                " setMirror (got {got})",
                {"got": ", ".join(to_camel(f) for f in given) or "none"},
            )
        return self

    def describe(self) -> str:
        """One line for `rollout validate --explain`."""
        if self.set_weight is not None:
            return f"setWeight {self.set_weight}%"
        if self.pause is not None:
            if self.pause.duration is None:
                return "pause until `rollout promote`"
            return f"pause {durations.format_duration(self.pause.duration)}"
        if self.set_header_route is not None:
            route = self.set_header_route
            if route.match is None:
                return f"setHeaderRoute {route.name}: removed"
            return f"setHeaderRoute {route.name}: {describe_match(route.match)} → canary"
        if self.set_mirror is not None:
            mirror = self.set_mirror
            if mirror.percent == 0:
                return f"setMirror {mirror.name}: removed"
            copied = describe_mirror(mirror.percent, mirror.match)
            return f"setMirror {mirror.name}: {copied} → canary"
        assert self.analysis is not None
        which = ", ".join(self.analysis.metrics) if self.analysis.metrics else "all metrics"
        text = f"analysis for {durations.format_duration(self.analysis.duration)}"
        if self.analysis.max_duration is not None:
            longest = durations.format_duration(self.analysis.max_duration)
            text += f" (up to {longest} while a regression is suspected)"
        return f"{text} ({which})"


def describe_match(entries: list[matching.Match]) -> str:
    """`header X-Beta = '1' or cookie group ~ 'a.*'`: a list of matches, OR."""
    return " or ".join(m.describe() for m in entries)


def describe_mirror(percent: int, entries: list[matching.Match] | None) -> str:
    """`10% of all requests`, `5% of requests with header X-Beta = '1'`."""
    if not entries:
        return f"{percent}% of all requests"
    return f"{percent}% of requests with {describe_match(entries)}"


class CanaryShorthand(base.ApiModel):
    """Flagger-style plan: raise the weight by `stepWeight` every `interval` to `maxWeight`.

    Expands to `setWeight w` + `analysis {duration: interval}` for
    w = stepWeight, 2·stepWeight, …, maxWeight (the last step is clamped to maxWeight).
    """

    step_weight: base.Percent
    """The weight added at each step, at least 1."""
    max_weight: base.Percent = 100
    """The last weight before promotion, at least stepWeight."""
    interval: durations.PositiveDuration
    """How long each weight is analysed."""

    @model_validator(mode="after")
    def _rules(self) -> CanaryShorthand:
        found = []
        if self.step_weight < 1:
            found.append(problems.Problem(("stepWeight",), "must be at least 1"))
        elif self.max_weight < self.step_weight:
            found.append(
                problems.Problem(
                    ("maxWeight",), f"must be at least stepWeight ({self.step_weight})"
                )
            )
        problems.raise_problems("CanaryShorthand", found)
        return self

    def expand(self) -> list[Step]:
        steps = []
        weight = 0
        while weight < self.max_weight:
            weight = min(weight + self.step_weight, self.max_weight)
            steps.append(Step(set_weight=weight))
            steps.append(Step(analysis=AnalysisStep(duration=self.interval)))
        return steps
