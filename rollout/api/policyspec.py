"""RolloutPolicy: the release plan (steps) and how each step is judged (analysis).

A policy gives either explicit `steps` (Argo Rollouts style: `setWeight`, `pause`,
`analysis`) or the Flagger-style `canary: {stepWeight, maxWeight, interval}`
shorthand, which `expanded_steps()` turns into explicit steps. After the last step
the release promotes the canary to 100%, as in Argo Rollouts.

This module owns the policy spec itself, the rules across its fields
(`policy_problems`) and what is valid but unwise (`policy_warnings`: literal
credentials, which are stored in the policy and copied into every release; warnings
never make a policy invalid). Its parts live beside it and are re-exported here, so
that the rest of the code names the policy's vocabulary as `policyspec.X`:

    steps        Step, PauseStep, AnalysisStep, CanaryShorthand
    matching     HeaderRouteStep, MirrorStep, SessionAffinity, Match (the request
                 rules of `setHeaderRoute`, `setMirror` and `sessionAffinity`)
    metricspec   Analysis, Metric, Provider (local, prometheus, web), Thresholds,
                 Compare
    endpoints    URLs, headers and credentials (ValueFrom), `redact_url`
    hookspec     Webhook, WebhookType (Flagger's eight types; a hook the plan
                 would never call is refused by `policy_problems`)
    notifyspec   Notification, NotificationTrigger, Sink (webhook, slack, teams)

Pure data and rules; no I/O. Used by the loader, the release engine and the CLI.
"""

from __future__ import annotations

import enum
import itertools
from datetime import timedelta

from pydantic import Field, model_validator

from rollout.api import base, durations, endpoints, problems
from rollout.api.endpoints import (
    LITERAL_CREDENTIAL,
    HeaderValue,
    SecretKeyRef,
    ValueFrom,
    is_credential_name,
    redact_url,
)
from rollout.api.hookspec import Webhook, WebhookType
from rollout.api.matching import HeaderRouteStep, Match, MirrorStep, SessionAffinity
from rollout.api.metricspec import (
    LATENCY_STATS,
    QUANTILES,
    Analysis,
    BasicAuth,
    Compare,
    CompareMethod,
    LocalProvider,
    LocalStat,
    Metric,
    PrometheusCounts,
    PrometheusProvider,
    Provider,
    Thresholds,
    WebProvider,
)
from rollout.api.notifyspec import Notification, NotificationTrigger, Sink
from rollout.api.steps import AnalysisStep, CanaryShorthand, PauseStep, Step

__all__ = [
    "LATENCY_STATS",
    "LITERAL_CREDENTIAL",
    "QUANTILES",
    "Analysis",
    "AnalysisStep",
    "BasicAuth",
    "CanaryScale",
    "CanaryShorthand",
    "Compare",
    "CompareMethod",
    "HeaderRouteStep",
    "HeaderValue",
    "LocalProvider",
    "LocalStat",
    "Match",
    "Metric",
    "MirrorStep",
    "Notification",
    "NotificationTrigger",
    "OnFailure",
    "PauseStep",
    "PrometheusCounts",
    "PrometheusProvider",
    "Provider",
    "RollbackPolicy",
    "RolloutPolicySpec",
    "SecretKeyRef",
    "SessionAffinity",
    "Sink",
    "Step",
    "Thresholds",
    "ValueFrom",
    "WebProvider",
    "Webhook",
    "WebhookType",
    "is_credential_name",
    "policy_warnings",
    "redact_url",
]


# --- webhooks and rollback -------------------------------------------------------------


class OnFailure(enum.StrEnum):
    ROLLBACK = "rollback"  # failed analysis rolls back at once (default)
    PAUSE = "pause"  # failed analysis pauses for a human (soft fail)


class RollbackPolicy(base.ApiModel):
    on_failure: OnFailure = OnFailure.ROLLBACK
    """What a failed analysis does: rollback (at once; the default) or pause (for a human to
    decide)."""


# --- scaling ----------------------------------------------------------------------------


class CanaryScale(base.ApiModel):
    """While a release runs, the canary's replica count follows its weight (Argo
    Rollouts' dynamic scaling): `max(minReplicas, ceil(stable replicas × weight /
    100))`, scaled up before traffic moves to it (`rollout.reconcilers.scaling`).

    `matchWeight: true` is required: it is the only behaviour this block has (without
    it the canary runs at its full size, as with no `canaryScale` at all)."""

    min_replicas: base.PositiveCount = 1
    """The fewest replicas the canary runs at any weight."""
    match_weight: base.Bool = False
    """Must be true: the canary's replicas follow its weight."""

    @model_validator(mode="after")
    def _rules(self) -> CanaryScale:
        if not self.match_weight:
            problems.raise_problems(
                "CanaryScale",
                [
                    problems.Problem(
                        ("matchWeight",),
                        "canaryScale acts only with matchWeight: true (the canary's replicas"
                        " follow its weight); without it the canary runs at its full size —"
                        " set matchWeight: true or remove canaryScale",
                    )
                ],
            )
        return self


# --- the policy ---------------------------------------------------------------------


