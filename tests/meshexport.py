"""A process that plays the service mesh for end-to-end tests: seeded traffic for the
revisions of one service, split by weights, exported as Istio's or Linkerd's
Prometheus counters and latency histograms, for a real Prometheus to scrape.

There is no mesh and no real Kubernetes on the test machines; the readers we test
(`rollout.analysis.providers.promstats` over a `presets.Preset`) only need the series
a mesh exports. This module makes them, and keeps the ground truth to compare with.

Three layers, as in the rest of the code:

- `TrafficModel` — pure (no I/O, no clock: `advance(now)` is given the time). Each
  `advance` draws Poisson(rps × dt) arrivals, splits them by weights (multinomial),
  spreads each revision's share over its pods, draws its errors (binomial, HTTP 503;
  the rest 200) and latencies (log-normal, median 100 ms × `latency_factor`, p99 =
  3 × median), and adds them to cumulative per-(revision, pod, code) counters and
  histograms. `truth()` is what was generated since the start, which no reset or
  delete touches: tests compare increments read through Prometheus with it.
- `SHAPES` / `MeshCollector` / `exposition()` — the series as `istio` or `linkerd`
  name and label them (the `presets` of the same names select on these).
- The process (`main`, `python tests/meshexport.py --help`) and `start_exporter()`, the
  tests' handle on it: HTTP on 127.0.0.1 only; `/metrics`, `/truth`, `/control`,
  `/reset`, `/delete`; weights optionally polled from an HTTPRoute or VirtualService.

Decisions:
- Weights are percentages of all traffic; a remainder under 100 is served by nobody
  (weights summing over 100 are scaled down to 100). All weights 0 (or rps 0) stops
  traffic, so a test can freeze the counters and expect exact increments.
- Every HTTP request first advances the model to the current time, so a scrape sees
  the traffic up to the scrape, and a control change applies from the moment it is made.
- `reset(rev)` is a restart of every pod of the revision: its series stay, at 0.
  `reset(rev, new_pod=True)` replaces its pods: the old series vanish, new pods
  (`<rev>-7d9f8-<next index>`) count from 0 once they serve.
- `delete(rev)` removes the revision's workload: its series vanish and its share of
  the traffic is dropped (served by nobody) until `set_revision(rev)` (`/control`
  `revisions`) brings it back, on new pods. Weights alone never bring it back — the
  route poller sets weights twice a second and would undo every delete.
- Errors and successes share one latency distribution; a series exists from its
  first request (a 503 series from the first error), as in the meshes.
- A route poller's weights are normalised to 100 (Gateway API weights are relative).

This file is larger than a usual module because tests run it as one script
(`python tests/meshexport.py`) and import it as one helper (`import meshexport`).
Used by tests/unit/test_meshexport_model.py, tests/e2e/test_mesh_exporter.py and
tests/kubernetes/test_mesh_exporter_kube.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.server
import json
import math
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import prometheus_client
from prometheus_client import core
from prometheus_client import utils as prometheus_utils

__all__ = [
    "ISTIO_BUCKETS_MS",
    "LINKERD_BUCKETS_MS",
    "SHAPES",
    "Control",
    "Exporter",
    "MeshCollector",
    "RevisionTruth",
    "SeriesValue",
    "Shape",
    "TrafficModel",
    "check_revision",
    "check_rps",
    "check_weights",
    "exposition",
    "main",
    "parse_control",
    "start_exporter",
    "weights_from_httproute",
    "weights_from_virtualservice",
]

MEDIAN_MS = 100.0  # the latency median at latency_factor 1
SIGMA = math.log(3) / 2.3263478740408408  # p99 = 3 × median (z(0.99) = 2.326…)
POD_HASH = "7d9f8"
DEFAULT_ERROR_RATE = 0.001
LISTENING = "meshexport listening on "

ISTIO_BUCKETS_MS = (
    0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
    30000, 60000, 300000, 600000, 1800000, 3600000,
)  # fmt: skip
LINKERD_BUCKETS_MS = (
    1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500,
    1000, 2000, 3000, 4000, 5000, 10000, 20000, 30000, 40000, 50000,
)  # fmt: skip


# --- the model (pure) -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SeriesValue:
    """One exported series: cumulative request count, `le` buckets and sum (ms)."""

    revision: str
    pod: str
    code: int
    count: int
    buckets: tuple[int, ...]  # cumulative, one per bound (without +Inf: that is `count`)
    sum_ms: float


@dataclasses.dataclass(frozen=True)
class RevisionTruth:
    """What a revision was sent since the start (never reset)."""

    requests: int
    errors: int
    slower_ms: Mapping[float, int]  # bucket bound (ms) → requests slower than it

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "slowerThanMs": {le_label(b): n for b, n in self.slower_ms.items()},
        }


@dataclasses.dataclass
class _Series:
    count: int
    buckets: np.ndarray  # per bucket, not cumulative; the last one is (bound, +Inf)
    sum_ms: float


@dataclasses.dataclass
class _Revision:
    error_rate: float
    latency_factor: float
    pods: list[str]
    next_pod: int  # the index of the next pod made
    slower: np.ndarray  # per bound: requests slower than it
    deleted: bool = False
    requests: int = 0
    errors: int = 0


class TrafficModel:
    """Seeded traffic of one service's revisions (see the module docstring)."""

    def __init__(
        self,
        *,
        seed: int,
        rps: float,
        weights: Mapping[str, float] | None = None,
        buckets_ms: Sequence[float] = ISTIO_BUCKETS_MS,
        pods: int = 2,
        start: float | None = None,
    ) -> None:
        if pods < 1:
            raise ValueError("pods must be at least 1")
        self.buckets_ms = tuple(float(b) for b in buckets_ms)
        self._bounds = np.array(self.buckets_ms)
        self._rng = np.random.default_rng(seed)
        self._pods = pods
        self._time = start
        self._revisions: dict[str, _Revision] = {}
        self._series: dict[tuple[str, str, int], _Series] = {}
        self._weights: dict[str, float] = {}
        self.set_rps(rps)
        self.set_weights(weights or {})

    # --- settings ---------------------------------------------------------------------

    @property
    def rps(self) -> float:
        return self._rps

    @property
    def weights(self) -> dict[str, float]:
        return dict(self._weights)

    def set_rps(self, rps: float) -> None:
        check_rps(rps)
        self._rps = float(rps)

    def set_weights(self, weights: Mapping[str, float]) -> None:
        """Percent per revision (0–100); revisions not named get 0."""
        check_weights(weights)
        for revision in weights:
            self._revision(revision)
        self._weights = {r: float(p) for r, p in weights.items()}

    def set_revision(
        self, revision: str, *, error_rate: float | None = None, latency_factor: float | None = None
    ) -> None:
        """Set a revision's error rate and latency factor; brings back a deleted one."""
        check_revision(revision, error_rate=error_rate, latency_factor=latency_factor)
        state = self._revision(revision)
        if error_rate is not None:
            state.error_rate = float(error_rate)
        if latency_factor is not None:
            state.latency_factor = float(latency_factor)
        state.deleted = False

    def reset(self, revision: str, *, new_pod: bool = False) -> None:
        """Restart the revision's pods: its series go back to 0 (or, with `new_pod`,
        vanish, and new pods make new series)."""
        state = self._known(revision)
        if new_pod:
            self._drop_series(revision)
            self._renew_pods(revision, state)
            return
        for (rev, _, _), series in self._series.items():
            if rev == revision:
                series.count, series.sum_ms = 0, 0.0
                series.buckets[:] = 0

    def delete(self, revision: str) -> None:
        """Remove the revision's workload: no series, its traffic share is dropped."""
        state = self._known(revision)
        self._drop_series(revision)
        self._renew_pods(revision, state)
        state.deleted = True

    # --- traffic ----------------------------------------------------------------------

    def advance(self, now: float) -> None:
        """Generate the traffic between the previous time and `now`."""
        if self._time is None or now <= self._time:
            self._time = now if self._time is None else max(self._time, now)
            return
        dt, self._time = now - self._time, now
        arrivals = int(self._rng.poisson(self._rps * dt))
        routed = [(r, w) for r, w in sorted(self._weights.items()) if w > 0]
        if arrivals == 0 or not routed:
            return
        total = max(100.0, sum(w for _, w in routed))
        shares = [w / total for _, w in routed]
        nobody = max(0.0, 1.0 - sum(shares))
        counts = self._rng.multinomial(arrivals, [*shares, nobody])
        for (revision, _), n in zip(routed, counts[:-1], strict=True):
            if n and not self._revisions[revision].deleted:
                self._serve(revision, int(n))

    def _serve(self, revision: str, n: int) -> None:
        state = self._revisions[revision]
        per_pod = self._rng.multinomial(n, [1 / len(state.pods)] * len(state.pods))
        for pod, k in zip(state.pods, per_pod, strict=True):
            if not k:
                continue
            errors = int(self._rng.binomial(int(k), state.error_rate))
            for code, m in ((200, int(k) - errors), (503, errors)):
                if m:
                    latencies = self._rng.lognormal(
                        math.log(MEDIAN_MS * state.latency_factor), SIGMA, size=m
                    )
                    self._observe(state, (revision, pod, code), latencies)

    def _observe(self, state: _Revision, key: tuple[str, str, int], latencies: Any) -> None:
        # `le` buckets: a latency equal to a bound is in that bound's bucket
        index = np.searchsorted(self._bounds, latencies, side="left")
        per_bucket = np.bincount(index, minlength=len(self._bounds) + 1)
        m = len(latencies)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Series(0, np.zeros_like(per_bucket), 0.0)
        series.count += m
        series.buckets += per_bucket
        series.sum_ms += float(np.sum(latencies))
        state.requests += m
        state.errors += m if key[2] >= 500 else 0
        state.slower += m - np.cumsum(per_bucket)[:-1]

    # --- reading ----------------------------------------------------------------------

    @property
    def time(self) -> float | None:
        return self._time

    def series(self) -> list[SeriesValue]:
        """Every exported series (sorted), with cumulative buckets."""
        return [
            SeriesValue(
                revision=rev,
                pod=pod,
                code=code,
                count=s.count,
                buckets=tuple(int(v) for v in np.cumsum(s.buckets)[:-1]),
                sum_ms=s.sum_ms,
            )
            for (rev, pod, code), s in sorted(self._series.items())
        ]

    def truth(self) -> dict[str, RevisionTruth]:
        """Per revision, what was generated since the start (resets do not touch it)."""
        out = {}
        for revision, state in sorted(self._revisions.items()):
            slower = dict(zip(self.buckets_ms, (int(v) for v in state.slower), strict=True))
            out[revision] = RevisionTruth(state.requests, state.errors, slower)
        return out

    def settings(self, revision: str) -> dict[str, Any]:
        """A revision's settings, as /truth shows them."""
        state = self._known(revision)
        return {
            "errorRate": state.error_rate,
            "latencyFactor": state.latency_factor,
            "pods": list(state.pods),
            "deleted": state.deleted,
        }

    # --- helpers ----------------------------------------------------------------------

    def _revision(self, revision: str) -> _Revision:
        state = self._revisions.get(revision)
        if state is None:
            state = _Revision(
                error_rate=DEFAULT_ERROR_RATE,
                latency_factor=1.0,
                pods=_pod_names(revision, 0, self._pods),
                next_pod=self._pods,
                slower=np.zeros(len(self.buckets_ms), dtype=np.int64),
            )
            self._revisions[revision] = state
        return state

    def _known(self, revision: str) -> _Revision:
        if revision not in self._revisions:
            raise ValueError(f"unknown revision {revision!r}")
        return self._revisions[revision]

    def _renew_pods(self, revision: str, state: _Revision) -> None:
        state.pods = _pod_names(revision, state.next_pod, len(state.pods))
        state.next_pod += len(state.pods)

    def _drop_series(self, revision: str) -> None:
        for key in [k for k in self._series if k[0] == revision]:
            del self._series[key]


