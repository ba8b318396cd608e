"""How each step is judged: metrics, their providers, their gates and the limits.

A metric names one provider (`local`, `prometheus`, `web`) and at least one gate:
absolute `thresholds` (min/max, no expressions) and/or `compare` against the stable
revision. A metric without a gate would silently pass, so it is an error.

Limits follow Argo's names and meaning: a metric fails when failed measurements
*exceed* `failureLimit` (failureLimit 1 tolerates one failure and fails on the
second). Limits and counts are 32-bit (at most 2147483647), as in Kubernetes.

Pure models; no I/O. URLs and headers are the field types of `endpoints`. Used
through `policyspec`.
"""

from __future__ import annotations

import enum
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from rollout.api import base, durations, endpoints, problems

__all__ = [
    "LATENCY_STATS",
    "QUANTILES",
    "Analysis",
    "BasicAuth",
    "Compare",
    "CompareMethod",
    "LocalProvider",
    "LocalStat",
    "Metric",
    "PrometheusCounts",
    "PrometheusProvider",
    "Provider",
    "Thresholds",
    "WebProvider",
]


def _check_open_unit(value: float) -> float:
    if not 0 < value < 1:
        raise PydanticCustomError("open_unit", "must be between 0 and 1 (exclusive)")
    return value


def _check_ratio(value: float) -> float:
    if value < 1:
        raise PydanticCustomError("ratio", "must be at least 1")
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


class LocalStat(enum.StrEnum):
    """Per-revision statistics of the local proxy over the metric's window."""

    REQUESTS = "requests"
    ERRORS = "errors"
    ERROR_RATE = "error_rate"
    LATENCY_P50 = "latency_p50"
    LATENCY_P90 = "latency_p90"
    LATENCY_P99 = "latency_p99"


LATENCY_STATS = frozenset({LocalStat.LATENCY_P50, LocalStat.LATENCY_P90, LocalStat.LATENCY_P99})
#: The quantile of each latency stat (which share of the stable's requests is fast).
QUANTILES = {LocalStat.LATENCY_P50: 0.5, LocalStat.LATENCY_P90: 0.9, LocalStat.LATENCY_P99: 0.99}


class LocalProvider(base.ApiModel):
    stat: LocalStat
    """The local proxy's statistic: requests, errors, error_rate, latency_p50, latency_p90 or
    latency_p99."""


class PrometheusCounts(base.ApiModel):
    """Cumulative request counters of one revision (`{{revision}}`), for `compare`:
    `requests` counts every request, `errors` the failed ones — selectors or sums of
    counters (`my_requests_total{app="{{service}}", version="{{revision}}"}`), read at
    two instants; each series' increase is summed (a reset counts from 0). A reading
    ends `delay` before now (what Prometheus has surely stored: a sample is stored up to
    the scrape timeout, 10 s by default, after the instant it is stamped with)."""

    requests: endpoints.Template
    """A PromQL selector (or sum) of the revision's request counters ({{revision}} is
    substituted)."""
    errors: endpoints.Template
    """A PromQL selector (or sum) of the revision's failed-request counters."""
    delay: durations.Duration = timedelta(seconds=15)
    """A reading ends this long before now, for what Prometheus has surely stored."""


class BasicAuth(base.ApiModel):
    """HTTP basic auth: a user name, and where its password is read from at measurement
    time (env, a file or a Secret; never stored)."""

    username: Annotated[str, base.checked_text(base.NUL)]
    """The user name."""
    password_from: endpoints.ValueFrom
    """Where the password is read from at measurement time: env, file or secretKeyRef."""

    @model_validator(mode="after")
    def _rules(self) -> BasicAuth:
        if not self.username or ":" in self.username or not self.username.isprintable():
            raise PydanticCustomError(
                "basic_auth", "username must be printable text without ':' (RFC 7617)"
            )
        return self