class RolloutPolicySpec(base.ApiModel):
    steps: list[Step] | None = Field(default=None, max_length=200)
    """The release plan: steps of setWeight, pause or analysis, run in order; after the last, the
    canary is promoted to 100%. Give this or canary."""
    canary: CanaryShorthand | None = None
    """The Flagger-style shorthand: raise the weight by stepWeight every interval up to maxWeight,
    analysing at each step. Give this or steps."""
    analysis: Analysis | None = None
    """How each analysis step is judged: the metrics, how often they are measured, and how many bad
    measurements are tolerated."""
    progress_deadline: durations.PositiveDuration = timedelta(minutes=10)
    """How long a release may wait on one thing (a revision to become ready, traffic to apply)
    before it fails."""
    rollback: RollbackPolicy = Field(default_factory=RollbackPolicy)
    """What a failed analysis does."""
    webhooks: list[Webhook] = Field(default_factory=list, max_length=64)
    """Hooks called during the release: gates it waits on, checks it counts, notifications
    (Flagger's types)."""
    notifications: list[Notification] = Field(default_factory=list, max_length=64)
    """Messages sent to a webhook, Slack or Teams when the release pauses, rolls back, fails,
    succeeds or steps."""
    # After a release ends, a revision without traffic goes to 0 replicas after this
    # long (default 30s); a Service's own `scaleDownDelay` wins over the policy's.
    scale_down_delay: durations.Duration | None = None
    """After a release ends, a revision without traffic goes to 0 replicas after this long (default
    30s)."""
    canary_scale: CanaryScale | None = None
    """The canary's replicas follow its weight while a release runs."""
    session_affinity: SessionAffinity | None = None
    """A client the release routes to the canary gets a cookie that keeps it on the canary
    while the release runs (weights only grow); on promotion the cookie no longer matters,
    on rollback or abort the Route drops it and the client goes back to the stable."""

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
    """Rules across fields: plan given once, weights never lower, analysis resolvable,
    names unique — each apart (`problems.gather`), so that a type error in one field
    leaves the rules of the others to report."""
    return problems.gather(
        spec,
        _plan_problems,
        _weight_problems,
        _analysis_problems,
        _webhook_name_problems,
        _webhook_problems,
        _notification_name_problems,
        _rule_problems,
    )


def _plan_problems(spec: RolloutPolicySpec) -> list[problems.Problem]:
    """The plan is given once, as steps or as the canary shorthand (with metrics)."""
    found: list[problems.Problem] = []
    if spec.steps is not None and spec.canary is not None:
        found.append(problems.Problem(("canary",), "give either steps or canary, not both"))
    elif spec.steps is None and spec.canary is None:
        found.append(problems.Problem(("steps",), "a policy needs steps (or the canary shorthand)"))
    elif spec.steps is not None and not spec.steps:
        found.append(problems.Problem(("steps",), "at least one step is required"))
    if spec.canary is not None and not spec.metric_names():
        found.append(
            problems.Problem(
                ("canary",),
                "the canary shorthand analyses every interval: it needs metrics in"
                " spec.analysis.metrics",
            )
        )
    return found


def _weight_problems(spec: RolloutPolicySpec) -> list[problems.Problem]:
    """setWeight never decreases along the steps."""
    found = []
    last_weight, last_at = 0, -1
    for i, step in enumerate(spec.steps or []):
        if step.set_weight is not None:
            if step.set_weight < last_weight:
                found.append(
                    problems.Problem(
                        ("steps", i, "setWeight"),
                        f"lowers traffic from {last_weight} (steps[{last_at}]) to"
                        f" {step.set_weight}: setWeight must not decrease across steps",
                    )
                )
            last_weight, last_at = max(last_weight, step.set_weight), i
    return found


def _analysis_problems(spec: RolloutPolicySpec) -> list[problems.Problem]:
    """Each analysis step can be judged: metrics exist, the ones it names are known."""
    known = set(spec.metric_names())
    found = []
    for i, step in enumerate(spec.steps or []):
        if step.analysis is not None:
            found.extend(_analysis_step_problems(step.analysis, ("steps", i, "analysis"), known))
    return found


def _rule_problems(spec: RolloutPolicySpec) -> list[problems.Problem]:
    """setHeaderRoute and setMirror: a step that removes a route or a mirror (no match,
    percent 0) names one an earlier step set, and one name is not both a header route
    and a mirror (the status and `rollout status` name them alone). Rules still set at
    the last step are fine: they end with the release. A rule with no analysis after it
    is fine too (a person may judge it at a pause)."""
    found: list[problems.Problem] = []
    routes: set[str] = set()
    mirrors: set[str] = set()
    for i, step in enumerate(spec.steps or []):
        if (route := step.set_header_route) is not None:
            loc: problems.Loc = ("steps", i, "setHeaderRoute", "name")
            if route.name in mirrors:
                found.append(_shared_name(loc, route.name, "a mirror"))
            elif route.match is not None:
                routes.add(route.name)
            elif route.name in routes:
                routes.discard(route.name)
            else:
                found.append(_unknown_rule(loc, "header route", route.name, routes))
        if (mirror := step.set_mirror) is not None:
            loc = ("steps", i, "setMirror", "name")
            if mirror.name in routes:
                found.append(_shared_name(loc, mirror.name, "a header route"))
            elif mirror.percent > 0:
                mirrors.add(mirror.name)
            elif mirror.name in mirrors:
                mirrors.discard(mirror.name)
            else:
                found.append(_unknown_rule(loc, "mirror", mirror.name, mirrors))
    plan = spec.expanded_steps()
    serves = any(
        (step.set_weight or 0) > 0
        or (step.set_header_route is not None and step.set_header_route.match is not None)
        for step in plan
    )
    if spec.session_affinity is not None and plan and not serves:
        found.append(
            problems.Problem(
                ("sessionAffinity",),
                "no step sends a client to the canary before the promotion (no setWeight"
                " above 0, no setHeaderRoute; a mirror's client gets the stable's answer),"
                " so no client would get the cookie: remove sessionAffinity",
            )
        )
    return found


