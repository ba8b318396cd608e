"""The `prometheus` metric provider: one instant PromQL query per reading.

The query template (DESIGN §5) is rendered with the context (`rendering`: every
value escaped for a PromQL double-quoted string; `{{revision}}` and `{{canary}}` are
the canary, `{{window}}` the metric's window as a Prometheus duration) and sent with
prometheus-api-client's `PrometheusConnect.custom_query`, with the provider's
`timeout` both as the HTTP timeout and as the server's evaluation timeout. No
retries inside a reading: the next reading is the retry.

The timeout is a total deadline for the answer, as far as the client allows: the
client's session (`connect`) reads answers through `deadline.ThreadResponse`, and a
query runs `within` its timeout, so the status line, headers and body together end
by it (a dripping answer is "no complete answer within …", not minutes of waiting).
Connecting is bounded by the same timeout; the name lookup is not (the controller's
measurement runner bounds the whole reading).

What an answer becomes (`parse_result`, pure):
- one series (or a scalar) → its value; Passed/Failed is `evaluate`'s business;
- an empty result or NaN → `value` None: no data, Inconclusive (never a failure);
- several series → an error: "the query returned N series; aggregate to one
  (e.g. sum(...))" — picking one would judge an arbitrary series;
- a range vector or a string → an error saying what to write instead.
Unreachable server, timeout, HTTP 4xx (a bad query) or 5xx → `Measurement(error=…)`
with the reason (`describe_api_error` pulls Prometheus's own message out of the
client's exception).

**Comparisons** (`compare`, sequential): the spec's `counts` templates (`requests`,
`errors`, over `{{revision}}`) are read as cumulative counters at two instants for each
revision — from the previous reading's end (`measuredUntil`, else the release's
start) to `counts.delay` before now — and each series' increase is summed
(`analysis.counters`: a reset counts from 0, never negative); `compare.history` reads
the stable's over that window before the release. A metric with thresholds and
compare gets both the query's value and the counts. `minSamples` applies to the
counts of a comparison, and to a threshold's query through `samplesQuery` (the
canary's requests behind it: its value, floored, is the reading's `samples`; no data
is 0 requests, so the threshold is Inconclusive until there are enough; a failing
`samplesQuery` is an Error reading like the query's).

**As Prometheus is run** (Thanos, Mimir, VictoriaMetrics speak the same API): the
spec's `headers` (a value or `{valueFrom}`; `secrets.headers`), `bearerTokenFrom`
(`Authorization: Bearer …`) and `basicAuth`'s password (`Authorization: Basic …`)
are read at each reading — an unreadable one is an Error naming its source, nothing
is sent — and any credential an answer echoes is masked (`***`); `caFile` verifies
an https address against a PEM bundle.

I/O only through the injectable `connect(address, headers=…, ca_file=…)` factory
(tests swap it); clients are cached per (address, headers, CA bundle), at most
`MAX_CLIENTS`. No decisions (that is `evaluate`).
Called by `Providers` for metrics whose provider is `prometheus`.
"""

from __future__ import annotations

import ast
import base64
import dataclasses
import json
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeGuard

import requests
import requests.adapters
import structlog
from prometheus_api_client import exceptions as prom_exceptions
from prometheus_api_client import prometheus_connect
from urllib3 import connection as urllib3_connection
from urllib3 import connectionpool
from urllib3.util import retry

from rollout.analysis import counters, measurement
from rollout.analysis.providers import deadline, rendering
from rollout.analysis.providers import secrets as secret_values
from rollout.api import policyspec

__all__ = [
    "Connect",
    "Parsed",
    "PrometheusProvider",
    "basic_credentials",
    "connect",
    "describe_api_error",
    "instant",
    "parse_result",
    "root_cause",
    "vector_series",
]

# connect(address, headers=…, ca_file=…) → a client sending those headers, verifying
# https with that CA bundle (None: the system's).
Connect = Callable[..., prometheus_connect.PrometheusConnect]

