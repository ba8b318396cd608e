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
second). Limits and counts are 32-bit (at most 2147483647), as in Kubernetes.

What reaches an HTTP request is checked here, so that a policy that validates never
fails every measurement of a release: URLs are http(s) with a host, no space (outside
`{{ }}`) and no control character, at most 8 KiB; header names are HTTP tokens (RFC
9110), once each whatever their case, and never the framing headers the client sets;
a literal header value has no control character but tab (no CR, LF or NUL), at most
8 KiB. A credential is better written `{valueFrom: {env | file | secretKeyRef}}`:
`policy_warnings` reports literal values of credential-like headers and credentials
in URLs (`user:pass@`, `?token=`), which are stored in the policy and copied into
every release. Warnings never make a policy invalid.

Pure data and rules; no I/O. Used by the loader, the release engine and the CLI.
"""

from __future__ import annotations

import enum
import re
import urllib.parse
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from rollout.api import base, durations, problems, templates

__all__ = [
    "LITERAL_CREDENTIAL",
    "Analysis",
    "AnalysisStep",
    "CanaryShorthand",
    "Compare",
    "CompareMethod",
    "HeaderValue",
    "LocalProvider",
    "LocalStat",
    "Metric",
    "OnFailure",
    "PauseStep",
    "PrometheusProvider",
    "Provider",
    "RollbackPolicy",
    "RolloutPolicySpec",
    "SecretKeyRef",
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

MAX_URL_BYTES = 8192  # RFC 9110 asks every party to support request lines of 8000 octets
MAX_HEADER_BYTES = 8192  # common servers' limit on one header line (nginx: 8k)
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 §5.6.2
_SET_BY_CLIENT = frozenset({"content-length", "transfer-encoding"})  # framing: a GET has no body
_ENV_VAR = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})
_CREDENTIAL_WORDS = ("token", "secret", "key", "password", "passwd", "auth", "credential")


def _check_open_unit(value: float) -> float:
    if not 0 < value < 1:
        raise PydanticCustomError("open_unit", "must be between 0 and 1 (exclusive)")
    return value


def _check_ratio(value: float) -> float:
    if value < 1:
        raise PydanticCustomError("ratio", "must be at least 1")
    return value


def _url_problem(value: str, *, templated: bool) -> str | None:
    """Why `value` is not an http(s) URL a request can be made to, or None."""
    if not value.startswith(("http://", "https://")):
        return "must be an http:// or https:// URL"
    problem = base.text_problem(value, base.CONTROLS)
    if problem is not None:
        return problem
    size = base.utf8_size(value)
    if size > MAX_URL_BYTES:
        return base.too_large(size, MAX_URL_BYTES)
    # Spaces are allowed inside `{{ service }}` placeholders only.
    outside = templates.PLACEHOLDER.sub("x", value) if templated else value
    if " " in outside:
        return "must not contain a space (write it %20)"
    try:
        parts = urllib.parse.urlsplit(outside)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError as exc:
        return f"is not a valid URL: {exc}"
    if not parts.hostname:
        return "must name a host: http://HOST[:PORT]/PATH"
    return None


def _check_http_url(value: str) -> str:
    problem = _url_problem(value, templated=False)
    if problem is not None:
        raise PydanticCustomError("url", "{message}", {"message": problem})
    return value


def _check_templated_url(value: str) -> str:
    problem = _url_problem(value, templated=True)
    if problem is not None:
        raise PydanticCustomError("url", "{message}", {"message": problem})
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
TemplatedUrl = Annotated[str, AfterValidator(_check_templated_url), AfterValidator(_check_template)]


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


def _check_env_var(value: str) -> str:
    if not _ENV_VAR.fullmatch(value):
        raise PydanticCustomError(
            "env_var",
            "{value} is not an environment variable name: letters, digits and '_', not"
            " starting with a digit",
            {"value": repr(value)},
        )
    return value


def _check_absolute(value: str) -> str:
    if not value.startswith("/"):
        raise PydanticCustomError(
            "absolute", "must be an absolute path (got {value})", {"value": repr(value)}
        )
    return value


def _check_secret_key(value: str) -> str:
    if len(value) > 253 or not _SECRET_KEY.fullmatch(value):
        raise PydanticCustomError(
            "secret_key",
            "{value} is not a Secret key: at most 253 letters, digits, '-', '_' or '.'",
            {"value": repr(value)},
        )
    return value


def _check_header_name(value: str) -> str:
    if not _TOKEN.fullmatch(value):
        raise PydanticCustomError(
            "header_name",
            "{value} is not an HTTP header name: letters, digits and !#$%&'*+-.^_`|~ only"
            " (RFC 9110)",
            {"value": repr(value)},
        )
    if value.lower() in _SET_BY_CLIENT:
        raise PydanticCustomError(
            "header_name",
            "{value} frames the request body and is set by the HTTP client; remove it",
            {"value": repr(value)},
        )
    return value


class SecretKeyRef(base.ApiModel):
    """A key of a Kubernetes Secret in the release's namespace (kubernetes platform)."""

    name: base.Subdomain
    key: Annotated[str, AfterValidator(_check_secret_key)]


