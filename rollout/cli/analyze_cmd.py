"""`rollout analyze SERVICE`: run a service's metrics once, now, and say what each one
asked, got and would decide — the answer to "why is my metric Inconclusive / no data?".

The policy is the current release's (the snapshot it runs under), else the one the
Service names; the canary is the release's canary (else the latest ready revision),
the stable the release's stable (else the service's). Each metric is measured as the
controller would measure it — the same providers, credentials read now — over its
window ending now (a fresh look, not the release's cursor), then judged by `evaluate`
(a sequential comparison from no earlier evidence). For each metric it prints:

- what was asked: the rendered PromQL, the web URL, or the local stat and window (and,
  for `local` metrics, where the counts come from: the local proxy, or Prometheus with
  `--metrics prometheus --prometheus-url URL [--preset NAME]`);
- what came back: the value (with the requests behind it), the counts of both
  revisions, "no data", or the provider's error;
- the verdict and its reason.

`-o json`: one object per metric. Exit 0 when every metric could be read (whatever
the verdicts) or there is none, 1 when a reading was an Error, 2 on bad options. It only reads: the
store read-only, nothing written anywhere.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click

from rollout.analysis import evaluate, measurement
from rollout.analysis.providers import dispatch, presets, promstats, rendering
from rollout.api import policyspec, release, rolloutpolicy, service
from rollout.cli import common
from rollout.platforms import local
from rollout.platforms.local.proxy import client as proxy_client
from rollout.store import errors

__all__ = ["analyze_command"]


@click.command("analyze")
@click.argument("service_name", metavar="SERVICE")
@click.option("--metric", "only", default=None, help="Only this metric.")
@click.option(
    "--metrics",
    "metrics_source",
    type=click.Choice(["proxy", "prometheus"]),
    default=None,
    help="Where `local` metrics read request stats (as `rollout controller --metrics`).",
)
@click.option("--prometheus-url", default=None, help="--metrics prometheus: its HTTP API.")
@click.option(
    "--preset",
    type=click.Choice(sorted(presets.PRESETS)),
    default=None,
    help="--metrics prometheus: whose counters (default rollout-proxy).",
)
@click.option(
    "--scrape-delay",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="--metrics prometheus: end the look this many seconds before now.",
)
@common.state_options(output=True, store="read")
def analyze_command(
    service_name: str,
    only: str | None,
    metrics_source: str | None,
    prometheus_url: str | None,
    preset: str | None,
    scrape_delay: float,
    opts: common.Options,
) -> None:
    """Run a service's metrics once, now: each query, what came back, the verdict."""
    svc, rel = _read(opts, service_name)
    policy = _policy(opts, svc, rel)
    metrics = list(policy.analysis.metrics) if policy.analysis else []
    if only is not None:
        metrics = [m for m in metrics if m.name == only]
        if not metrics:
            common.fail(f"the policy of {service_name} has no metric {only!r}", code=2)
    if not metrics:
        click.echo(f"the policy of {service_name} has no metrics: nothing to analyze")
        return
    canary = rel.spec.canary_revision if rel else svc.status.latest_ready_revision
    stable = rel.spec.stable_revision if rel else svc.status.stable_revision
    if canary is None:
        common.fail(f"service {service_name} has no ready revision yet")
    source, where = _source(opts, metrics_source, prometheus_url, preset, scrape_delay)
    provider = dispatch.Providers(source, secrets=common.secret_reader(opts))
    now = opts.clock.now()
    rows = [_analyze(provider, m, svc, canary, stable, now, where) for m in metrics]
    provider.close()
    if opts.output == "json":
        for row in rows:
            click.echo(json.dumps(row))
    else:
        click.echo(f"{service_name}: canary {canary}, stable {stable or '—'}, at {now:%H:%M:%S}")
        for row in rows:
            click.echo(_text(row))
    raise SystemExit(1 if any(r["verdict"] == "Error" for r in rows) else 0)


def _read(opts: common.Options, name: str) -> tuple[service.Service, release.Release | None]:
    """The Service and its release while it runs (a finished one judges nothing now)."""
    svc, rel = common.service_and_release(opts, name)
    if rel is not None and rel.status.phase in release.TERMINAL_PHASES:
        rel = None
    return svc, rel


