"""The `local` metric provider: readings from the local proxy's per-revision stats.

The proxy keeps windowed stats per revision; a `StatsSource` (the proxy's admin
client) answers `stats(namespace, service, revision, since=, until=, samples=)` over
whole wall-clock unix seconds [since, until) with
`{"requests", "errors", "codes", "latency": {"p50","p90","p99"} | None, "samples",
"since", "until"}`. This module only asks and reshapes; it codes against the
protocol, not the proxy.

Readings mirror `rollout.sim.readings` (the simulator and the rehearsal platform read
the same shapes), all of them over whole seconds ending at the last whole second
before `ctx.now`:
- `compare: sequential`: requests and errors of the canary and of the stable from
  `ctx.measured_until` (else the release start) — an increment, so no request is
  counted twice — with `until` set to where it ends; with `compare.history`, the
  stable's counts over that window before the release started as `baseline`;
- `compare: sequential` on a latency stat: the same, counting *slow* requests — the
  source's `timed` (requests with a latency) and `slow` (slower than the bound) when
  asked with `slower_than`. The bound is, in order: the one of earlier readings
  (`ctx.slower_than`), the policy's `compare.slowerThan`, else the stable's p50/p90/p99
  over `history` (or the metric's `window`) before the release started. A stable with
  no latency then gives the bound from its requests in this reading's increment, and
  the reading counts nothing (a bound chosen from data must not judge that data); no
  stable latency at all is no counts (Inconclusive). The reading says which bound it
  used (`slower_than`: the source may round it up to a histogram bucket);
- thresholds: the canary's `stat` over the metric's `window` (cut at
  `ctx.fresh_since`: a retried release or step counts nothing from before it), with
  the requests behind it as `samples` (`error_rate` with no requests is no data:
  `value` None);
- `compare: mann-whitney`: the same, plus latency samples of both revisions over the
  window.

When a source answers for a shorter range than asked (it keeps only so much), the
reading's `until` is the earliest end it reported, so the next increment starts
there. A failing source (any exception) or a malformed answer gives
`Measurement(error=…)` with the reason; nothing is raised.

No decisions (that is `evaluate`), no clock (time comes from the context).
Called by `Providers` for metrics whose provider is `local`.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, Protocol

from rollout.analysis import measurement
from rollout.api import policyspec

__all__ = ["MAX_LATENCY_SAMPLES", "LocalProvider", "StatsSource"]

MAX_LATENCY_SAMPLES = 200  # as the simulator: enough for Mann-Whitney, small to move
_LATENCY_KEYS = {
    policyspec.LocalStat.LATENCY_P50: "p50",
    policyspec.LocalStat.LATENCY_P90: "p90",
    policyspec.LocalStat.LATENCY_P99: "p99",
}


class StatsSource(Protocol):
    """The proxy's per-revision stats over whole unix seconds [since, until)."""

    def stats(
        self,
        namespace: str,
        service: str,
        revision: str,
        *,
        since: float,
        until: float,
        samples: int,
        slower_than: float | None = None,
    ) -> dict[str, Any]:
        """With `slower_than` (seconds), the answer also holds `timed` (requests with a
        latency), `slow` (of those, slower than the bound) and `slowerThan` (the bound
        used: the source may round it up to one of its histogram's bounds)."""
        ...


class _Malformed(Exception):
    """The source answered, but not with the documented shape."""


