"""Istio's and Linkerd's counters through a real Prometheus: the mesh exporter
(`tests/meshexport.py`, a process) generates seeded traffic for a stable (90%) and a
canary (10%, 5% errors) at 400 requests/s, the Debian `prometheus` binary scrapes it
every second, and our reader (`promstats.PrometheusStats` with the `istio` or
`linkerd` preset) reads increments between two whole-second instants — compared with
the exporter's ground truth.

Exactness: at each instant the traffic is paused (all weights 0), so the counters
stop moving; once Prometheus holds exactly what the exporter exports, the next whole
second is an instant whose increment must equal the truth's, to the request. Around
the two instants: a pod restart (lower values), new pods (new series) and a deleted
workload (series gone) — never a negative or inflated count.

One Prometheus scrapes one exporter per (shape, scenario), each with its own
namespace, so the tests do not see each other's traffic. Waits are on conditions,
with deadlines; every process is stopped by its PID.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import meshexport
import pytest
from prometheus_client import parser
from promserver import PrometheusServer

from rollout.analysis.providers import presets, promstats

SERVICE, STABLE, CANARY = "web", "web-00001", "web-00002"
RUNNING = {STABLE: 90, CANARY: 10}
PAUSED = {STABLE: 0, CANARY: 0}
SHAPES = ["istio", "linkerd"]
SCENARIOS = ["exact", "resets", "delete"]
WAIT_S = 30.0

Labels = tuple[tuple[str, str], ...]


@dataclasses.dataclass
class Mesh:
    prometheus: PrometheusServer
    exporters: dict[tuple[str, str], meshexport.Exporter]


@pytest.fixture(scope="module")
def mesh(start_prometheus: Callable[[list[str]], PrometheusServer]) -> Iterator[Mesh]:
    """An exporter per (shape, scenario), all scraped by one Prometheus."""
    exporters: dict[tuple[str, str], meshexport.Exporter] = {}
    try:
        for seed, (shape, scenario) in enumerate((s, c) for s in SHAPES for c in SCENARIOS):
            exporter = meshexport.start_exporter(
                *("--shape", shape, "--namespace", namespace(shape, scenario)),
                *("--service", SERVICE, "--seed", str(seed), "--rps", "400"),
                *("--weights", ",".join(f"{r}={w}" for r, w in RUNNING.items())),
            )
            exporters[(shape, scenario)] = exporter
            exporter.control(revisions={CANARY: {"errorRate": 0.05}})
        prometheus = start_prometheus([e.target for e in exporters.values()])
        yield Mesh(prometheus, exporters)
    finally:
        for exporter in exporters.values():
            exporter.stop()


def namespace(shape: str, scenario: str) -> str:
    return f"{shape}-{scenario}"


# --- reading both sides ---------------------------------------------------------------


def exported(exporter: meshexport.Exporter, shape: str) -> dict[Labels, float]:
    """The exporter's request-counter series, as label pairs → value."""
    counter = meshexport.SHAPES[shape].counter
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in parser.text_string_to_metric_families(exporter.metrics())
        for sample in family.samples
        if sample.name == counter
    }


def held(srv: PrometheusServer, query: str, at: float) -> dict[Labels, float]:
    """What Prometheus answers for `query` at `at`, without the labels it adds."""
    url = f"{srv.url}/api/v1/query?" + urllib.parse.urlencode({"query": query, "time": at})
    with urllib.request.urlopen(url, timeout=5) as response:
        body: dict[str, Any] = json.load(response)
    return {
        tuple(
            sorted(
                (k, v) for k, v in r["metric"].items() if k not in {"__name__", "instance", "job"}
            )
        ): float(r["value"][1])
        for r in body["data"]["result"]
    }


def settled(
    mesh: Mesh, shape: str, scenario: str, *, resuming: bool
) -> tuple[int, dict[Labels, float]]:
    """With the traffic paused: wait until Prometheus holds exactly the exported series,
    then until the next whole second has passed — an instant at which Prometheus
    answers exactly them. That second, and the series. `resuming`: the traffic resumes
    next, so wait until every scrape stamped up to that second has surely been made."""
    exporter = mesh.exporters[(shape, scenario)]
    expected = exported(exporter, shape)
    query = presets.series_query(
        presets.PRESETS[shape],
        namespace=namespace(shape, scenario),
        service=SERVICE,
        revisions=[STABLE, CANARY],
    )
    deadline = time.monotonic() + WAIT_S
    while True:
        now = time.time()
        got = held(mesh.prometheus, query, now)
        if got == expected:
            break
        if time.monotonic() > deadline:
            pytest.fail(f"Prometheus never held {expected}; it held {got}")
        time.sleep(0.1)
    second = math.ceil(now)
    while time.time() < second + (0.5 if resuming else 0.0):
        time.sleep(0.05)
    return second, expected