_MAX_QUERY_IN_REASON = 200
MAX_CLIENTS = 64  # cached clients (address, headers, CA bundle)
_ClientKey = tuple[str, tuple[tuple[str, str], ...], str | None]

log = structlog.get_logger(__name__)


class _CountsError(Exception):
    """A counter could not be read; the message says why."""


@dataclasses.dataclass(frozen=True)
class Parsed:
    """A query result as a reading: a value, or no data (with why), or an error."""

    value: float | None = None
    note: str | None = None  # why there is no value (no data, NaN)
    error: str | None = None


def connect(
    address: str, *, headers: Mapping[str, str] | None = None, ca_file: str | None = None
) -> prometheus_connect.PrometheusConnect:
    """A client for `address` that never retries inside one reading, and reads its
    answers within the reading's deadline (`_Session`); it sends `headers` with every
    query and verifies https against `ca_file` when given.

    `read=False`: a read timeout is raised as itself (requests' ReadTimeout), not
    folded into "max retries exceeded".
    """
    session = _Session()
    if ca_file is not None:
        session.verify = ca_file
    return prometheus_connect.PrometheusConnect(
        url=address.rstrip("/"),
        headers=dict(headers) if headers else None,  # type: ignore[arg-type]  # None: no headers
        retry=retry.Retry(total=0, read=False, raise_on_status=False),
        session=session,
    )


class _Connection(urllib3_connection.HTTPConnection):
    response_class = deadline.ThreadResponse


class _HTTPSConnection(urllib3_connection.HTTPSConnection):
    response_class = deadline.ThreadResponse


class _Pool(connectionpool.HTTPConnectionPool):
    ConnectionCls = _Connection