def le_label(bound: float) -> str:
    """A bucket bound as the `le` label writes it ("0.5", "100.0", "1.8e+06")."""
    return str(prometheus_utils.floatToGoString(bound))  # type: ignore[no-untyped-call]


def _pod_names(revision: str, first: int, count: int) -> list[str]:
    return [f"{revision}-{POD_HASH}-{i}" for i in range(first, first + count)]


def check_rps(rps: object) -> None:
    if not (isinstance(rps, int | float) and math.isfinite(rps) and rps >= 0):
        raise ValueError(f"rps must be a number ≥ 0, not {rps!r}")


def check_weights(weights: object) -> None:
    if not isinstance(weights, Mapping):
        raise ValueError("weights must be an object of revision → percent")
    for revision, percent in weights.items():
        check_revision(revision)
        if not (isinstance(percent, int | float) and 0 <= percent <= 100):
            raise ValueError(f"weight of {revision!r} must be 0–100, not {percent!r}")


def check_revision(
    revision: object, *, error_rate: object = None, latency_factor: object = None
) -> None:
    if not isinstance(revision, str) or not revision:
        raise ValueError(f"a revision is a non-empty string, not {revision!r}")
    if error_rate is not None and not (
        isinstance(error_rate, int | float) and 0 <= error_rate <= 1
    ):
        raise ValueError(f"errorRate must be 0–1, not {error_rate!r}")
    if latency_factor is not None and not (
        isinstance(latency_factor, int | float)
        and math.isfinite(latency_factor)
        and latency_factor > 0
    ):
        raise ValueError(f"latencyFactor must be > 0, not {latency_factor!r}")