def grown(
    exporter: meshexport.Exporter, since: dict[str, Any], at_least: dict[tuple[str, str], int]
) -> dict[str, Any]:
    """Wait until the truth grew, per (revision, "requests"|"errors"), by `at_least`."""
    deadline = time.monotonic() + WAIT_S
    while True:
        truth = exporter.truth()
        if all(
            increment(truth, since, revision)[key] >= n for (revision, key), n in at_least.items()
        ):
            return truth
        if time.monotonic() > deadline:
            pytest.fail(f"the truth never grew by {at_least}: {truth['revisions']}")
        time.sleep(0.1)


def increment(after: dict[str, Any], before: dict[str, Any], revision: str) -> dict[str, int]:
    a, b = after["revisions"][revision], before["revisions"][revision]
    return {"requests": a["requests"] - b["requests"], "errors": a["errors"] - b["errors"]}


def read(mesh: Mesh, shape: str, scenario: str, revision: str, t0: int, t1: int) -> dict[str, Any]:
    """Our reader's stats of `revision` over [t0, t1)."""
    stats = promstats.PrometheusStats(mesh.prometheus.url, presets.PRESETS[shape], scrape_delay=0)
    try:
        got = stats.stats(
            namespace(shape, scenario), SERVICE, revision, since=t0, until=t1, samples=0
        )
    finally:
        stats.close()
    assert (got["since"], got["until"]) == (t0, t1)
    return got


def paused_window(
    mesh: Mesh,
    shape: str,
    scenario: str,
    between: Callable[[meshexport.Exporter], object],
    at_least: dict[tuple[str, str], int],
) -> tuple[int, int, dict[str, Any], dict[str, Any], dict[Labels, float], dict[Labels, float]]:
    """Pause, settle at t0, run `between`, let traffic flow until the truth grew by
    `at_least`, pause, settle at t1: (t0, t1, truth at t0, at t1, series at t0, at t1)."""
    exporter = mesh.exporters[(shape, scenario)]
    exporter.control(weights=PAUSED)
    t0, series0 = settled(mesh, shape, scenario, resuming=True)
    before = exporter.truth()
    between(exporter)
    exporter.control(weights=RUNNING)
    grown(exporter, before, at_least)
    exporter.control(weights=PAUSED)
    t1, series1 = settled(mesh, shape, scenario, resuming=False)
    return t0, t1, before, exporter.truth(), series0, series1


# --- the tests ------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_increments_between_two_instants_are_the_generated_traffic(mesh: Mesh, shape: str) -> None:
    """Requests and 503s of each revision, to the request; latency from the histogram."""
    t0, t1, before, after, _, _ = paused_window(
        mesh,
        shape,
        "exact",
        lambda _: None,
        {(CANARY, "errors"): 2, (CANARY, "requests"): 50, (STABLE, "requests"): 300},
    )
    for revision in (STABLE, CANARY):
        got = read(mesh, shape, "exact", revision, t0, t1)
        expected = increment(after, before, revision)
        assert {"requests": got["requests"], "errors": got["errors"]} == expected, revision
        assert got["latency"] is not None
        assert 0.04 < got["latency"]["p50"] < 0.3  # median 100 ms, within its buckets
        assert got["latency"]["p50"] <= got["latency"]["p90"] <= got["latency"]["p99"]


def lost_to_resets(
    series0: dict[Labels, float], series1: dict[Labels, float], revision: str, errors: bool
) -> int:
    """What a reset between the instants hides from an increment (analysis.counters):
    a reset series that counted back past its t0 value is read as having gone on."""
    shape_labels = {"destination_workload", "deployment"}
    failed = {("response_code", "503"), ("classification", "failure")}
    total = 0.0
    for labels, v1 in series1.items():
        mine = any((k, revision) in labels for k in shape_labels)
        if not mine or (errors and not failed & set(labels)):
            continue
        v0 = series0.get(labels)
        if v0 is not None and v1 >= v0:
            total += v0
    return int(total)


@pytest.mark.parametrize("shape", SHAPES)
def test_a_pod_restart_or_new_pods_between_the_instants_never_inflate_a_count(
    mesh: Mesh, shape: str
) -> None:
    """The stable's pods restart (values drop to 0), the canary's are replaced (new
    series): the canary's count is exact; the stable's is the truth minus what the
    documented rule hides, never negative nor more than the truth."""

    def restart(exporter: meshexport.Exporter) -> None:
        exporter.reset(STABLE)
        exporter.reset(CANARY, new_pod=True)

    t0, t1, before, after, series0, series1 = paused_window(
        mesh,
        shape,
        "resets",
        restart,
        {(CANARY, "requests"): 20, (STABLE, "requests"): 100},
    )
    canary = read(mesh, shape, "resets", CANARY, t0, t1)
    assert {"requests": canary["requests"], "errors": canary["errors"]} == increment(
        after, before, CANARY
    )
    new_pods = {dict(k)["pod"] for k in series1 if CANARY in dict(k).values()}
    assert new_pods
    assert not new_pods & {dict(k)["pod"] for k in series0}

    stable = read(mesh, shape, "resets", STABLE, t0, t1)
    truth = increment(after, before, STABLE)
    for key in ("requests", "errors"):
        assert 0 <= stable[key] <= truth[key], key
        hidden = lost_to_resets(series0, series1, STABLE, errors=key == "errors")
        assert stable[key] == truth[key] - hidden, key
    assert any(  # Prometheus did see the restart: some stable series went down
        series1[k] < v for k, v in series0.items() if STABLE in dict(k).values()
    )


