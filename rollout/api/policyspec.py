"""RolloutPolicy: the release plan (steps) and how each step is judged (analysis).

A policy gives either explicit `steps` (Argo Rollouts style: `setWeight`, `pause`,
`analysis`) or the Flagger-style `canary: {stepWeight, maxWeight, interval}`
shorthand, which `expanded_steps()` turns into explicit steps. After the last step
the release promotes the canary to 100%, as in Argo Rollouts.

Analysis metrics name one provider (`local`, `prometheus`, `web`) and at least one
gate: absolute `thresholds` (min/max, no expressions) and/or `compare` against the
stable revision. A metric without a gate would silently pass, so it is an error.

Limits follow Argo's names and meaning: a metric fails when failed measurements
*exceed* `failureLimit` (failureLimit 1 tolerates one failure and fails on the
second).

Pure data and rules; no I/O. Used by the loader, the release engine and the CLI.
"""

from __future__ import annotations

import enum
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, WithJsonSchema, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from rollout.api import base, durations, problems, templates

__all__ = [
    "Analysis",
    "AnalysisStep",
    "CanaryShorthand",
    "Compare",
    "CompareMethod",
    "LocalProvider",
    "LocalStat",
    "Metric",
    "OnFailure",
    "PauseStep",
    "PrometheusProvider",
    "Provider",
    "RollbackPolicy",
    "RolloutPolicySpec",
    "Step",
    "Thresholds",
    "WebProvider",
    "Webhook",
    "WebhookType",
]


def _check_open_unit(value: float) -> float:
    if not 0 < value < 1:
        raise PydanticCustomError("open_unit", "must be between 0 and 1 (exclusive)")
    return value


def _check_ratio(value: float) -> float:
    if value < 1:
        raise PydanticCustomError("ratio", "must be at least 1")
    return value


def _check_http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise PydanticCustomError("url", "must be an http:// or https:// URL")
    return value


def _check_template(value: str) -> str:
    errors = templates.template_errors(value)
    if errors:
        raise PydanticCustomError("template", "{message}", {"message": "; ".join(errors)})
    return value