class PrometheusProvider(base.ApiModel):
    """A PromQL query; `{{variables}}` are substituted and escaped at measurement time.

    As Prometheus is run: `headers` (e.g. `X-Scope-OrgID` for a Mimir or Cortex
    tenant; a value or `{valueFrom: …}`), `bearerTokenFrom` (sent as `Authorization:
    Bearer <token>`, read at measurement time from env, a file or a Secret),
    `basicAuth` (`{username, passwordFrom}`, sent as `Authorization: Basic …`) and
    `caFile` (a PEM bundle that verifies an https `address`). `samplesQuery`: the
    number of canary requests behind `query` over the window, so that `minSamples`
    can hold a threshold's verdict back until there are enough."""

    address: endpoints.HttpUrl
    """The Prometheus base URL (http or https)."""
    query: endpoints.Template | None = None  # one value: what `thresholds` judge
    """A PromQL query giving one value, judged by thresholds; {{variables}} are substituted and
    escaped."""
    # one value: the canary's requests behind `query` (what `minSamples` is held against)
    samples_query: endpoints.Template | None = None
    """A PromQL query giving the canary's requests behind query, held against minSamples."""
    counts: PrometheusCounts | None = None  # what `compare` judges
    """Request and error counters of each revision, judged by compare."""
    timeout: durations.PositiveDuration = timedelta(seconds=10)
    """How long one query may take."""
    headers: dict[endpoints.HeaderName, endpoints.HeaderEntry] = Field(default_factory=dict)
    """Headers sent with each query: a literal value, or {valueFrom: ...} for a credential."""
    bearer_token_from: endpoints.ValueFrom | None = None
    """Where a bearer token is read from at measurement time (sent as Authorization: Bearer)."""
    basic_auth: BasicAuth | None = None
    """HTTP basic auth: a user name and where its password is read from."""
    ca_file: endpoints.AbsolutePath | None = None
    """A PEM bundle that verifies an https address."""

    @model_validator(mode="after")
    def _rules(self) -> PrometheusProvider:
        found = endpoints.header_problems(self.headers)
        if self.query is None and self.counts is None:
            found.append(
                problems.Problem(
                    ("query",), "give query (for thresholds), counts (for compare), or both"
                )
            )
        if self.bearer_token_from is not None and any(
            name.lower() == "authorization" for name in self.headers
        ):
            found.append(
                problems.Problem(
                    ("bearerTokenFrom",),
                    "give bearerTokenFrom or an Authorization header, not both",
                )
            )
        if self.basic_auth is not None and (
            self.bearer_token_from is not None
            or any(name.lower() == "authorization" for name in self.headers)
        ):
            found.append(
                problems.Problem(
                    ("basicAuth",),
                    "give one credential: basicAuth, bearerTokenFrom or an Authorization header",
                )
            )
        if self.ca_file is not None and not self.address.startswith("https://"):
            found.append(problems.Problem(("caFile",), "a CA bundle verifies an https address"))
        problems.raise_problems("PrometheusProvider", found)
        return self


class WebProvider(base.ApiModel):
    """HTTP GET returning JSON; `jsonPath` (e.g. `$.data.errorRate`) selects the number.

    `headers`: name → a literal value, or `{valueFrom: {env | file | secretKeyRef}}`
    for credentials (resolved at measurement time, never stored)."""

    url: endpoints.TemplatedUrl
    """The URL read with GET; it answers JSON. {{variables}} are substituted."""
    json_path: str = "$"
    """Selects the number in the answer, e.g. $.data.errorRate."""
    timeout: durations.PositiveDuration = timedelta(seconds=10)
    """How long one request may take."""
    headers: dict[endpoints.HeaderName, endpoints.HeaderEntry] = Field(default_factory=dict)
    """Headers sent with each request: a literal value, or {valueFrom: ...} for a credential."""

    @model_validator(mode="after")
    def _rules(self) -> WebProvider:
        problems.raise_problems("WebProvider", endpoints.header_problems(self.headers))
        return self


