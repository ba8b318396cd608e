"""What every request through one `ApiClient` shares: its rate limit and its counters.

client-go keeps the QPS/burst limiter in the REST client every informer and writer of
a controller shares; here the shared thing is the official client's `ApiClient`, so
`configure(api_client, qps=…, burst=…)` attaches a `Traffic` to it (`connect.api_client`
does, from `rollout controller --kube-qps/--kube-burst`), and every `rest.Resources`
made on that `ApiClient` — store, runtime, routers, events, Secrets, the Lease — draws
from the one bucket. An `ApiClient` nobody configured (one a test made itself) has no
rate limit, as a client-go client with a negative QPS; its answers are still retried.

Defaults: QPS 20, burst 30 — controller-runtime's for a manager's client (client-go's
own 5/10 are meant for one-off clients such as kubectl's first versions; a controller
with several workers and watches needs more, and API Priority and Fairness on the
server protects it beyond that). A watch takes one token when it is opened, however
long it then streams.

`Traffic` counts requests sent (by HTTP verb — `WATCH` for a watch's opening — and
status code; 0 when no answer came), retries (same labels: the answer retried) and
the time spent waiting for the rate limit; `collector(traffic)` exposes them to
Prometheus (`rollout controller` registers it with its own metrics):

    rollout_kube_requests_total{verb,code}          requests sent
    rollout_kube_request_retries_total{verb,code}   answers that were retried
    rollout_kube_throttle_wait_seconds_total        time spent waiting for a token
    rollout_kube_client_qps / _burst                the limits in force

Attaching also stops urllib3 from retrying 429/503 answers on its own (`rest.py`
retries them, within the deadline, counted). Thread-safe. The sleeping and the
sending are `rest.py`'s.
"""

from __future__ import annotations

import collections
import random
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from kubernetes import client
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from urllib3.util.retry import Retry

from rollout.platforms.kubernetes import ratelimit

__all__ = ["DEFAULT_BURST", "DEFAULT_QPS", "Traffic", "collector", "configure", "of"]

DEFAULT_QPS = 20.0
DEFAULT_BURST = 30


class Traffic:
    """One API client's token bucket, clock, sleep and random draws, and its counters."""

    def __init__(
        self,
        qps: float = DEFAULT_QPS,
        burst: int = DEFAULT_BURST,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.bucket = ratelimit.TokenBucket(qps, burst, clock=clock)
        self.clock = clock
        self.sleep = sleep
        self.draw = draw
        self._lock = threading.Lock()
        self._sent: collections.Counter[tuple[str, int]] = collections.Counter()
        self._retried: collections.Counter[tuple[str, int]] = collections.Counter()
        self._waited = 0.0

    def sent(self, verb: str, code: int) -> None:
        with self._lock:
            self._sent[verb, code] += 1

    def retried(self, verb: str, code: int) -> None:
        with self._lock:
            self._retried[verb, code] += 1

    def waited(self, seconds: float) -> None:
        with self._lock:
            self._waited += seconds

    def counts(self) -> tuple[dict[tuple[str, int], int], dict[tuple[str, int], int], float]:
        """A snapshot: requests sent and retried by (verb, code), seconds waited."""
        with self._lock:
            return dict(self._sent), dict(self._retried), self._waited


_lock = threading.Lock()
_traffic: weakref.WeakKeyDictionary[client.ApiClient, Traffic] = weakref.WeakKeyDictionary()


def configure(api_client: client.ApiClient, traffic: Traffic) -> Traffic:
    """Make `traffic` the limit and counters of every request through `api_client`."""
    with _lock:
        _traffic[api_client] = traffic
        _no_hidden_retries(api_client)
    return traffic


def of(api_client: client.ApiClient) -> Traffic:
    """The `Traffic` of `api_client` (no rate limit, attached now, if none was)."""
    with _lock:
        found = _traffic.get(api_client)
        if found is None:
            found = _traffic[api_client] = Traffic(qps=0)
            _no_hidden_retries(api_client)
        return found


def _no_hidden_retries(api_client: client.ApiClient) -> None:
    """Leave answers to `rest.py`: urllib3's default `Retry` would itself resend a
    GET/PUT/DELETE answered 429 or 503 with a Retry-After, three times, past our
    deadline and unseen by our counters. Its retries of connection failures stay (as
    the kubernetes client makes them for its own GETs with `client_go_retries`)."""
    pool = getattr(getattr(api_client, "rest_client", None), "pool_manager", None)
    settings = getattr(pool, "connection_pool_kw", None)
    if pool is None or not isinstance(settings, dict):
        return
    current = settings.get("retries")
    if current is False:
        return
    retry = current if isinstance(current, Retry) else Retry.from_int(current)
    settings["retries"] = retry.new(status=0, status_forcelist=(), respect_retry_after_header=False)
    pool.clear()  # pools made before this keep their settings: none now


class _Collector:
    def __init__(self, traffic: Traffic) -> None:
        self._traffic = traffic

    def collect(self) -> Iterator[Metric]:
        sent, retried, waited = self._traffic.counts()
        requests = CounterMetricFamily(
            "rollout_kube_requests",
            "Requests sent to the API server, by HTTP verb (WATCH: a watch opened) and"
            " status code (0: no answer).",
            labels=["verb", "code"],
        )
        for (verb, code), n in sorted(sent.items()):
            requests.add_metric([verb, str(code)], n)
        retries = CounterMetricFamily(
            "rollout_kube_request_retries",
            "API server answers retried (429, or 5xx where safe), by verb and status code.",
            labels=["verb", "code"],
        )
        for (verb, code), n in sorted(retried.items()):
            retries.add_metric([verb, str(code)], n)
        yield requests
        yield retries
        yield CounterMetricFamily(
            "rollout_kube_throttle_wait_seconds",
            "Time requests waited for the client-side rate limit (--kube-qps/--kube-burst).",
            value=waited,
        )
        yield GaugeMetricFamily(
            "rollout_kube_client_qps",
            "The client-side limit on requests a second (0: none).",
            value=self._traffic.bucket.qps,
        )
        yield GaugeMetricFamily(
            "rollout_kube_client_burst",
            "The client-side burst of requests.",
            value=self._traffic.bucket.burst,
        )

    def describe(self) -> list[Any]:
        return []  # collected on demand only (no duplicate check at registration)


def collector(traffic: Traffic) -> _Collector:
    """A Prometheus collector of `traffic` (register it with a `CollectorRegistry`)."""
    return _Collector(traffic)