Probability = Annotated[
    float,
    base.Strict(),
    AfterValidator(_check_open_unit),
    WithJsonSchema({"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}),
]
Ratio = Annotated[
    float,
    base.Strict(),
    AfterValidator(_check_ratio),
    WithJsonSchema({"type": "number", "minimum": 1}),
]
HttpUrl = Annotated[str, AfterValidator(_check_http_url)]
Template = Annotated[str, AfterValidator(_check_template)]
TemplatedUrl = Annotated[str, AfterValidator(_check_http_url), AfterValidator(_check_template)]


# --- steps -------------------------------------------------------------------------


class PauseStep(base.ApiModel):
    """Hold the current weight: for `duration`, or until `rollout promote` when absent."""

    duration: durations.PositiveDuration | None = None


class AnalysisStep(base.ApiModel):
    """Hold the current weight while metrics are measured; all must pass for `duration`.

    `metrics` restricts the gate to some of the policy's metrics (default: all).
    `maxDuration`: when, at the end of `duration`, a comparison against the stable
    revision leans towards a regression without having proved one, keep observing at
    this weight — until the suspicion clears, the comparison fails, or `maxDuration`.
    """

    duration: durations.PositiveDuration
    max_duration: durations.PositiveDuration | None = None
    metrics: list[str] | None = None


class Step(base.ApiModel):
    """One step of the plan: exactly one of `setWeight`, `pause`, `analysis`."""

    set_weight: base.Percent | None = None
    pause: PauseStep | None = None
    analysis: AnalysisStep | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Step:
        given = [f for f in ("set_weight", "pause", "analysis") if getattr(self, f) is not None]
        if len(given) != 1:
            raise PydanticCustomError(
                "step",
                "a step needs exactly one of setWeight, pause, analysis (got {got})",
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
        assert self.analysis is not None
        which = ", ".join(self.analysis.metrics) if self.analysis.metrics else "all metrics"
        text = f"analysis for {durations.format_duration(self.analysis.duration)}"
        if self.analysis.max_duration is not None:
            longest = durations.format_duration(self.analysis.max_duration)
            text += f" (up to {longest} while a regression is suspected)"
        return f"{text} ({which})"


class CanaryShorthand(base.ApiModel):
    """Flagger-style plan: raise the weight by `stepWeight` every `interval` to `maxWeight`.

    Expands to `setWeight w` + `analysis {duration: interval}` for
    w = stepWeight, 2·stepWeight, …, maxWeight (the last step is clamped to maxWeight).
    """

    step_weight: base.Percent
    max_weight: base.Percent = 100
    interval: durations.PositiveDuration

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


# --- analysis ------------------------------------------------------------------------


class LocalStat(enum.StrEnum):
    """Per-revision statistics of the local proxy over the metric's window."""

    REQUESTS = "requests"
    ERRORS = "errors"
    ERROR_RATE = "error_rate"
    LATENCY_P50 = "latency_p50"
    LATENCY_P90 = "latency_p90"
    LATENCY_P99 = "latency_p99"


class LocalProvider(base.ApiModel):
    stat: LocalStat


class PrometheusProvider(base.ApiModel):
    """A PromQL query; `{{variables}}` are substituted and escaped at measurement time."""

    address: HttpUrl
    query: Template
    timeout: durations.PositiveDuration = timedelta(seconds=10)


class WebProvider(base.ApiModel):
    """HTTP GET returning JSON; `jsonPath` (e.g. `$.data.errorRate`) selects the number."""

    url: TemplatedUrl
    json_path: str = "$"
    timeout: durations.PositiveDuration = timedelta(seconds=10)
    headers: dict[str, str] = Field(default_factory=dict)


class Provider(base.ApiModel):
    """Where a metric comes from: exactly one of `local`, `prometheus`, `web`."""

    local: LocalProvider | None = None
    prometheus: PrometheusProvider | None = None
    web: WebProvider | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Provider:
        given = [f for f in ("local", "prometheus", "web") if getattr(self, f) is not None]
        if len(given) != 1:
            raise PydanticCustomError(
                "provider",
                "a provider needs exactly one of local, prometheus, web (got {got})",
                {"got": ", ".join(given) or "none"},
            )
        return self

    @property
    def kind(self) -> str:
        return next(f for f in ("local", "prometheus", "web") if getattr(self, f) is not None)


class Thresholds(base.ApiModel):
    """Absolute gate: the measured value must be ≥ min and ≤ max."""

    min: base.Float | None = None
    max: base.Float | None = None

    @model_validator(mode="after")
    def _rules(self) -> Thresholds:
        found = []
        if self.min is None and self.max is None:
            found.append(problems.Problem((), "give min, max or both"))
        elif self.min is not None and self.max is not None and self.min > self.max:
            found.append(problems.Problem(("min",), f"must be at most max ({self.max})"))
        problems.raise_problems("Thresholds", found)
        return self


class CompareMethod(enum.StrEnum):
    SEQUENTIAL = "sequential"
    MANN_WHITNEY = "mann-whitney"


class Compare(base.ApiModel):
    """Relative gate: the canary against the stable revision.

    `sequential`: an anytime-valid test on error counts (false rollbacks ≤ alpha however
    often it looks); `mann-whitney`: latency samples. `maxRatio` is the tolerated
    canary/stable ratio. `history` (sequential only): also compare with the stable's
    requests and errors over this window before the release started, while the
    stable still behaves as it did then — more evidence per failed request when the
    stable's errors are rare.
    """

    against: Literal["stable"] = "stable"
    method: CompareMethod = CompareMethod.SEQUENTIAL
    alpha: Probability = 0.01
    max_ratio: Ratio = 2.0
    history: durations.PositiveDuration | None = None

    @model_validator(mode="after")
    def _rules(self) -> Compare:
        found = []
        if self.history is not None and self.method is not CompareMethod.SEQUENTIAL:
            found.append(
                problems.Problem(
                    ("history",), "history applies to the sequential method only (error counts)"
                )
            )
        problems.raise_problems("Compare", found)
        return self


class Metric(base.ApiModel):
    name: base.Name
    provider: Provider
    window: durations.PositiveDuration = timedelta(minutes=1)
    interval: durations.PositiveDuration | None = None
    thresholds: Thresholds | None = None
    compare: Compare | None = None
    min_samples: base.NonNegativeInt = 0
    failure_limit: base.NonNegativeInt | None = None

    @model_validator(mode="after")
    def _rules(self) -> Metric:
        found = []
        if self.thresholds is None and self.compare is None:
            found.append(
                problems.Problem(
                    (),
                    "a metric needs a gate: thresholds, compare or both"
                    " (a metric without one would always pass)",
                )
            )
        if self.compare is not None and self.provider.local is None:
            found.append(
                problems.Problem(
                    ("compare",),
                    f"compare needs the local provider in this version (it reads request and"
                    f" error counts or latency samples of both revisions); with the"
                    f" {self.provider.kind} provider, gate with thresholds",
                )
            )
        problems.raise_problems("Metric", found)
        return self


class Analysis(base.ApiModel):
    """How often metrics are measured and how many bad measurements are tolerated.

    `failureLimit`: a metric fails when its failed measurements in a step exceed it.
    `inconclusiveLimit`: then the release pauses for a human (never rolls back).
    `consecutiveErrorLimit`: provider errors in a row, then the release pauses.
    `advanceEarly`: an analysis step may end before its duration when every metric it
    gates has passed decisively (a sequential comparison ruled out a ratio above
    `maxRatio`; threshold metrics passed with no failure in the step).
    """

    interval: durations.PositiveDuration = timedelta(seconds=15)
    failure_limit: base.NonNegativeInt = 1
    inconclusive_limit: base.NonNegativeInt = 8
    consecutive_error_limit: base.NonNegativeInt = 4
    advance_early: base.Bool = False
    metrics: list[Metric] = Field(default_factory=list)

    @model_validator(mode="after")
    def _rules(self) -> Analysis:
        found = []
        seen: set[str] = set()
        for i, metric in enumerate(self.metrics):
            if metric.name in seen:
                found.append(
                    problems.Problem(
                        ("metrics", i, "name"), f"duplicate metric name {metric.name!r}"
                    )
                )
            seen.add(metric.name)
        problems.raise_problems("Analysis", found)
        return self


# --- webhooks and rollback -------------------------------------------------------------


class WebhookType(enum.StrEnum):
    CONFIRM = "confirm"  # promotion waits for a 2xx answer
    PRE = "pre"  # notified before the release starts
    POST = "post"  # notified after it ends
    ROLLBACK = "rollback"  # notified when it rolls back


class Webhook(base.ApiModel):
    name: base.Name
    type: WebhookType
    url: TemplatedUrl
    timeout: durations.PositiveDuration = timedelta(seconds=10)
    retries: base.NonNegativeInt = 2


class OnFailure(enum.StrEnum):
    ROLLBACK = "rollback"  # failed analysis rolls back at once (default)
    PAUSE = "pause"  # failed analysis pauses for a human (soft fail)


class RollbackPolicy(base.ApiModel):
    on_failure: OnFailure = OnFailure.ROLLBACK


# --- the policy ---------------------------------------------------------------------


class RolloutPolicySpec(base.ApiModel):
    steps: list[Step] | None = None
    canary: CanaryShorthand | None = None
    analysis: Analysis | None = None
    progress_deadline: durations.PositiveDuration = timedelta(minutes=10)
    rollback: RollbackPolicy = Field(default_factory=RollbackPolicy)
    webhooks: list[Webhook] = Field(default_factory=list)

    @model_validator(mode="after")
    def _rules(self) -> RolloutPolicySpec:
        problems.raise_problems("RolloutPolicySpec", policy_problems(self))
        return self

    def expanded_steps(self) -> list[Step]:
        """The explicit plan: `steps` as written, or the `canary` shorthand expanded."""
        if self.steps is not None:
            return list(self.steps)
        return self.canary.expand() if self.canary is not None else []

    def metric_names(self) -> list[str]:
        return [m.name for m in self.analysis.metrics] if self.analysis else []


def policy_problems(spec: RolloutPolicySpec) -> list[problems.Problem]:
    """Rules across fields: plan given once, weights never lower, analysis resolvable."""
    found: list[problems.Problem] = []
    if spec.steps is not None and spec.canary is not None:
        found.append(problems.Problem(("canary",), "give either steps or canary, not both"))
    elif spec.steps is None and spec.canary is None:
        found.append(problems.Problem(("steps",), "a policy needs steps (or the canary shorthand)"))
    elif spec.steps is not None and not spec.steps:
        found.append(problems.Problem(("steps",), "at least one step is required"))

    known = set(spec.metric_names())
    if spec.canary is not None and not known:
        found.append(
            problems.Problem(
                ("canary",),
                "the canary shorthand analyses every interval: it needs metrics in"
                " spec.analysis.metrics",
            )
        )
    last_weight, last_at = 0, -1
    for i, step in enumerate(spec.steps or []):
        loc = ("steps", i)
        if step.set_weight is not None:
            if step.set_weight < last_weight:
                found.append(
                    problems.Problem(
                        (*loc, "setWeight"),
                        f"lowers traffic from {last_weight} (steps[{last_at}]) to"
                        f" {step.set_weight}: setWeight must not decrease across steps",
                    )
                )
            last_weight, last_at = max(last_weight, step.set_weight), i
        if step.analysis is not None:
            found.extend(_analysis_step_problems(step.analysis, (*loc, "analysis"), known))
    seen: set[str] = set()
    for i, hook in enumerate(spec.webhooks):
        if hook.name in seen:
            found.append(
                problems.Problem(("webhooks", i, "name"), f"duplicate webhook name {hook.name!r}")
            )
        seen.add(hook.name)
    return found


def _analysis_step_problems(
    step: AnalysisStep, loc: problems.Loc, known: set[str]
) -> list[problems.Problem]:
    if not known:
        return [problems.Problem(loc, "an analysis step needs metrics in spec.analysis.metrics")]
    found = []
    if step.max_duration is not None and step.max_duration < step.duration:
        found.append(
            problems.Problem(
                (*loc, "maxDuration"),
                f"must be at least duration ({durations.format_duration(step.duration)})",
            )
        )
    for j, name in enumerate(step.metrics or []):
        if name not in known:
            found.append(
                problems.Problem(
                    (*loc, "metrics", j),
                    f"unknown metric {name!r} (defined: {', '.join(sorted(known))})",
                )
            )
    return found