class _HTTPSPool(connectionpool.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _Adapter(requests.adapters.HTTPAdapter):
    """requests' adapter, with connections whose answers honour the thread's deadline."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _Pool, "https": _HTTPSPool}


class _Session(requests.Session):
    """A session whose plain adapters (its own, and the one PrometheusConnect mounts
    with its retry settings) are `_Adapter`s with the same retries."""

    def mount(self, prefix: str, adapter: requests.adapters.BaseAdapter) -> None:
        if type(adapter) is requests.adapters.HTTPAdapter:
            adapter = _Adapter(max_retries=adapter.max_retries)
        super().mount(prefix, adapter)


class PrometheusProvider:
    """A `MetricProvider` for `provider: {prometheus: {address, query, timeout}}` metrics."""

    def __init__(
        self, connect: Connect = connect, *, secrets: secret_values.SecretReader | None = None
    ) -> None:
        self._connect = connect
        self._secrets = secrets
        self._clients: dict[_ClientKey, prometheus_connect.PrometheusConnect] = {}
        self._lock = threading.Lock()

    def client(
        self,
        address: str,
        headers: Mapping[str, str] | None = None,
        ca_file: str | None = None,
    ) -> prometheus_connect.PrometheusConnect:
        """The cached client for `address` with these headers and CA bundle (shared by
        readings; a rotated token makes a new one, the oldest beyond `MAX_CLIENTS` go)."""
        key = (address, tuple(sorted((headers or {}).items())), ca_file)
        with self._lock:
            if key not in self._clients:
                if len(self._clients) >= MAX_CLIENTS:
                    oldest = next(iter(self._clients))
                    self._clients.pop(oldest).close()
                if headers or ca_file:
                    self._clients[key] = self._connect(address, headers=headers, ca_file=ca_file)
                else:
                    self._clients[key] = self._connect(address)
            return self._clients[key]

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for c in clients:
            c.close()

    def measure(
        self, metric: policyspec.Metric, ctx: measurement.MeasureContext
    ) -> measurement.Measurement:
        spec = metric.provider.prometheus
        if spec is None:
            return _reading(
                metric, ctx, Parsed(error=f"not a prometheus metric ({metric.provider.kind})")
            )
        hidden: list[str] = []
        try:
            headers = secret_values.headers(
                spec.headers, namespace=ctx.namespace, reader=self._secrets, hidden=hidden
            )
            if spec.bearer_token_from is not None:
                token = secret_values.resolve(
                    spec.bearer_token_from, namespace=ctx.namespace, reader=self._secrets
                )
                hidden.append(token)
                headers["Authorization"] = f"Bearer {token}"
            if spec.basic_auth is not None:
                password = secret_values.resolve(
                    spec.basic_auth.password_from, namespace=ctx.namespace, reader=self._secrets
                )
                encoded = basic_credentials(spec.basic_auth.username, password)
                hidden.extend((password, encoded))
                headers["Authorization"] = f"Basic {encoded}"
        except secret_values.SecretError as exc:
            return _reading(metric, ctx, Parsed(error=f"Prometheus at {spec.address}: {exc}"))
        compared = None
        if metric.compare is not None:
            compared = self._compared(metric, spec, ctx, headers, hidden)
            if compared.error is not None or spec.query is None or metric.thresholds is None:
                return compared
        if spec.query is None:
            return _reading(metric, ctx, Parsed(error="thresholds need a query"))
        parsed = self._value(metric, spec, ctx, headers, hidden, spec.query, "query")
        reading = _reading(metric, ctx, parsed)
        if reading.error is None and spec.samples_query is not None:
            reading = self._with_samples(metric, spec, ctx, headers, hidden, reading)
        if compared is not None and reading.error is None:  # thresholds and compare both
            return dataclasses.replace(compared, value=reading.value, samples=reading.samples)
        return reading

    def _value(
        self,
        metric: policyspec.Metric,
        spec: policyspec.PrometheusProvider,
        ctx: measurement.MeasureContext,
        headers: Mapping[str, str],
        hidden: list[str],
        template: str,
        field: str,
    ) -> Parsed:
        """One value of a query template (`field` names it in errors), rendered now."""
        try:
            query = rendering.render_promql(template, rendering.variables_for(ctx, metric.window))
        except ValueError as exc:
            return Parsed(error=f"{field} template: {exc}")
        result, error = self._ask(spec, query, headers)
        parsed = parse_result(result) if error is None else Parsed(error=error)
        if parsed.error is not None:
            prefix = "" if field == "query" else f"{field}: "
            parsed = dataclasses.replace(parsed, error=_masked(prefix + parsed.error, hidden))
        if parsed.note is not None:  # a Measurement has no field for it: say it here
            log.debug("metric.no_data", metric=metric.name, reason=parsed.note, query=query)
        return parsed

    def _with_samples(
        self,
        metric: policyspec.Metric,
        spec: policyspec.PrometheusProvider,
        ctx: measurement.MeasureContext,
        headers: Mapping[str, str],
        hidden: list[str],
        reading: measurement.Measurement,
    ) -> measurement.Measurement:
        """The reading with `samples`: the value of `samplesQuery` (no data: 0 requests)."""
        assert spec.samples_query is not None
        parsed = self._value(metric, spec, ctx, headers, hidden, spec.samples_query, "samplesQuery")
        if parsed.error is not None:
            return _reading(metric, ctx, parsed)
        value = parsed.value
        samples = math.floor(value) if value is not None and math.isfinite(value) else 0
        return dataclasses.replace(reading, samples=max(samples, 0))

    def _compared(
        self,
        metric: policyspec.Metric,
        spec: policyspec.PrometheusProvider,
        ctx: measurement.MeasureContext,
        headers: Mapping[str, str],
        hidden: list[str],
    ) -> measurement.Measurement:
        """Both revisions' increments since the previous reading, from `counts`
        (`analysis.counters`), ending `counts.delay` before now."""
        counts, compare = spec.counts, metric.compare
        if counts is None or compare is None or ctx.stable is None:
            why = "no stable revision to compare against" if counts else "compare needs counts"
            return _reading(metric, ctx, Parsed(error=why))
        end = math.floor(ctx.now.timestamp() - counts.delay.total_seconds())
        if ctx.measured_until is not None:
            start = math.floor(ctx.measured_until.timestamp())
        elif ctx.release_started_at is not None:
            start = math.floor(ctx.release_started_at.timestamp())
        else:
            start = end - math.ceil(metric.window.total_seconds())
        start = min(start, end)
        values = rendering.variables_for(ctx, metric.window)
        try:
            canary = self._increments(spec, counts, values, ctx.canary, start, end, headers)
            stable = self._increments(spec, counts, values, ctx.stable, start, end, headers)
            baseline = None
            if compare.history is not None and ctx.release_started_at is not None:
                began = math.floor(ctx.release_started_at.timestamp())
                since = began - math.ceil(compare.history.total_seconds())
                baseline = self._increments(
                    spec, counts, values, ctx.stable, since, min(began, end), headers
                )
        except _CountsError as exc:
            return _reading(metric, ctx, Parsed(error=_masked(str(exc), hidden)))
        return measurement.Measurement(
            metric=metric.name,
            at=ctx.now,
            until=datetime.fromtimestamp(end if end > start else start, UTC),
            canary=canary,
            stable=stable,
            baseline=baseline,
        )

    def _increments(
        self,
        spec: policyspec.PrometheusProvider,
        counts: policyspec.PrometheusCounts,
        values: Mapping[str, str],
        revision: str,
        start: int,
        end: int,
        headers: Mapping[str, str],
    ) -> measurement.Counts:
        if end <= start:
            return measurement.Counts(0, 0)
        found = []
        for template in (counts.requests, counts.errors):
            try:
                query = rendering.render_promql(template, {**values, "revision": revision})
            except ValueError as exc:
                raise _CountsError(f"counts template: {exc}") from None
            series = [self._series(spec, query, at, headers) for at in (start, end)]
            found.append(counters.increase(series[0], series[1]))
        requests, errors = found
        return measurement.Counts(requests, min(errors, requests))

    def _series(
        self, spec: policyspec.PrometheusProvider, query: str, at: int, headers: Mapping[str, str]
    ) -> dict[counters.Series, float]:
        result, error = self._ask(spec, query, headers, at)
        if error is not None:
            raise _CountsError(error)
        try:
            return vector_series(result)
        except ValueError as exc:
            raise _CountsError(f"counts: {exc}") from None

    def _ask(
        self,
        spec: policyspec.PrometheusProvider,
        query: str,
        headers: Mapping[str, str],
        at: int | None = None,
    ) -> tuple[Any, str | None]:
        """An instant query's result (at `at`, else now), or why there is none."""
        client = self.client(spec.address, headers, spec.ca_file)
        return instant(client, spec.address, query, timeout=spec.timeout.total_seconds(), at=at)


def basic_credentials(username: str, password: str) -> str:
    """`user:password` in base64, as HTTP basic auth sends it (RFC 7617)."""
    return base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def instant(
    client: prometheus_connect.PrometheusConnect,
    address: str,
    query: str,
    *,
    timeout: float,
    at: int | None = None,
) -> tuple[Any, str | None]:
    """An instant query's `data.result` (at unix second `at`, else now) within
    `timeout` seconds, or why there is none (Prometheus's own words for a bad query)."""
    late = f"Prometheus at {address}: no complete answer within {timeout:g}s"
    params = {"timeout": rendering.promql_duration(timedelta(seconds=timeout))}
    if at is not None:
        params["time"] = str(at)
    try:
        with deadline.within(timeout) as ends:
            result = client.custom_query(
                query,
                params=params,
                timeout=timeout,  # type: ignore[arg-type]  # requests takes a float
            )
    except requests.exceptions.Timeout:
        return None, late
    except requests.exceptions.ConnectionError as exc:
        if time.monotonic() >= ends:  # a body cut at the deadline reads as a lost connection
            return None, late
        return None, f"Prometheus at {address} is unreachable: {root_cause(exc)}"
    except prom_exceptions.PrometheusApiClientException as exc:
        return None, describe_api_error(str(exc), query)
    except (requests.exceptions.RequestException, ValueError, KeyError, TypeError) as exc:
        return None, f"unexpected answer from Prometheus at {address}: {exc}"
    return result, None


def vector_series(result: Any) -> dict[counters.Series, float]:
    """An instant vector as series (labels without `__name__`) → value; `ValueError`
    saying what is wrong with anything else."""
    if not isinstance(result, list):
        raise ValueError(f"the query returned {_short(result)}, not a vector")
    found: dict[counters.Series, float] = {}
    for item in result:
        try:
            labels = tuple(sorted((k, v) for k, v in item["metric"].items() if k != "__name__"))
            found[labels] = float(item["value"][1])
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            raise ValueError(f"unexpected series {_short(item)}") from None
    return found


def parse_result(result: Any) -> Parsed:
    """An instant query's `data.result` as a reading (see the module docstring)."""
    if _is_sample(result):  # a scalar: [time, "value"]
        return _sample_value(result[1], "the scalar")
    if not isinstance(result, list):
        return Parsed(error=f"unexpected result {_short(result)}")
    if not result:
        return Parsed(note="the query returned no data")
    if len(result) > 1:
        return Parsed(
            error=f"the query returned {len(result)} series; aggregate to one (e.g. sum(...))"
        )
    series = result[0]
    if not isinstance(series, dict):
        return Parsed(error=f"unexpected result {_short(result)}")
    if "values" in series:
        return Parsed(
            error="the query returned a range vector; select an instant value"
            " (e.g. rate(...[window]) rather than metric[window])"
        )
    sample = series.get("value")
    if not _is_sample(sample):
        return Parsed(error=f"unexpected series {_short(series)}")
    return _sample_value(sample[1], "the series")


def describe_api_error(message: str, query: str) -> str:
    """A reason from the client's `HTTP Status Code N (b'…')` exception text."""
    match = re.fullmatch(r"HTTP Status Code (\d+) \((.*)\)", message, flags=re.DOTALL)
    if match is None:
        return f"Prometheus error: {message}"
    status, content = int(match.group(1)), match.group(2)
    detail = _error_field(content)
    if status in (400, 422):
        shown = query if len(query) <= _MAX_QUERY_IN_REASON else query[:_MAX_QUERY_IN_REASON] + "…"
        return f"bad query (HTTP {status}): {detail} — query: {shown}"
    return f"Prometheus answered HTTP {status}: {detail}"


# -- helpers --------------------------------------------------------------------------


def _is_sample(value: Any) -> TypeGuard[list[Any]]:
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], int | float)
        and not isinstance(value[0], bool)
    )