def _policy(
    opts: common.Options, svc: service.Service, rel: release.Release | None
) -> policyspec.RolloutPolicySpec:
    if rel is not None:
        return rel.spec.policy
    if svc.spec.policy is None:
        common.fail(f"service {svc.metadata.name} has no policy (it rolls out at once)")
    try:
        found = opts.store.get("RolloutPolicy", opts.namespace, svc.spec.policy)
    except errors.NotFound:
        common.fail(f"policy {svc.spec.policy!r} of {svc.metadata.name} does not exist")
    assert isinstance(found, rolloutpolicy.RolloutPolicy)
    return found.spec


def _source(
    opts: common.Options,
    source: str | None,
    url: str | None,
    preset: str | None,
    scrape_delay: float,
) -> tuple[dispatch.StatsSource | None, str]:
    """Where `local` metrics read request stats, and how to say so."""
    if source == "prometheus":
        if url is None:
            common.fail("--metrics prometheus needs --prometheus-url", code=2)
        chosen = presets.PRESETS[preset or "rollout-proxy"]
        stats = promstats.PrometheusStats(url, chosen, scrape_delay=scrape_delay)
        return stats, f"Prometheus at {url} ({chosen.name} preset)"
    if url is not None or preset is not None:
        common.fail("--prometheus-url and --preset go with --metrics prometheus", code=2)
    if opts.backend == "kubernetes":
        return None, "no local stats on a cluster (--metrics prometheus …)"
    state = proxy_client.read_state(opts.state_dir)
    if state is None:
        return None, "no local proxy running in this state dir"
    proxy = proxy_client.ProxyClient(state[1])
    return local.ProxyStats(lambda: proxy), f"the local proxy at {state[1]}"


def _analyze(
    provider: dispatch.Providers,
    metric: policyspec.Metric,
    svc: service.Service,
    canary: str,
    stable: str | None,
    now: datetime,
    where: str,
) -> dict[str, Any]:
    ns = svc.metadata.namespace or "default"
    ctx = measurement.MeasureContext(
        namespace=ns,
        service=svc.metadata.name,
        stable=stable,
        canary=canary,
        now=now,
        measured_until=now - metric.window,
    )
    reading = provider.measure(metric, ctx)
    result = evaluate.evaluate(metric, reading, None)
    row: dict[str, Any] = {
        "metric": metric.name,
        "provider": metric.provider.kind,
        "asked": _asked(metric, ctx, where),
        "value": reading.value,
        "samples": reading.samples,
        "canary": _counts(reading.canary),
        "stable": _counts(reading.stable),
        "error": reading.error,
        "verdict": result.verdict.value,
        "reason": result.reason,
    }
    return row


def _asked(metric: policyspec.Metric, ctx: measurement.MeasureContext, where: str) -> str:
    values = rendering.variables_for(ctx, metric.window)
    if metric.provider.prometheus is not None:
        spec = metric.provider.prometheus
        asked = []
        try:
            if spec.query is not None:
                asked.append(rendering.render_promql(spec.query, values))
            if spec.samples_query is not None:
                asked.append(f"samples: {rendering.render_promql(spec.samples_query, values)}")
            if spec.counts is not None:
                for what, template in (("requests", spec.counts.requests),
                                       ("errors", spec.counts.errors)):  # fmt: skip
                    asked.append(f"{what}: {rendering.render_promql(template, values)}")
        except ValueError as exc:
            return f"the query template: {exc}"
        return f"{'; '.join(asked)}  (at {spec.address})"
    if metric.provider.web is not None:
        try:
            return f"GET {rendering.render_url(metric.provider.web.url, values)}"
        except ValueError as exc:
            return f"the URL template: {exc}"
    assert metric.provider.local is not None
    window = rendering.promql_duration(metric.window)
    return f"{metric.provider.local.stat.value} of {ctx.canary} over {window}, from {where}"


def _counts(counts: measurement.Counts | None) -> dict[str, int] | None:
    return None if counts is None else {"requests": counts.requests, "errors": counts.errors}


def _text(row: dict[str, Any]) -> str:
    got: str
    if row["error"] is not None:
        got = f"error: {row['error']}"
    elif row["canary"] is not None:
        c, s = row["canary"], row["stable"] or {"requests": 0, "errors": 0}
        got = (
            f"canary {c['errors']}/{c['requests']} failed, stable {s['errors']}/"
            f"{s['requests']} failed"
        )
    elif row["value"] is None:
        got = "no data"
    else:
        behind = f" ({row['samples']} requests)" if row["samples"] is not None else ""
        got = f"{row['value']:g}{behind}"
    return (
        f"\n{row['metric']} ({row['provider']})\n  asked: {row['asked']}\n  got:   {got}\n"
        f"  verdict: {row['verdict']} — {row['reason']}"
    )
