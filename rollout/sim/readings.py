"""Metric readings from a simulated world, shaped as a provider would return them.

One function, `read(metric, world, origin=…, measured_until=…, slower_than=…)`, used by the
simulator's `PolicyRunner` and by the controller's rehearsal platform (`--platform
sim`), so a policy reads the same numbers in `rollout simulate` and in a rehearsal.
World time 0 is the datetime `origin`.

Readings per provider (only the `local` provider can be simulated):
- `compare: sequential` on `errors`/`error_rate`: request and error counts of both
  revisions since `measured_until` (an increment, never overlapping), and with
  `compare.history` the stable's counts over that window before the release (world
  time 0) as `baseline`;
- thresholds on `error_rate`, `errors`, `requests`, `latency_p50|p90|p99`: the canary's
  value over the metric's `window` (from `not_before` at the earliest: a retried
  release's fresh data), with the number of requests behind it;
- `compare: sequential` on `latency_p50|p90|p99`: the same increments of requests and
  *slow* requests (slower than `slower_than` from earlier readings, else the policy's
  `slowerThan`, else the stable's quantile before the release), with a history's
  slow requests as `baseline`; on Prometheus the bound is rounded up to a histogram
  bucket, as our Prometheus reader does;
- `compare: mann-whitney` on latency stats: latency samples of both revisions over the
  window (an Error reading on Prometheus, which keeps no samples).

On a world with a `Prometheus` model the reader also waits the model's `query_delay`
(the scrape delay of our Prometheus reader) before data counts.

No I/O, no clock: time comes from the world.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from rollout.analysis import measurement
from rollout.api import policyspec
from rollout.sim import world

__all__ = ["read"]

_QUANTILES = policyspec.QUANTILES
_MAX_LATENCY_SAMPLES = 200


def read(
    metric: policyspec.Metric,
    w: world.World,
    *,
    origin: datetime,
    measured_until: datetime | None,
    slower_than: float | None = None,
    not_before: datetime | None = None,
) -> measurement.Measurement:
    """One reading of `metric` at the world's current time, behind its scrape delay;
    a window starts no earlier than `not_before` (a retried release's fresh data)."""
    now = origin + timedelta(seconds=w.now)
    if metric.provider.local is None:
        return measurement.Measurement(
            metric=metric.name,
            at=now,
            error=f"the {metric.provider.kind} provider cannot be simulated",
        )
    stat = metric.provider.local.stat
    prom = w.prometheus
    visible_end = w.now - w.scrape_delay - (prom.query_delay if prom is not None else 0.0)
    until = origin + timedelta(seconds=max(visible_end, 0.0))
    if metric.compare is not None and metric.compare.method is policyspec.CompareMethod.SEQUENTIAL:
        since = (measured_until - origin).total_seconds() if measured_until is not None else 0.0
        if stat in _QUANTILES:
            return _slow(metric, metric.compare, w, now, until, since, visible_end, slower_than)
        c_req, c_err = w.counts("canary", since, visible_end)
        s_req, s_err = w.counts("stable", since, visible_end)
        baseline = None
        if metric.compare.history is not None:
            h_req, h_err = w.history_counts(-metric.compare.history.total_seconds(), 0.0)
            baseline = measurement.Counts(h_req, h_err)
        return measurement.Measurement(
            metric=metric.name,
            at=now,
            until=until,
            value=None,
            canary=measurement.Counts(c_req, c_err),
            stable=measurement.Counts(s_req, s_err),
            baseline=baseline,
        )
    if metric.compare is not None and prom is not None:  # mann-whitney
        return measurement.Measurement(
            metric=metric.name,
            at=now,
            error="latency samples (mann-whitney) are not in Prometheus",
        )
    start = w.now - metric.window.total_seconds()
    if not_before is not None:
        start = max(start, (not_before - origin).total_seconds())
    requests, errors = w.counts("canary", start, w.now)
    value: float | None
    if stat is policyspec.LocalStat.REQUESTS:
        value = float(requests)
    elif stat is policyspec.LocalStat.ERRORS:
        value = float(errors)
    elif stat is policyspec.LocalStat.ERROR_RATE:
        value = errors / requests if requests else None
    else:
        value = w.latency_quantile("canary", start, w.now, _QUANTILES[stat])
    canary_values: tuple[float, ...] = ()
    stable_values: tuple[float, ...] = ()
    if metric.compare is not None:  # mann-whitney on latency samples
        canary_values = tuple(w.latency_sample("canary", start, w.now, _MAX_LATENCY_SAMPLES))
        stable_values = tuple(w.latency_sample("stable", start, w.now, _MAX_LATENCY_SAMPLES))
    return measurement.Measurement(
        metric=metric.name,
        at=now,
        until=until,
        value=value,
        samples=requests,
        canary_values=canary_values,
        stable_values=stable_values,
    )


def _slow(
    metric: policyspec.Metric,
    compare: policyspec.Compare,
    w: world.World,
    now: datetime,
    until: datetime,
    since: float,
    end: float,
    slower_than: float | None,
) -> measurement.Measurement:
    """Requests and slow requests of both revisions since `since` (the module)."""
    assert metric.provider.local is not None
    bound = slower_than
    if bound is None:
        bound = (
            compare.slower_than.total_seconds()
            if compare.slower_than is not None
            else w.history_latency_quantile(_QUANTILES[metric.provider.local.stat])
        )
        if w.prometheus is not None:
            rounded = w.prometheus.bucket_at_or_above(bound)
            if rounded is None:
                return measurement.Measurement(
                    metric=metric.name, at=now, error=f"no histogram bucket at or above {bound:g} s"
                )
            bound = rounded
    canary = measurement.Counts(*w.slow_counts("canary", since, end, bound))
    stable = measurement.Counts(*w.slow_counts("stable", since, end, bound))
    baseline = None
    if compare.history is not None:
        baseline = measurement.Counts(
            *w.history_slow_counts(-compare.history.total_seconds(), 0.0, bound)
        )
    return measurement.Measurement(
        metric=metric.name,
        at=now,
        until=until,
        canary=canary,
        stable=stable,
        baseline=baseline,
        slower_than=bound,
    )