# --- the two shapes of exposition -----------------------------------------------------

Labeller = Callable[[str, str, SeriesValue], dict[str, str]]  # namespace, service, series


def _istio_labels(namespace: str, service: str, s: SeriesValue) -> dict[str, str]:
    return {
        "reporter": "destination",
        "destination_workload": s.revision,
        "destination_workload_namespace": namespace,
        "destination_service_name": service,
        "response_code": str(s.code),
        "pod": s.pod,
    }


def _linkerd_labels(namespace: str, service: str, s: SeriesValue) -> dict[str, str]:
    return {
        "namespace": namespace,
        "deployment": s.revision,
        "direction": "inbound",
        "classification": "failure" if s.code >= 500 else "success",
        "status_code": str(s.code),
        "pod": s.pod,
    }


@dataclasses.dataclass(frozen=True)
class Shape:
    """How a mesh names its request counter and latency histogram (ms) and labels them."""

    name: str
    counter: str  # the sample name, with `_total`
    histogram: str
    buckets_ms: tuple[float, ...]
    label_names: tuple[str, ...]
    labels: Labeller  # in the order of label_names


SHAPES: dict[str, Shape] = {
    "istio": Shape(
        "istio",
        "istio_requests_total",
        "istio_request_duration_milliseconds",
        ISTIO_BUCKETS_MS,
        (
            "reporter",
            "destination_workload",
            "destination_workload_namespace",
            "destination_service_name",
            "response_code",
            "pod",
        ),
        _istio_labels,
    ),
    "linkerd": Shape(
        "linkerd",
        "response_total",
        "response_latency_ms",
        LINKERD_BUCKETS_MS,
        ("namespace", "deployment", "direction", "classification", "status_code", "pod"),
        _linkerd_labels,
    ),
}


