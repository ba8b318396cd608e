"""Request stats from Prometheus: the `local` provider's source, read from the
counters a mesh, Knative or the local proxy already export (a `presets.Preset`).

`PrometheusStats` answers the `local.StatsSource` protocol — `stats(namespace,
service, revision, since=, until=, samples=)` over whole unix seconds [since, until) —
so the policies that gate on `provider: {local: {stat}}` (the ready ones in
`policies/`, the sequential comparison of errors against the stable) run unchanged
when the controller is pointed at Prometheus instead of the local proxy:

- `requests` and `errors`: exact increments between the two instants
  (`analysis.counters`), from the preset's request counter read at `since` and at the
  end; errors are the series whose status label fully matches the preset's `failed`;
- the end is `until`, but never later than `now − scrape_delay` (what Prometheus has
  surely stored: a sample is stamped with its scrape's start and stored when the
  scrape ends, up to the scrape timeout later — 10 s by default, so 15 s by
  default): the answer's `until` says where it ended, and the local provider starts
  the next increment there — so a reading never counts a request twice nor reads a
  scrape that is not stored yet. An end at or before `since` is no new
  data (zero counts, no latency: Inconclusive);
- `latency`: p50, p90, p99 over [since, end) from the preset's histogram
  (`histogram_quantile` of the buckets' `increase`, in seconds); None with no data;
- `timed` and `slow` (asked with `slower_than`, seconds): exact increments of the
  histogram's `_count` and of `_count` minus its `_bucket` at the bound, both read at
  the two instants like the requests. The bound is rounded up to the smallest bucket
  bound (`le`) of the service's histogram at or above it — the only exact cut a
  histogram offers — and reported as `slowerThan`; a bound above every finite bucket
  is an error saying so;
- latency `samples` (Mann-Whitney) are not in Prometheus: asking for them is an error
  saying so (an Error reading: never a verdict).

Every query is an instant query at a given time, with the timeout as both the HTTP
deadline and Prometheus's evaluation timeout; an unreachable server, a timeout or a
rejected query raises `PrometheusStatsError` with Prometheus's own message (the local
provider makes it an Error reading).

As Prometheus is run: `headers` sent with every query (e.g. `X-Scope-OrgID`),
`token_file` (read at each query, sent as `Authorization: Bearer …`: a rotated token
is used at once), `basic_auth_file` (`user:password`, read at each query, sent as
`Authorization: Basic …`) and `ca_file` (a PEM bundle verifying an https address).

I/O through the injectable `connect(address, …)` (prometheus-api-client, as the
prometheus provider, whose client cache it uses); time through `clock`. Used by
`Providers` when the controller reads request stats from Prometheus (issue 16).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from prometheus_api_client import prometheus_connect

from rollout.analysis import counters
from rollout.analysis.providers import presets, prometheus, rendering, secrets
from rollout.api import endpoints

__all__ = ["DEFAULT_SCRAPE_DELAY", "PrometheusStats", "PrometheusStatsError"]

# seconds: Prometheus stamps a sample with its scrape's start and stores it when the
# scrape ends, at most scrape_timeout (10 s by default) later; a reading ending 15 s
# back sees every sample stamped before its end (raise it behind remote write)
DEFAULT_SCRAPE_DELAY = 15.0
_QUANTILES = (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))


class PrometheusStatsError(Exception):
    """Prometheus could not answer; the message says why (its own words)."""


class PrometheusStats:
    """A `local.StatsSource` over a Prometheus and a preset (see the module)."""

    def __init__(
        self,
        address: str,
        preset: presets.Preset,
        *,
        scrape_delay: float = DEFAULT_SCRAPE_DELAY,
        timeout: float = 10.0,
        connect: prometheus.Connect = prometheus.connect,
        clock: Callable[[], float] = time.time,
        headers: Mapping[str, str] | None = None,
        token_file: str | None = None,
        ca_file: str | None = None,
        basic_auth_file: str | None = None,
    ) -> None:
        self.address = address
        self.preset = preset
        self._scrape_delay = scrape_delay
        self._timeout = timeout
        self._clock = clock
        self._headers = dict(headers or {})
        self._token_file = token_file
        self._basic_auth_file = basic_auth_file
        self._ca_file = ca_file
        self._clients = prometheus.PrometheusProvider(connect)  # its cache of clients

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
        if samples:
            raise PrometheusStatsError(
                "latency samples (mann-whitney) are not in Prometheus: compare latency"
                " with thresholds on latency_p99"
            )
        end = min(math.floor(until), math.floor(self._clock() - self._scrape_delay))
        start = math.floor(since)
        if end <= start:
            answer = _answer(0, 0, None, start, start)
            if slower_than is not None:
                answer |= {"timed": 0, "slow": 0, "slowerThan": slower_than}
            return answer
        query = presets.series_query(
            self.preset, namespace=namespace, service=service, revisions=[revision]
        )
        canary, _ = counters.split(
            self._series(query, start),
            self._series(query, end),
            revision_label=self.preset.revision_label,
            status_label=self.preset.status_label,
            failed=self.preset.failed,
            canary=revision,
            stable=None,
        )
        latency = (
            self._latency(namespace, service, revision, start, end) if canary.requests else None
        )
        answer = _answer(canary.requests, canary.errors, latency, start, end)
        if slower_than is not None:
            answer |= self._slow(namespace, service, revision, slower_than, start, end)
        return answer

    def close(self) -> None:
        self._clients.close()

    # --- queries ----------------------------------------------------------------------

    def _series(self, query: str, at: int) -> dict[counters.Series, float]:
        try:
            return prometheus.vector_series(self._query(query, at))
        except ValueError as exc:
            raise PrometheusStatsError(f"Prometheus at {self.address}: {exc}") from None

    def _slow(
        self, namespace: str, service: str, revision: str, bound: float, start: int, end: int
    ) -> dict[str, Any]:
        """`timed`, `slow` and `slowerThan` of a revision over [start, end) (module)."""
        p = self.preset
        service_matchers = _matchers(p, namespace, service)
        le = self._bucket_at(service_matchers, bound, end)
        matchers = [*service_matchers, f'{p.revision_label}="{rendering.escape_promql(revision)}"']
        count = f"{p.histogram}_count{{{', '.join(matchers)}}}"
        fast = f'{p.histogram}_bucket{{{", ".join(matchers)}, le="{rendering.escape_promql(le)}"}}'
        timed = counters.increase(self._series(count, start), self._series(count, end))
        quick = counters.increase(self._series(fast, start), self._series(fast, end))
        return {
            "timed": timed,
            "slow": max(timed - quick, 0),
            "slowerThan": float(le) * p.seconds_per_unit,
        }

    def _bucket_at(self, matchers: list[str], bound: float, at: int) -> str:
        """The `le` label of the smallest finite bucket at or above `bound` seconds."""
        p = self.preset
        query = f"count by (le) ({p.histogram}_bucket{{{', '.join(matchers)}}})"
        bounds = []
        for key in self._series(query, at):
            text = dict(key).get("le", "")
            try:
                value = float(text)
            except ValueError:
                continue
            if math.isfinite(value):
                bounds.append((value, text))
        wanted = bound / p.seconds_per_unit * (1 - 1e-9)
        above = sorted(b for b in bounds if b[0] >= wanted)
        if not above:
            largest = f"{max(bounds)[0] * p.seconds_per_unit:g} s" if bounds else "none"
            raise PrometheusStatsError(
                f"Prometheus at {self.address}: no bucket of {p.histogram} at or above"
                f" {bound:g} s (largest finite: {largest}): give compare.slowerThan within"
                " the histogram's buckets"
            )
        return above[0][1]

    def _latency(
        self, namespace: str, service: str, revision: str, start: int, end: int
    ) -> dict[str, float] | None:
        p = self.preset
        matchers = _matchers(p, namespace, service)
        matchers.append(f'{p.revision_label}="{rendering.escape_promql(revision)}"')
        buckets = f"{p.histogram}_bucket{{{', '.join(matchers)}}}"
        window = f"{end - start}s"
        found = {}
        for key, q in _QUANTILES:
            query = f"histogram_quantile({q}, sum by (le) (increase({buckets}[{window}])))"
            series = self._series(query, end)
            value = next(iter(series.values())) if series else math.nan
            if not math.isfinite(value):
                return None
            found[key] = value * p.seconds_per_unit
        return found

    def _query(self, query: str, at: int) -> Any:
        result, error = prometheus.instant(
            self._get_client(), self.address, query, timeout=self._timeout, at=at
        )
        if error is not None:
            raise PrometheusStatsError(error)
        return result

    def _get_client(self) -> prometheus_connect.PrometheusConnect:
        """The client with the headers of now (the token file read each time: a
        rotated token is used at once)."""
        headers = dict(self._headers)
        if self._token_file is not None:
            try:
                token = secrets.resolve(
                    endpoints.ValueFrom(file=self._token_file), namespace="", reader=None
                )
            except secrets.SecretError as exc:
                raise PrometheusStatsError(f"Prometheus at {self.address}: {exc}") from None
            headers["Authorization"] = f"Bearer {token}"
        if self._basic_auth_file is not None:
            headers["Authorization"] = f"Basic {self._basic_credentials(self._basic_auth_file)}"
        return self._clients.client(self.address, headers or None, self._ca_file)

    def _basic_credentials(self, path: str) -> str:
        try:
            text = secrets.resolve(endpoints.ValueFrom(file=path), namespace="", reader=None)
        except secrets.SecretError as exc:
            raise PrometheusStatsError(f"Prometheus at {self.address}: {exc}") from None
        username, colon, password = text.partition(":")
        if not colon or not username:
            raise PrometheusStatsError(
                f"Prometheus at {self.address}: {path} must hold user:password"
            )
        return prometheus.basic_credentials(username, password)


def _matchers(preset: presets.Preset, namespace: str, service: str) -> list[str]:
    """The preset's label matchers that keep a service's series."""
    values = {"namespace": namespace, "service": service}
    return [
        f'{label}="{rendering.render_promql(template, values)}"'
        for label, template in preset.selector
    ]


def _answer(
    requests: int, errors: int, latency: dict[str, float] | None, since: int, until: int
) -> dict[str, Any]:
    return {
        "requests": requests,
        "errors": errors,
        "codes": {},
        "latency": latency,
        "samples": [],
        "since": since,
        "until": until,
    }