def _unknown_rule(loc: problems.Loc, what: str, name: str, known: set[str]) -> problems.Problem:
    set_now = f"set here: {', '.join(sorted(known))}" if known else f"no {what} is set here"
    return problems.Problem(
        loc, f"removes the {what} {name!r}, which no earlier step set ({set_now})"
    )


def _shared_name(loc: problems.Loc, name: str, other: str) -> problems.Problem:
    return problems.Problem(
        loc, f"{name!r} already names {other} in force here: give each rule its own name"
    )


def _webhook_name_problems(spec: RolloutPolicySpec) -> list[problems.Problem]:
    found = []
    seen: set[str] = set()
    for i, hook in enumerate(spec.webhooks):
        if hook.name in seen:
            found.append(
                problems.Problem(("webhooks", i, "name"), f"duplicate webhook name {hook.name!r}")
            )
        seen.add(hook.name)
    return found


def _notification_name_problems(spec: RolloutPolicySpec) -> list[problems.Problem]:
    found = []
    names: set[str] = set()
    for i, notification in enumerate(spec.notifications):
        if notification.name in names:
            found.append(
                problems.Problem(
                    ("notifications", i, "name"),
                    f"duplicate notification name {notification.name!r}",
                )
            )
        names.add(notification.name)
    return found


def _webhook_problems(spec: RolloutPolicySpec) -> list[problems.Problem]:
    """Webhooks the plan would never call: every field acts, or is refused."""
    plan = spec.expanded_steps()
    analyses = any(step.analysis is not None for step in plan)
    weights, weight = [], 0
    for step in plan:
        weight = step.set_weight if step.set_weight is not None else weight
        weights.append(weight)
    raises = any(later > earlier for earlier, later in itertools.pairwise(weights))
    found = []
    for i, hook in enumerate(spec.webhooks):
        if hook.type is WebhookType.ROLLOUT and plan and not analyses:
            found.append(
                problems.Problem(
                    ("webhooks", i, "type"),
                    "a rollout webhook is called at analysis steps, every analysis interval;"
                    " this plan has none, so it would never be called",
                )
            )
        if hook.type is WebhookType.CONFIRM_TRAFFIC_INCREASE and plan and not raises:
            found.append(
                problems.Problem(
                    ("webhooks", i, "type"),
                    "this plan never raises the canary's weight before its last step, so"
                    " confirm-traffic-increase would never be asked (the promotion's gate"
                    " is confirm-promotion)",
                )
            )
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


# --- warnings: valid, but unwise ---------------------------------------------------------


def policy_warnings(spec: RolloutPolicySpec) -> list[problems.Problem]:
    """What is valid but unwise in a policy: literal credentials, each at its field path
    (relative to the spec). The loader prints them as warnings and goes on."""
    found: list[problems.Problem] = []
    for i, metric in enumerate(spec.analysis.metrics if spec.analysis else []):
        loc: problems.Loc = ("analysis", "metrics", i, "provider")
        web, prometheus = metric.provider.web, metric.provider.prometheus
        if web is not None:
            for name, value in web.headers.items():
                if isinstance(value, str) and value and is_credential_name(name):
                    found.append(
                        problems.Problem((*loc, "web", "headers", name), LITERAL_CREDENTIAL)
                    )
            message = endpoints.url_warning(web.url)
            if message is not None:
                found.append(problems.Problem((*loc, "web", "url"), message))
        if prometheus is not None:
            message = endpoints.url_warning(prometheus.address)
            if message is not None:
                found.append(problems.Problem((*loc, "prometheus", "address"), message))
    for i, hook in enumerate(spec.webhooks):
        message = endpoints.url_warning(hook.url)
        if message is not None:
            found.append(problems.Problem(("webhooks", i, "url"), message))
    steps = spec.expanded_steps()
    last = steps[-1] if steps else None
    if last is not None and last.pause is not None and last.pause.duration is None:
        for i, hook in enumerate(spec.webhooks):
            if hook.type is WebhookType.CONFIRM_PROMOTION:
                found.append(
                    problems.Problem(
                        ("webhooks", i, "type"),
                        "the last step already waits for `rollout promote`: the promotion"
                        " would need both a person and this gate's 2xx",
                    )
                )
    return found