class MeshCollector:
    """A `prometheus_client` collector over a model's series (read under `lock`)."""

    def __init__(
        self,
        model: TrafficModel,
        shape: Shape,
        *,
        namespace: str,
        service: str,
        lock: threading.Lock | None = None,
    ) -> None:
        self._model, self._shape = model, shape
        self._namespace, self._service = namespace, service
        self._lock = lock or threading.Lock()

    def collect(self) -> Iterator[core.Metric]:
        with self._lock:
            snapshot = self._model.series()
        shape = self._shape
        les = [le_label(b) for b in self._model.buckets_ms]
        names = list(shape.label_names)
        counter = core.CounterMetricFamily(shape.counter, "Requests served.", labels=names)
        histogram = core.HistogramMetricFamily(
            shape.histogram, "Request duration in milliseconds.", labels=names
        )
        for s in snapshot:
            labels = shape.labels(self._namespace, self._service, s)
            values = [labels[name] for name in shape.label_names]
            counter.add_metric(values, s.count)
            buckets = [*zip(les, s.buckets, strict=True), ("+Inf", s.count)]
            histogram.add_metric(values, buckets=buckets, sum_value=s.sum_ms)
        yield counter
        yield histogram


def registry_for(collector: MeshCollector) -> prometheus_client.CollectorRegistry:
    registry = prometheus_client.CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def exposition(model: TrafficModel, shape: Shape, *, namespace: str, service: str) -> str:
    """The Prometheus text exposition of the model's series in `shape`."""
    collector = MeshCollector(model, shape, namespace=namespace, service=service)
    return prometheus_client.generate_latest(registry_for(collector)).decode()