class LocalProvider:
    """A `MetricProvider` for `provider: {local: {stat}}` metrics."""

    def __init__(self, source: StatsSource) -> None:
        self._source = source

    def measure(
        self, metric: policyspec.Metric, ctx: measurement.MeasureContext
    ) -> measurement.Measurement:
        if metric.provider.local is None:
            return _error(metric, ctx, f"not a local metric (provider {metric.provider.kind})")
        try:
            if (
                metric.compare is not None
                and metric.compare.method is policyspec.CompareMethod.SEQUENTIAL
            ):
                return self._increment(metric, metric.compare, ctx)
            return self._window(metric, metric.provider.local.stat, ctx)
        except _Malformed as exc:
            return _error(metric, ctx, f"local stats malformed: {exc}")
        except Exception as exc:  # a provider failure is a reading, never an exception
            return _error(metric, ctx, f"local stats unavailable: {_describe(exc)}")

    # -- readings -----------------------------------------------------------------------

    def _increment(
        self,
        metric: policyspec.Metric,
        compare: policyspec.Compare,
        ctx: measurement.MeasureContext,
    ) -> measurement.Measurement:
        """Counts of both revisions since the previous reading (or the release start)."""
        if ctx.stable is None:
            return _error(metric, ctx, "no stable revision to compare against")
        until = _last_whole_second(ctx.now)
        if ctx.measured_until is not None:
            since = math.floor(ctx.measured_until.timestamp())
        elif ctx.release_started_at is not None:
            since = math.floor(ctx.release_started_at.timestamp())
        else:  # no start known: the first reading covers the window
            since = until - math.ceil(metric.window.total_seconds())
        since = min(since, until)
        bound: float | None = None
        if metric.provider.local is not None and metric.provider.local.stat in _LATENCY_KEYS:
            bound, chosen_now = self._slow_bound(metric, compare, ctx, since, until)
            if bound is None:
                return measurement.Measurement(
                    metric=metric.name, at=ctx.now, value=None
                )  # no stable latency to say what is slow: no counts (Inconclusive)
            if chosen_now:  # from this increment's stable requests: they judge nothing
                return measurement.Measurement(
                    metric=metric.name,
                    at=ctx.now,
                    until=_at(until),
                    canary=measurement.Counts(0, 0),
                    stable=measurement.Counts(0, 0),
                    slower_than=bound,
                )
        canary, c_until, bound = self._counts(ctx, ctx.canary, since, until, bound)
        stable, s_until, bound = self._counts(ctx, ctx.stable, since, until, bound)
        baseline = None
        if compare.history is not None and ctx.release_started_at is not None:
            start = math.floor(ctx.release_started_at.timestamp())
            h_since = start - math.ceil(compare.history.total_seconds())
            baseline, _, _ = self._counts(ctx, ctx.stable, h_since, min(start, until), bound)
        return measurement.Measurement(
            metric=metric.name,
            at=ctx.now,
            until=_at(min(c_until, s_until)),
            value=None,
            canary=canary,
            stable=stable,
            baseline=baseline,
            slower_than=bound,
        )

    def _slow_bound(
        self,
        metric: policyspec.Metric,
        compare: policyspec.Compare,
        ctx: measurement.MeasureContext,
        since: int,
        until: int,
    ) -> tuple[float | None, bool]:
        """(the latency above which a request is slow, whether it comes from this
        reading's increment); (None, False) when the stable has no latency to tell."""
        if ctx.slower_than is not None:
            return ctx.slower_than, False
        if compare.slower_than is not None:
            return compare.slower_than.total_seconds(), False
        local = metric.provider.local
        if local is None or ctx.stable is None:  # checked by the caller
            return None, False
        start = (
            math.floor(ctx.release_started_at.timestamp())
            if ctx.release_started_at is not None
            else since
        )
        span = math.ceil((compare.history or metric.window).total_seconds())
        before = self._quantile(ctx, ctx.stable, start - span, min(start, until), local.stat)
        if before is not None:
            return before, False
        during = (
            self._quantile(ctx, ctx.stable, since, until, local.stat) if until > since else None
        )
        return during, during is not None

    def _quantile(
        self,
        ctx: measurement.MeasureContext,
        revision: str,
        since: int,
        until: int,
        stat: policyspec.LocalStat,
    ) -> float | None:
        """`revision`'s latency `stat` over [since, until); None without one."""
        answer = self._source.stats(
            ctx.namespace, ctx.service, revision, since=since, until=until, samples=0
        )
        found = _value(stat, answer, 0, 0)
        return found if found is not None and found > 0 else None

    def _window(
        self, metric: policyspec.Metric, stat: policyspec.LocalStat, ctx: measurement.MeasureContext
    ) -> measurement.Measurement:
        """The canary's stat over the metric's window (and latency samples to compare)."""
        until = _last_whole_second(ctx.now)
        since = until - math.ceil(metric.window.total_seconds())
        if ctx.fresh_since is not None:  # a retried release or step: nothing from before
            since = min(max(since, math.floor(ctx.fresh_since.timestamp())), until)
        comparing = metric.compare is not None  # mann-whitney
        samples = MAX_LATENCY_SAMPLES if comparing else 0
        canary = self._source.stats(
            ctx.namespace, ctx.service, ctx.canary, since=since, until=until, samples=samples
        )
        requests, errors = _int(canary, "requests"), _int(canary, "errors")
        value = _value(stat, canary, requests, errors)
        canary_values: tuple[float, ...] = ()
        stable_values: tuple[float, ...] = ()
        if comparing:
            canary_values = _samples(canary)
            if ctx.stable is not None:
                stable = self._source.stats(
                    ctx.namespace,
                    ctx.service,
                    ctx.stable,
                    since=since,
                    until=until,
                    samples=samples,
                )
                stable_values = _samples(stable)
        return measurement.Measurement(
            metric=metric.name,
            at=ctx.now,
            until=_at(_until(canary, until)),
            value=value,
            samples=requests,
            canary_values=canary_values,
            stable_values=stable_values,
        )

    def _counts(
        self,
        ctx: measurement.MeasureContext,
        revision: str,
        since: int,
        until: int,
        slower_than: float | None,
    ) -> tuple[measurement.Counts, int, float | None]:
        """(requests and errors — or timed and slow requests with a bound —, where the
        data ends, the bound the source used)."""
        if until <= since:  # nothing new since the previous reading
            return measurement.Counts(0, 0), until, slower_than
        if slower_than is None:
            answer = self._source.stats(
                ctx.namespace, ctx.service, revision, since=since, until=until, samples=0
            )
            counts = measurement.Counts(_int(answer, "requests"), _int(answer, "errors"))
            return counts, _until(answer, until), None
        answer = self._source.stats(
            ctx.namespace,
            ctx.service,
            revision,
            since=since,
            until=until,
            samples=0,
            slower_than=slower_than,
        )
        timed, slow = _int(answer, "timed"), _int(answer, "slow")
        if slow > timed:
            raise _Malformed(f"slow {slow} > timed {timed}")
        used = _number(answer.get("slowerThan", slower_than), "slowerThan")
        return measurement.Counts(timed, slow), _until(answer, until), used