def _sample_value(text: Any, what: str) -> Parsed:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return Parsed(error=f"{what} is {text!r}, not a number")
    if math.isnan(value):
        return Parsed(note="the query returned NaN (no data: e.g. a ratio of zero requests)")
    return Parsed(value=value)


def _error_field(content: str) -> str:
    """Prometheus's `error` message from the repr of the response body, else the body."""
    try:
        body = ast.literal_eval(content)
    except (ValueError, SyntaxError):
        return _short(content)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not isinstance(body, str):
        return _short(content)
    try:
        parsed = json.loads(body)
    except ValueError:
        return _short(body.strip())
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
        kind = parsed.get("errorType")
        return f"{kind}: {parsed['error']}" if isinstance(kind, str) else parsed["error"]
    return _short(body.strip())


def root_cause(exc: BaseException) -> str:
    """The innermost cause's message (requests wraps urllib3 wraps the socket error)."""
    text = str(exc)
    found = re.search(r"\[Errno -?\d+\] [^'\")]+", text)
    return found.group(0) if found else _short(text)


def _masked(text: str, hidden: list[str]) -> str:
    """`text` with every credential value in `hidden` replaced by `***`."""
    for value in sorted(hidden, key=len, reverse=True):
        if len(value) >= 4:
            text = text.replace(value, "***")
    return text


def _short(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _reading(
    metric: policyspec.Metric, ctx: measurement.MeasureContext, parsed: Parsed
) -> measurement.Measurement:
    return measurement.Measurement(
        metric=metric.name, at=ctx.now, until=ctx.now, value=parsed.value, error=parsed.error
    )