# --- control requests (pure parsing) --------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Control:
    weights: dict[str, float] | None = None
    revisions: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    rps: float | None = None

    def apply(self, model: TrafficModel) -> None:
        if self.rps is not None:
            model.set_rps(self.rps)
        for revision, settings in self.revisions.items():
            model.set_revision(
                revision,
                error_rate=settings.get("errorRate"),
                latency_factor=settings.get("latencyFactor"),
            )
        if self.weights is not None:
            model.set_weights(self.weights)


def parse_control(body: object) -> Control:
    """`{"weights": {rev: pct}, "revisions": {rev: {"errorRate", "latencyFactor"}},
    "rps": n}` (every key optional), checked whole before anything is applied."""
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    unknown = set(body) - {"weights", "revisions", "rps"}
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}")
    weights = body.get("weights")
    if weights is not None:
        check_weights(weights)
    revisions = body.get("revisions") or {}
    if not isinstance(revisions, dict):
        raise ValueError("revisions must be an object of revision → settings")
    for revision, settings in revisions.items():
        if not isinstance(settings, dict) or set(settings) - {"errorRate", "latencyFactor"}:
            raise ValueError(f"settings of {revision!r}: only errorRate and latencyFactor")
        check_revision(
            revision,
            error_rate=settings.get("errorRate"),
            latency_factor=settings.get("latencyFactor"),
        )
    rps = body.get("rps")
    if rps is not None:
        check_rps(rps)
    return Control(weights, revisions, rps)


# --- weights from a route object (pure) -----------------------------------------------


def weights_from_httproute(obj: Mapping[str, Any]) -> dict[str, float]:
    """The first rule whose matches have no `headers`: its backendRefs' names and
    weights (default 1), as percentages of their total."""
    for rule in (obj.get("spec") or {}).get("rules") or []:
        if any(m.get("headers") for m in rule.get("matches") or []):
            continue
        refs = [r for r in rule.get("backendRefs") or [] if r.get("kind", "Service") == "Service"]
        return _percent([(str(r.get("name", "")), r.get("weight", 1)) for r in refs])
    return {}