class Provider(base.ApiModel):
    """Where a metric comes from: exactly one of `local`, `prometheus`, `web`."""

    local: LocalProvider | None = None
    """The local platform's proxy statistics."""
    prometheus: PrometheusProvider | None = None
    """A Prometheus query."""
    web: WebProvider | None = None
    """A JSON HTTP endpoint."""

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
    """The lowest value that passes."""
    max: base.Float | None = None
    """The highest value that passes."""

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

    `sequential`: an anytime-valid test on counts (false rollbacks ≤ alpha however
    often it looks) — of failed requests for an `errors`/`error_rate` stat, of *slow*
    requests for a `latency_p50|p90|p99` stat: slower than the stable's p50/p90/p99
    before the release (or than `slowerThan`, given); `mann-whitney`: latency samples.
    `maxRatio` is the tolerated canary/stable ratio (of error rates, or of shares of
    slow requests). `history` (sequential only): also compare with the stable's
    requests and errors (or slow requests) over this window before the release
    started, while the stable still behaves as it did then — more evidence per failed
    request when the stable's errors are rare.
    """

    against: Literal["stable"] = "stable"
    """What the canary is compared with: stable."""
    method: CompareMethod = CompareMethod.SEQUENTIAL
    """sequential (an anytime-valid test on counts of failed or slow requests) or mann-whitney
    (latency samples)."""
    alpha: Probability = 0.01
    """The tolerated chance of a false rollback, between 0 and 1."""
    max_ratio: Ratio = 2.0
    """The tolerated canary/stable ratio of error rates (or of shares of slow requests), at least
    1."""
    history: durations.PositiveDuration | None = None
    """Sequential only: also compare with the stable's requests over this window before the release
    started."""
    slower_than: durations.PositiveDuration | None = None
    """Sequential latency only: a request slower than this is slow (default: the stable's quantile
    before the release)."""

    @model_validator(mode="after")
    def _rules(self) -> Compare:
        found = []
        if self.history is not None and self.method is not CompareMethod.SEQUENTIAL:
            found.append(
                problems.Problem(
                    ("history",), "history applies to the sequential method only (error counts)"
                )
            )
        if self.slower_than is not None and self.method is not CompareMethod.SEQUENTIAL:
            found.append(
                problems.Problem(
                    ("slowerThan",),
                    "slowerThan applies to the sequential method only (counts of slow requests)",
                )
            )
        problems.raise_problems("Compare", found)
        return self


class Metric(base.ApiModel):
    name: base.Name
    """The metric's name, unique in the policy."""
    provider: Provider
    """Where the metric is read: exactly one of local, prometheus, web."""
    window: durations.PositiveDuration = timedelta(minutes=1)
    """The time range each measurement covers."""
    interval: durations.PositiveDuration | None = None
    """How often this metric is measured (default: the analysis interval)."""
    thresholds: Thresholds | None = None
    """Absolute gate: the value must be at least min and at most max."""
    compare: Compare | None = None
    """Relative gate: the canary against the stable revision."""
    min_samples: base.Count = 0
    """Canary requests needed before a reading counts; fewer is Inconclusive."""
    failure_limit: base.Count | None = None
    """Failed measurements tolerated in a step (default: the analysis failureLimit)."""

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
        found.extend(self._stat_problems())
        found.extend(self._provider_problems())
        problems.raise_problems("Metric", found)
        return self

    def _stat_problems(self) -> list[problems.Problem]:
        """What a local stat can be compared on (every field acts, or is refused)."""
        local, compare = self.provider.local, self.compare
        found: list[problems.Problem] = []
        if compare is None:
            return found
        latency = local is not None and local.stat in LATENCY_STATS
        where = ("provider", "local", "stat")
        if local is not None and compare.method is CompareMethod.SEQUENTIAL:
            if local.stat is LocalStat.REQUESTS:
                found.append(
                    problems.Problem(
                        where,
                        "a sequential comparison counts failed (errors) or slow (latency_p50,"
                        " latency_p90, latency_p99) requests, not requests",
                    )
                )
            if self.thresholds is not None:
                found.append(
                    problems.Problem(
                        ("thresholds",),
                        "a sequential comparison reads increments, thresholds a window:"
                        " make them two metrics",
                    )
                )
        if local is not None and compare.method is CompareMethod.MANN_WHITNEY and not latency:
            found.append(
                problems.Problem(where, "mann-whitney compares latency: use a latency_* stat")
            )
        if compare.slower_than is not None and not latency:
            found.append(
                problems.Problem(
                    ("compare", "slowerThan"),
                    "slowerThan says which requests are slow: it needs the local provider"
                    " with a latency_* stat",
                )
            )
        return found

    def _provider_problems(self) -> list[problems.Problem]:
        """What the provider must give for the gates (and no field read by none)."""
        prom, web = self.provider.prometheus, self.provider.web
        found = []
        if self.compare is not None and web is not None:
            found.append(
                problems.Problem(
                    ("compare",),
                    "compare needs request and error counts of both revisions: use the local"
                    " provider, or prometheus with counts; with web, gate with thresholds",
                )
            )
        if web is not None and self.min_samples:
            found.append(
                problems.Problem(
                    ("minSamples",),
                    "a web reading carries no request count, so minSamples could not act:"
                    " drop it, or gate on the endpoint's count with a second metric",
                )
            )
        if prom is None:
            return found
        where = ("provider", "prometheus")
        if self.compare is not None and prom.counts is None:
            found.append(
                problems.Problem(
                    (*where, "counts"),
                    "compare with prometheus reads counters: give counts.requests and"
                    " counts.errors (templates over {{revision}})",
                )
            )
        if self.compare is not None and self.compare.method is CompareMethod.MANN_WHITNEY:
            found.append(
                problems.Problem(
                    ("compare", "method"),
                    "mann-whitney needs latency samples, which Prometheus does not keep:"
                    " compare errors (sequential), or gate latency with thresholds",
                )
            )
        if self.thresholds is not None and prom.query is None:
            found.append(problems.Problem((*where, "query"), "thresholds judge a query: give one"))
        if self.thresholds is None and prom.query is not None:
            found.append(
                problems.Problem(
                    (*where, "query"), "a query is judged only by thresholds: add them or drop it"
                )
            )
        if self.thresholds is not None and self.min_samples and prom.samples_query is None:
            found.append(
                problems.Problem(
                    ("minSamples",),
                    "minSamples needs the requests behind the query: give"
                    " provider.prometheus.samplesQuery (e.g. the canary's request count"
                    " over {{window}})",
                )
            )
        if prom.samples_query is not None and self.thresholds is None:
            found.append(
                problems.Problem(
                    (*where, "samplesQuery"),
                    "samplesQuery counts the requests behind a threshold's query: add"
                    " thresholds or drop it",
                )
            )
        if self.compare is None and prom.counts is not None:
            found.append(
                problems.Problem(
                    (*where, "counts"), "counts are read only by compare: add it or drop them"
                )
            )
        return found


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
    """How often metrics are measured."""
    failure_limit: base.Count = 1
    """A metric fails when its failed measurements in a step exceed this."""
    inconclusive_limit: base.Count = 8
    """Inconclusive measurements tolerated; then the release pauses for a human."""
    consecutive_error_limit: base.Count = 4
    """Provider errors in a row tolerated; then the release pauses."""
    advance_early: base.Bool = False
    """An analysis step may end before its duration when every metric it gates has passed
    decisively."""
    metrics: list[Metric] = Field(default_factory=list, max_length=64)
    """The metrics measured; names are unique."""

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