# -- parsing the source's answer ------------------------------------------------------


def _value(
    stat: policyspec.LocalStat, answer: dict[str, Any], requests: int, errors: int
) -> float | None:
    if stat is policyspec.LocalStat.REQUESTS:
        return float(requests)
    if stat is policyspec.LocalStat.ERRORS:
        return float(errors)
    if stat is policyspec.LocalStat.ERROR_RATE:
        return errors / requests if requests else None
    latency = answer.get("latency")
    if latency is None:
        return None  # no requests, no latency: no data
    if not isinstance(latency, dict):
        raise _Malformed(f"latency is {type(latency).__name__}, not an object")
    quantile = latency.get(_LATENCY_KEYS[stat])
    if quantile is None:
        return None
    return _number(quantile, f"latency.{_LATENCY_KEYS[stat]}")


def _int(answer: dict[str, Any], key: str) -> int:
    if not isinstance(answer, dict):
        raise _Malformed(f"the answer is {type(answer).__name__}, not an object")
    if key not in answer:
        raise _Malformed(f"no {key!r} in the answer")
    value = answer[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Malformed(f"{key} is {value!r}, not a count")
    return value


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Malformed(f"{what} is {value!r}, not a number")
    return float(value)


def _samples(answer: dict[str, Any]) -> tuple[float, ...]:
    values = answer.get("samples") or []
    if not isinstance(values, list):
        raise _Malformed(f"samples is {type(values).__name__}, not a list")
    return tuple(_number(v, "a latency sample") for v in values)


def _until(answer: dict[str, Any], asked: int) -> int:
    """Where the answer's data ends: what the source reports, never past what was asked."""
    reported = answer.get("until")
    if reported is None:
        return asked
    return min(asked, math.floor(_number(reported, "until")))


# -- small helpers ----------------------------------------------------------------------


def _last_whole_second(now: datetime) -> int:
    return math.floor(now.timestamp())


def _at(unix: int) -> datetime:
    return datetime.fromtimestamp(unix, tz=UTC)


def _error(
    metric: policyspec.Metric, ctx: measurement.MeasureContext, reason: str
) -> measurement.Measurement:
    return measurement.Measurement(metric=metric.name, at=ctx.now, error=reason)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