def weights_from_virtualservice(obj: Mapping[str, Any]) -> dict[str, float]:
    """The first http route without `match` headers: its destinations' first host
    label and weight (default 100 for a single one, else 0), as percentages; none
    when that route aborts every request."""
    for route in (obj.get("spec") or {}).get("http") or []:
        if any(m.get("headers") for m in route.get("match") or []):
            continue
        abort = (route.get("fault") or {}).get("abort") or {}
        if abort and (abort.get("percentage") or {}).get("value", 100) >= 100:
            return {}
        destinations = route.get("route") or []
        default = 100 if len(destinations) == 1 else 0
        return _percent(
            [
                (
                    str((d.get("destination") or {}).get("host", "")).split(".", 1)[0],
                    d.get("weight", default),
                )
                for d in destinations
            ]
        )
    return {}


def _percent(pairs: Sequence[tuple[str, object]]) -> dict[str, float]:
    weights = {name: float(w) for name, w in pairs if isinstance(w, int | float) and w >= 0}
    total = sum(weights.values())
    return {name: (100 * w / total if total else 0.0) for name, w in weights.items() if name}


# --- the process ----------------------------------------------------------------------

ROUTES = {  # --router → (group, version, plural, weights)
    "gateway-api": ("gateway.networking.k8s.io", "v1", "httproutes", weights_from_httproute),
    # v1beta1: what rollout's istio router writes; tests/kubernetes/crds serves v1 too
    "istio": ("networking.istio.io", "v1beta1", "virtualservices", weights_from_virtualservice),
}


def _log(message: str) -> None:
    print(f"meshexport: {message}", file=sys.stderr, flush=True)