@pytest.mark.parametrize("shape", SHAPES)
def test_a_deleted_revision_reads_no_requests(mesh: Mesh, shape: str) -> None:
    """After the canary's workload is deleted its series end: 0 requests, 0 errors;
    the stable's count stays exact."""
    t0, t1, before, after, _, series1 = paused_window(
        mesh,
        shape,
        "delete",
        lambda exporter: exporter.delete(CANARY),
        {(STABLE, "requests"): 200},
    )
    assert not [k for k in series1 if CANARY in dict(k).values()]
    assert increment(after, before, CANARY) == {"requests": 0, "errors": 0}
    canary = read(mesh, shape, "delete", CANARY, t0, t1)
    assert (canary["requests"], canary["errors"], canary["latency"]) == (0, 0, None)
    stable = read(mesh, shape, "delete", STABLE, t0, t1)
    assert {"requests": stable["requests"], "errors": stable["errors"]} == increment(
        after, before, STABLE
    )


# --- the process itself (no Prometheus) -----------------------------------------------


def start_lone() -> meshexport.Exporter:
    return meshexport.start_exporter(
        *("--shape", "linkerd", "--namespace", "prod", "--service", SERVICE),
        *("--rps", "100", "--weights", f"{STABLE}=100"),
    )


@pytest.fixture(scope="module")
def shared_exporter() -> Iterator[meshexport.Exporter]:
    """One exporter for the tests that must change nothing."""
    exporter = start_lone()
    try:
        yield exporter
    finally:
        exporter.stop()


@pytest.fixture
def lone_exporter() -> Iterator[meshexport.Exporter]:
    exporter = start_lone()
    try:
        yield exporter
    finally:
        exporter.stop()


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/control", {"weights": {STABLE: 150}}, "0–100"),
        ("/control", {"revisions": {CANARY: {"errorRate": 2}}}, "errorRate"),
        ("/control", {"speed": 1}, "unknown keys"),
        ("/control", "not json", "JSON"),
        ("/reset", {"revision": "web-99999"}, "unknown revision"),
        ("/reset", {"revision": STABLE, "newPod": "yes"}, "newPod"),
        ("/delete", {}, "revision"),
    ],
    ids=[
        "weight-over-100",
        "error-rate-over-1",
        "unknown-key",
        "not-json",
        "reset-unknown",
        "new-pod-not-bool",
        "delete-no-revision",
    ],
)
def test_bad_input_is_a_400_with_a_json_error_and_changes_nothing(
    shared_exporter: meshexport.Exporter, path: str, body: object, message: str
) -> None:
    exporter = shared_exporter
    before = exporter.truth()
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    request = urllib.request.Request(f"{exporter.url}{path}", data=raw, method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    with caught.value as response:
        assert response.code == 400
        assert message in json.load(response)["error"]
    assert settings(exporter.truth()) == settings(before)


def settings(truth: dict[str, Any]) -> object:
    """The traffic settings in a /truth document (not the counts, which go on)."""
    keep = ("errorRate", "latencyFactor", "pods", "deleted")
    revisions = {r: [s[k] for k in keep] for r, s in truth["revisions"].items()}
    return truth["weights"], truth["rps"], revisions


def test_the_api_changes_the_traffic_and_sigterm_stops_the_process(
    lone_exporter: meshexport.Exporter,
) -> None:
    """Control, reset and delete answer the truth after the change; GET /metrics is the
    exposition; SIGTERM ends the process with 0."""
    changed = lone_exporter.control(weights={STABLE: 0, CANARY: 100}, rps=400)
    assert (changed["weights"], changed["rps"]) == ({STABLE: 0, CANARY: 100}, 400)
    deadline = time.monotonic() + WAIT_S
    while lone_exporter.truth()["revisions"][CANARY]["requests"] < 50:
        assert time.monotonic() < deadline, "the canary never got requests"
        time.sleep(0.05)
    assert f'deployment="{CANARY}"' in lone_exporter.metrics()
    renewed = lone_exporter.reset(CANARY, new_pod=True)
    assert renewed["revisions"][CANARY]["pods"] == [f"{CANARY}-7d9f8-2", f"{CANARY}-7d9f8-3"]
    assert f'pod="{CANARY}-7d9f8-0"' not in lone_exporter.metrics()
    assert lone_exporter.delete(CANARY)["revisions"][CANARY]["deleted"] is True
    assert CANARY not in lone_exporter.metrics()
    assert lone_exporter.stop() == 0