class ValueFrom(base.ApiModel):
    """Where a credential is read from when a measurement is taken — never stored in the
    policy nor copied into releases: exactly one of `env` (a variable of the
    controller's environment), `file` (an absolute path the controller can read, e.g. a
    mounted Secret) or `secretKeyRef` (a Secret's key, on the kubernetes platform)."""

    env: Annotated[str, AfterValidator(_check_env_var)] | None = None
    file: Annotated[str, base.checked_text(base.NUL), AfterValidator(_check_absolute)] | None = None
    secret_key_ref: SecretKeyRef | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ValueFrom:
        given = [f for f in ("env", "file", "secret_key_ref") if getattr(self, f) is not None]
        if len(given) != 1:
            raise PydanticCustomError(
                "value_from",
                "valueFrom needs exactly one of env, file, secretKeyRef (got {got})",
                {"got": ", ".join(to_camel(f) for f in given) or "none"},
            )
        return self

    def describe(self) -> str:
        """Where the value comes from, for `validate --explain` (never the value)."""
        if self.env is not None:
            return f"from env {self.env}"
        if self.file is not None:
            return f"from file {self.file}"
        assert self.secret_key_ref is not None
        ref = self.secret_key_ref
        return f"from secret {ref.name} key {ref.key}"


class HeaderValue(base.ApiModel):
    """A header whose value is a credential, read when the measurement is taken."""

    value_from: ValueFrom


_check_literal_header = base.text_check(base.CONTROLS.replace("\t", ""), max_bytes=MAX_HEADER_BYTES)


def _header_value(value: Any, handler: ValidatorFunctionWrapHandler) -> str | HeaderValue:
    """A literal string or `{valueFrom: …}`, each checked at its own path.

    (The plain union would report a mistake twice, once per member, under the
    members' type names.)"""
    del handler  # both members are validated here, at the header's own path
    if isinstance(value, str):
        return _check_literal_header(value)
    if isinstance(value, dict | HeaderValue):
        return HeaderValue.model_validate(value)
    raise PydanticCustomError(
        "header_value", "must be a string or {valueFrom: {env | file | secretKeyRef}}"
    )


HeaderName = Annotated[str, AfterValidator(_check_header_name)]
HeaderEntry = Annotated[
    str | HeaderValue,
    WrapValidator(_header_value),
    WithJsonSchema(
        {
            "description": "a literal value, or {valueFrom: {env | file | secretKeyRef}}",
            "x-kubernetes-preserve-unknown-fields": True,
        }
    ),
]


class WebProvider(base.ApiModel):
    """HTTP GET returning JSON; `jsonPath` (e.g. `$.data.errorRate`) selects the number.

    `headers`: name → a literal value, or `{valueFrom: {env | file | secretKeyRef}}`
    for credentials (resolved at measurement time, never stored)."""

    url: TemplatedUrl
    json_path: str = "$"
    timeout: durations.PositiveDuration = timedelta(seconds=10)
    headers: dict[HeaderName, HeaderEntry] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _rules(self) -> WebProvider:
        found = []
        seen: dict[str, str] = {}
        for name in self.headers:
            first = seen.setdefault(name.lower(), name)
            if first != name:
                found.append(
                    problems.Problem(
                        ("headers", name),
                        f"duplicate header: {first!r} is the same name (HTTP names ignore case)",
                    )
                )
        problems.raise_problems("WebProvider", found)
        return self


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
    min_samples: base.Count = 0
    failure_limit: base.Count | None = None

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
    failure_limit: base.Count = 1
    inconclusive_limit: base.Count = 8
    consecutive_error_limit: base.Count = 4
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
    retries: base.Count = 2


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
    if spec.webhooks:
        found.append(
            problems.Problem(
                ("webhooks",),
                "not supported in this version: no webhook is called yet, so a gate here"
                " would not gate; remove spec.webhooks",
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


def is_credential_name(name: str) -> bool:
    """True for a header or query parameter name that usually carries a credential."""
    lowered = name.lower()
    return lowered in _CREDENTIAL_HEADERS or any(w in lowered for w in _CREDENTIAL_WORDS)


LITERAL_CREDENTIAL = (
    "a literal credential is stored in the policy and copied into every release;"
    " use valueFrom (env, file or secretKeyRef)"
)


def _url_credentials(url: str) -> str | None:
    """What of a URL looks like a credential (`user:pass@`, `?token=…`), or None."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return None
    if "@" in parts.netloc:
        return "credentials before its host (user:pass@host)"
    names = [
        name
        for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        if value and is_credential_name(name) and not templates.variables_in(value)
    ]
    if names:
        return f"the query parameter {names[0]!r}"
    return None


def _url_warning(url: str) -> str | None:
    what = _url_credentials(url)
    if what is None:
        return None
    return (
        f"the URL holds {what}: a literal credential is stored in the policy and copied"
        " into every release; use a header with valueFrom (env, file or secretKeyRef)"
    )


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
            message = _url_warning(web.url)
            if message is not None:
                found.append(problems.Problem((*loc, "web", "url"), message))
        if prometheus is not None:
            message = _url_warning(prometheus.address)
            if message is not None:
                found.append(problems.Problem((*loc, "prometheus", "address"), message))
    for i, hook in enumerate(spec.webhooks):
        message = _url_warning(hook.url)
        if message is not None:
            found.append(problems.Problem(("webhooks", i, "url"), message))
    return found


def redact_url(url: str) -> str:
    """The URL with its user part and credential-like query values replaced by `***`."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    pieces = []
    for raw in parts.query.split("&") if parts.query else []:
        name, equals, value = raw.partition("=")
        credential = equals and value and is_credential_name(urllib.parse.unquote_plus(name))
        pieces.append(f"{name}=***" if credential else raw)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, query="&".join(pieces)))