class Mesh:
    """The process's state: the model behind a lock, advanced to the wall clock."""

    def __init__(self, model: TrafficModel, shape: Shape, *, namespace: str, service: str) -> None:
        self.model = model
        self.lock = threading.Lock()
        collector = MeshCollector(
            model, shape, namespace=namespace, service=service, lock=self.lock
        )
        self.registry = registry_for(collector)

    def now(self) -> None:
        """Advance the model to the wall clock (call with the lock held)."""
        self.model.advance(time.time())

    def change(self, action: Callable[[TrafficModel], None]) -> None:
        with self.lock:
            self.now()
            action(self.model)

    def metrics(self) -> bytes:
        with self.lock:
            self.now()
        return prometheus_client.generate_latest(self.registry)

    def truth(self) -> dict[str, Any]:
        """The /truth document: the ground truth and the settings of now."""
        with self.lock:
            self.now()
            m = self.model
            return {
                "time": m.time,
                "rps": m.rps,
                "weights": m.weights,
                "revisions": {r: {**t.to_json(), **m.settings(r)} for r, t in m.truth().items()},
            }


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        mesh = self.server.mesh
        if self.path == "/metrics":
            self._send(200, mesh.metrics(), prometheus_client.CONTENT_TYPE_LATEST)
        elif self.path == "/truth":
            self._json(200, mesh.truth())
        else:
            self._json(404, {"error": f"no such path {self.path}"})

    def do_POST(self) -> None:
        actions: dict[str, Callable[[Any], Callable[[TrafficModel], None]]] = {
            "/control": lambda body: parse_control(body).apply,
            "/reset": lambda body: _reset(body),
            "/delete": lambda body: _delete(body),
        }
        if self.path not in actions:
            self._json(404, {"error": f"no such path {self.path}"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"null")
            except json.JSONDecodeError as exc:
                raise ValueError(f"the body is not JSON: {exc}") from None
            action = actions[self.path](body)
            self.server.mesh.change(action)
        except (ValueError, TypeError) as exc:
            self._json(400, {"error": str(exc)})
            return
        self._json(200, self.server.mesh.truth())

    def _json(self, status: int, body: object) -> None:
        self._send(status, json.dumps(body).encode(), "application/json")

    def _send(self, status: int, payload: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a scrape a second: no access log


def _revision_of(body: object) -> str:
    if not isinstance(body, dict) or not isinstance(body.get("revision"), str):
        raise ValueError('the body must be {"revision": "<name>", …}')
    return str(body["revision"])


def _reset(body: object) -> Callable[[TrafficModel], None]:
    revision = _revision_of(body)
    assert isinstance(body, dict)
    new_pod = body.get("newPod", False)
    if not isinstance(new_pod, bool) or set(body) - {"revision", "newPod"}:
        raise ValueError('the body must be {"revision": "<name>", "newPod": true|false}')
    return lambda model: model.reset(revision, new_pod=new_pod)


def _delete(body: object) -> Callable[[TrafficModel], None]:
    revision = _revision_of(body)
    assert isinstance(body, dict)
    if set(body) - {"revision"}:
        raise ValueError('the body must be {"revision": "<name>"}')
    return lambda model: model.delete(revision)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, mesh: Mesh) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.mesh = mesh


def _tick(mesh: Mesh, every: float, stopping: threading.Event) -> None:
    while not stopping.wait(every):
        with mesh.lock:
            mesh.now()


def _poll_route(mesh: Mesh, args: argparse.Namespace, stopping: threading.Event) -> None:
    """Every 0.5 s: the weights of the route's catch-all rule; keep the last on error."""
    from kubernetes import client, config  # only with --kubeconfig

    group, version, plural, weights_of = ROUTES[args.router]
    try:
        api = config.new_client_from_config(config_file=args.kubeconfig)  # type: ignore[no-untyped-call]
    except Exception as exc:  # an unusable kubeconfig: the weights stay as they are
        _log(f"cannot use {args.kubeconfig}: {exc}")
        return
    custom = client.CustomObjectsApi(api)
    last_problem: str | None = None
    try:
        while not stopping.is_set():
            try:
                obj = custom.get_namespaced_custom_object(
                    group, version, args.route_namespace, plural, args.route_name
                )
                if not isinstance(obj, dict):
                    raise TypeError(f"the route is not an object: {obj!r}")
                mesh.change(_set_weights(weights_of(obj)))
                problem = None
            except Exception as exc:  # an API error or a missing route: keep the weights
                problem = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            if problem != last_problem:
                _log(f"route {args.route_namespace}/{args.route_name}: {problem or 'read'}")
                last_problem = problem
            stopping.wait(0.5)
    finally:
        api.close()


def _set_weights(weights: dict[str, float]) -> Callable[[TrafficModel], None]:
    return lambda model: model.set_weights(weights)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="meshexport",
        description="Play a service mesh: seeded traffic for a service's revisions,"
        " exported as Istio's or Linkerd's request counters and latency histograms.",
        epilog="HTTP on 127.0.0.1: GET /metrics, GET /truth, POST /control"
        ' {"weights": {rev: pct}, "revisions": {rev: {"errorRate", "latencyFactor"}},'
        ' "rps": n}, POST /reset {"revision", "newPod"}, POST /delete {"revision"}.',
    )
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--shape", choices=sorted(SHAPES), required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--service", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rps", type=float, required=True)
    parser.add_argument("--weights", type=_weights_arg, default={}, help="rev=pct,rev=pct")
    parser.add_argument("--tick", type=float, default=0.1, help="seconds between advances")
    parser.add_argument("--pods", type=int, default=2, help="pods per revision")
    parser.add_argument("--kubeconfig", help="poll the route's weights from this cluster")
    parser.add_argument("--route-namespace")
    parser.add_argument("--route-name")
    parser.add_argument("--router", choices=sorted(ROUTES), default="gateway-api")
    args = parser.parse_args(argv)
    if args.kubeconfig and not (args.route_namespace and args.route_name):
        parser.error("--kubeconfig needs --route-namespace and --route-name")
    if args.tick <= 0:
        parser.error("--tick must be > 0")
    try:
        check_rps(args.rps)
        check_weights(args.weights)
    except ValueError as exc:
        parser.error(str(exc))
    return args


