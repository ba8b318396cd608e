"""Where request counts live in Prometheus, for the counters people already have.

A `Preset` is a small data table: the request counter, the label that names the
revision and the one that holds the status (with the regex of failed statuses), the
label matchers that keep a service's series (templates over `{{service}}` and
`{{namespace}}`), and the latency histogram with its unit. `series_query(preset, …)`
is the instant query that returns every series of a release's two revisions, one
value per series (`analysis.counters` turns two of them into exact increments).

- `rollout-proxy`: `rollout_proxy_requests_total`, revision in `revision`, status
  `code` (failed: `5xx|error`), histogram `rollout_proxy_request_duration_seconds` (s);
- `istio`: `istio_requests_total`, `destination_workload`, `response_code` (`5..`),
  `istio_request_duration_milliseconds` (ms);
- `linkerd`: `response_total`, `deployment`, `classification` (`failure`),
  `response_latency_ms` (ms);
- `knative`: `revision_app_request_count`, `revision_name`, `response_code_class`
  (`5xx`), `revision_app_request_latencies` (ms).

Revisions must carry what the preset selects on: on Kubernetes each revision is a
Deployment named after the revision (Istio's `destination_workload`, Linkerd's
`deployment`); Knative names revisions itself; the local proxy labels its own series.

Every value put into a query is escaped twice over: as a regular expression
(`re.escape`, for `=~` matchers) and as the body of a PromQL string
(`rendering.escape_promql`) — so a hostile name never changes the query's structure.

Pure; no I/O. Used by the prometheus provider's comparisons (issue 16).
"""

from __future__ import annotations

import dataclasses
import re

from rollout.analysis.providers import rendering

__all__ = ["PRESETS", "Preset", "series_query"]


@dataclasses.dataclass(frozen=True)
class Preset:
    name: str
    requests: str  # the cumulative request counter
    revision_label: str
    status_label: str
    failed: str  # regex of failed statuses (fully matched)
    selector: tuple[tuple[str, str], ...]  # label → value template ({{service}}, {{namespace}})
    histogram: str  # the latency histogram's base name (…_bucket, …_count)
    seconds_per_unit: float  # the histogram's unit, in seconds


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "rollout-proxy",
            "rollout_proxy_requests_total",
            "revision",
            "code",
            "5xx|error",
            (("namespace", "{{namespace}}"), ("service", "{{service}}")),
            "rollout_proxy_request_duration_seconds",
            1.0,
        ),
        Preset(
            "istio",
            "istio_requests_total",
            "destination_workload",
            "response_code",
            "5..",
            (("destination_workload_namespace", "{{namespace}}"), ("reporter", "destination")),
            "istio_request_duration_milliseconds",
            0.001,
        ),
        Preset(
            "linkerd",
            "response_total",
            "deployment",
            "classification",
            "failure",
            (("namespace", "{{namespace}}"), ("direction", "inbound")),
            "response_latency_ms",
            0.001,
        ),
        Preset(
            "knative",
            "revision_app_request_count",
            "revision_name",
            "response_code_class",
            "5xx",
            (("namespace_name", "{{namespace}}"), ("service_name", "{{service}}")),
            "revision_app_request_latencies",
            0.001,
        ),
    )
}


def series_query(preset: Preset, *, namespace: str, service: str, revisions: list[str]) -> str:
    """The instant query returning every request series of `revisions` (one value each)."""
    values = {"namespace": namespace, "service": service}
    matchers = [
        f'{label}="{rendering.render_promql(template, values)}"'
        for label, template in preset.selector
    ]
    wanted = "|".join(re.escape(r) for r in revisions)
    matchers.append(f'{preset.revision_label}=~"{rendering.escape_promql(wanted)}"')
    return f"{preset.requests}{{{', '.join(matchers)}}}"