def _weights_arg(text: str) -> dict[str, float]:
    weights = {}
    for part in filter(None, text.split(",")):
        name, sep, percent = part.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"{part!r} is not rev=pct")
        weights[name.strip()] = float(percent)
    return weights


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    shape = SHAPES[args.shape]
    model = TrafficModel(
        seed=args.seed,
        rps=args.rps,
        weights=args.weights,
        buckets_ms=shape.buckets_ms,
        pods=args.pods,
        start=time.time(),
    )
    mesh = Mesh(model, shape, namespace=args.namespace, service=args.service)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    server = _Server(args.port, mesh)
    threads = [
        threading.Thread(target=server.serve_forever, args=(0.1,), name="http"),
        threading.Thread(target=_tick, args=(mesh, args.tick, stopping), name="tick"),
    ]
    if args.kubeconfig:
        threads.append(
            threading.Thread(target=_poll_route, args=(mesh, args, stopping), name="route")
        )
    for thread in threads:
        thread.start()
    print(f"{LISTENING}http://127.0.0.1:{server.server_address[1]}", flush=True)
    while not stopping.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    for thread in threads:
        thread.join(10)
    _log("stopped")
    return 0


# --- the tests' handle on the process -------------------------------------------------

STARTUP_TIMEOUT = 30.0


@dataclasses.dataclass
class Exporter:
    """A running `meshexport` process (`start_exporter`)."""

    process: subprocess.Popen[str]
    url: str
    reader: threading.Thread  # drains the process's stdout until it ends

    @property
    def target(self) -> str:
        """`127.0.0.1:PORT`, for a Prometheus scrape config."""
        return self.url.removeprefix("http://")

    def metrics(self) -> str:
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=10) as response:
            return str(response.read().decode())

    def truth(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/truth", timeout=10) as response:
            body: dict[str, Any] = json.load(response)
            return body

    def control(
        self,
        *,
        weights: Mapping[str, float] | None = None,
        revisions: Mapping[str, Mapping[str, float]] | None = None,
        rps: float | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if weights is not None:
            body["weights"] = dict(weights)
        if revisions is not None:
            body["revisions"] = {r: dict(s) for r, s in revisions.items()}
        if rps is not None:
            body["rps"] = rps
        return self.post("/control", body)

    def reset(self, revision: str, *, new_pod: bool = False) -> dict[str, Any]:
        return self.post("/reset", {"revision": revision, "newPod": new_pod})

    def delete(self, revision: str) -> dict[str, Any]:
        return self.post("/delete", {"revision": revision})

    def post(self, path: str, body: object) -> dict[str, Any]:
        """POST JSON; the answer (the truth after the change). Raises HTTPError on 4xx."""
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer: dict[str, Any] = json.load(response)
            return answer

    def stop(self) -> int:
        """SIGTERM by PID, SIGKILL if it lingers; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.reader.join(10)  # at the pipe's end, now that the process is gone
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode


def start_exporter(*args: str, port: int | None = None) -> Exporter:
    """Launch `meshexport.py` with `args` (everything but --port; None: any free port)
    and return once it prints that it listens (failing at a deadline)."""
    command = [sys.executable, __file__, "--port", str(port or 0), *args]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    reader = threading.Thread(target=read, daemon=True, name="meshexport-stdout")
    reader.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.1)
        except queue.Empty:
            if process.poll() is not None:
                break
            continue
        if line.startswith(LISTENING):
            return Exporter(process, line[len(LISTENING) :].strip(), reader)
    Exporter(process, "", reader).stop()
    raise RuntimeError(
        f"meshexport did not start within {STARTUP_TIMEOUT:g}s (exit {process.returncode}):"
        f" {' '.join(command)}"
    )


if __name__ == "__main__":
    sys.exit(main())
