"""Adversarial end-to-end tests of `canary-standard` gated on a mesh's metrics in a
real Prometheus (issue 16, "Tests and measurements").

The setup is the one of `test_mesh_metrics_e2e`: the API emulator, the controller
process on `--metrics prometheus --preset istio --scrape-delay 2`, a real Prometheus
scraping `meshexport` every second (400 requests a second split by the HTTPRoute the
controller writes), and the ready policy with every duration divided by ten and
every alpha by a hundred (`test_mesh_metrics_e2e.scaled_policy`: a reading a second;
step 1 is 3 s of analysis at 1%, step 3 6 s at 5%, step 5 15 s at 25%, step 7 12 s at
50%; inconclusiveLimit 12, consecutiveErrorLimit 4). Each test
has its own cluster, exporter, Prometheus and controller, and breaks the metrics in
the middle of a release:

- counters reset (pods restarted in place) or series replaced (new pods): a good
  canary is still promoted step by step and no reading fails; a bad one is still
  rolled back;
- the canary's series deleted (its workload gone from the mesh): Inconclusive
  readings and no more traffic while they are gone, whether or not the step had
  Passed readings of its traffic before, then a pause on `inconclusive`;
- Prometheus stopped: Error readings, no more traffic, a pause on `errors`.

While a release runs, a `StatusRecorder` keeps every distinct status of its Release
and `cluster.record()` every split of the HTTPRoute, so the assertions cover what
happened in between, not only how it ended.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import meshexport
import pytest
from kubecluster import Cluster, Controller, Recorder, Split, rollout, service_yaml, wait_for
from promserver import PrometheusServer
from test_mesh_metrics_e2e import GATEWAY, scaled_policy

STABLE = "web-00001"
CANARY = "web-00002"  # the revision of v2, and the name of its Release
RELEASE = ("rollout.dev", "v1alpha1", "releases", CANARY)
ERRORS, LATENCY = "errors-vs-stable", "latency-vs-stable"
LAST_STEP = 7  # canary-standard has 8 steps
ENDED = ("Succeeded", "RolledBack", "Failed", "Aborted", "Superseded")

Status = dict[str, Any]


class StatusRecorder:
    """Records each distinct status of the Release `web-00002`, polling every 20 ms,
    with the monotonic time it was first seen."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.seen: list[tuple[float, Status]] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="release-recorder")
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped.wait(0.02):
            status = (self.cluster.obj(*RELEASE) or {}).get("status")
            if status and (not self.seen or self.seen[-1][1] != status):
                self.seen.append((time.monotonic(), status))

    def latest(self) -> Status:
        return self.seen[-1][1] if self.seen else {}

    def since(self, at: float) -> list[Status]:
        """The statuses first seen at or after monotonic time `at`."""
        return [s for t, s in self.seen if t >= at]

    def statuses(self) -> list[Status]:
        return [s for _, s in self.seen]

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(10)


@dataclasses.dataclass
class Mesh:
    cluster: Cluster
    exporter: meshexport.Exporter
    server: PrometheusServer
    controller: Controller
    recorders: list[StatusRecorder | Recorder] = dataclasses.field(default_factory=list)

    def release(self, version: str) -> StatusRecorder:
        """Apply `version` of web; record the statuses of its Release from now on."""
        text = service_yaml(version, policy="canary-standard", routing=GATEWAY)
        self.cluster.apply(text, f"{version}.yaml")
        recorder = StatusRecorder(self.cluster)
        self.recorders.append(recorder)
        return recorder

    def record_routes(self) -> Recorder:
        """Record the splits of the HTTPRoute from now on."""
        recorder = self.cluster.record()
        self.recorders.append(recorder)
        return recorder

    def wait(
        self, rec: StatusRecorder, predicate: Callable[[Status], Any], timeout: float, what: str
    ) -> Status:
        """The first status of the Release seen to satisfy `predicate`."""

        def found() -> Status | None:
            status = rec.latest()
            return status if status and predicate(status) else None

        try:
            return wait_for(found, timeout, what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nstatus: {rec.latest()}\n{self.log()}") from None

    def log(self) -> str:
        return self.controller.output()[-4000:]


@pytest.fixture
def mesh(
    cluster: Cluster, start_prometheus: Callable[[list[str]], PrometheusServer]
) -> Iterator[Mesh]:
    """The mesh, its Prometheus and the controller, with v1 of web serving all traffic;
    the canary `web-00002` is known to the mesh (so that it can be reset or deleted)."""
    exporter = meshexport.start_exporter(
        "--shape", "istio", "--namespace", "default", "--service", "web", "--seed", "16",
        "--rps", "400", "--weights", f"{STABLE}=100", "--kubeconfig", str(cluster.kubeconfig),
        "--route-namespace", "default", "--route-name", "web", "--router", "gateway-api",
    )  # fmt: skip
    try:
        server = start_prometheus([exporter.target])
        controller = Controller(
            cluster.kubeconfig, cluster.tmp / "controller.log",
            "--metrics", "prometheus", "--prometheus-url", server.url, "--preset", "istio",
            "--scrape-delay", "2",
        )  # fmt: skip
        m = Mesh(cluster, exporter, server, controller)
        try:
            cluster.apply(scaled_policy("canary-standard", 10), "policy.yaml")
            cluster.apply(service_yaml("v1", policy="canary-standard", routing=GATEWAY), "v1.yaml")
            wait_for(
                lambda: cluster.rsvc().get("status", {}).get("stableRevision") == STABLE,
                30,
                f"the first revision to take traffic:\n{controller.output()[-3000:]}",
            )
            server.wait_for(f'istio_requests_total{{destination_workload="{STABLE}"}}')
            exporter.control(revisions={CANARY: {"errorRate": 0.001}})
            yield m
        finally:
            for recorder in m.recorders:
                recorder.stop()
            code = controller.stop()
            server.stop()
        assert code == 0, controller.output()[-3000:]
    finally:
        exporter.stop()


def metric(status: Status, name: str) -> dict[str, Any]:
    """One metric's status in a Release status ({} before its first reading)."""
    return next((m for m in status.get("analysis", []) if m["metric"] == name), {})


def weight(status: Status) -> int:
    return int((status.get("weights") or {}).get("canary", 0))


def canary_weight(split: Split) -> int:
    return dict(split).get(CANARY, 0)


def ended(status: Status) -> bool:
    return status.get("phase") in ENDED


def steps_taken(final: Status) -> list[int]:
    """The step indexes the release went through, in order, each once: from its history
    (every entry carries the step it was written at), which a poll of its status can
    miss a short step of (step 1, `setWeight: 1`, lasts as long as the route takes)."""
    taken: list[int] = []
    for entry in sorted(final.get("history", []), key=lambda e: int(e.get("seq", 0))):
        step = entry.get("stepIndex")
        if step is not None and (not taken or taken[-1] != step):
            taken.append(int(step))
    return taken


def phases_seen(final: Status, statuses: list[Status]) -> set[str]:
    """Every phase the release was seen in: its history's and the polled statuses'."""
    phases = {str(e["phase"]) for e in final.get("history", []) if e.get("phase")}
    return phases | {str(s["phase"]) for s in statuses if s.get("phase")}


def readings(statuses: list[Status], name: str) -> list[dict[str, Any]]:
    """The readings of a metric the statuses show, each once (by its time)."""
    found: dict[str, dict[str, Any]] = {}
    for s in statuses:
        status = metric(s, name)
        if status.get("at") and status["at"] not in found:
            found[status["at"]] = status
    return list(found.values())


# --- counter resets ----------------------------------------------------------------------


def test_counter_resets_mid_release_neither_roll_back_nor_promote_a_good_canary(
    mesh: Mesh,
) -> None:
    """Pods restarted in place and pods replaced, at 5% and again at 25%: the release
    goes through every step in order and is promoted; no reading fails."""
    m = mesh
    rec = m.release("v2")
    # at 5%, after readings in the step: the canary's pods restart (counters back to 0),
    # the stable's are replaced (their series vanish, new pods count from 0)
    m.wait(
        rec,
        lambda s: s.get("stepIndex") == 3 and metric(s, ERRORS).get("measurements", 0) >= 2,
        40,
        "readings at 5%",
    )
    m.exporter.reset(CANARY)
    m.exporter.reset(STABLE, new_pod=True)
    # at 25%, gated on both comparisons, the other way round
    m.wait(
        rec,
        lambda s: s.get("stepIndex") == 5 and metric(s, LATENCY).get("measurements", 0) >= 2,
        40,
        "readings at 25%",
    )
    m.exporter.reset(CANARY, new_pod=True)
    m.exporter.reset(STABLE)
    final = m.wait(rec, ended, 90, "the release's end")
    rec.stop()
    statuses = rec.statuses()

    assert final["phase"] == "Succeeded", final
    assert steps_taken(final) == list(range(LAST_STEP + 1)), final["history"]  # in order
    assert not phases_seen(final, statuses) & {"RollingBack", "RolledBack", "Paused"}
    for name in (ERRORS, LATENCY):
        failed = [metric(s, name) for s in statuses if metric(s, name).get("failures", 0)]
        assert not failed, failed[0]
    # a reset never counts a request twice: the canary's increments add up to no more
    # than it served
    served = m.exporter.truth()["revisions"][CANARY]["requests"]
    assert 0 < metric(final, ERRORS)["evidence"]["canaryRequests"] <= served
    # the resets were real, as Prometheus saw them
    canary = f'istio_requests_total{{destination_workload="{CANARY}"}}'
    assert m.server.query(f"sum(resets({canary}[5m])) > 0")
    stable = f'istio_requests_total{{destination_workload="{STABLE}"}}'
    pods = m.server.query(f"count(count by (pod) (count_over_time({stable}[5m])))")
    assert pods[0]["value"][1] == "4"  # two pods, then the two that replaced them


def test_a_counter_reset_does_not_hide_a_bad_canarys_errors(mesh: Mesh) -> None:
    """A canary failing 5% of its requests, its pods restarted (and the stable's
    replaced) once Prometheus holds its first counts: still rolled back.

    The reset comes as soon as Prometheus has scraped the canary, so that no reading
    has counted its requests yet (readings are 2 s behind): the readings that decide
    are the ones whose window holds the reset, and those after it."""
    m = mesh
    m.exporter.control(revisions={CANARY: {"errorRate": 0.05}})
    rec = m.release("v2")
    canary = f'istio_requests_total{{destination_workload="{CANARY}"}}'
    wait_for(lambda: m.server.query(canary), 40, f"the canary's first counts\n{m.log()}")
    m.exporter.reset(CANARY)
    m.exporter.reset(STABLE, new_pod=True)
    before = rec.statuses()
    final = m.wait(rec, ended, 90, "the release's end")
    rec.stop()

    assert [weight(s) for s in before][-1:] == [1], before[-1:]  # mid-release, at 1%
    assert not [r for r in readings(before, ERRORS) if r["verdict"] == "Failed"]
    assert final["phase"] == "RolledBack", final
    errors = metric(final, ERRORS)
    assert errors["failures"] >= 1
    assert "canary errors exceed stable's" in errors["failureReason"]


# --- deleted series ----------------------------------------------------------------------


def test_deleted_series_make_readings_inconclusive_and_hold_the_weight(mesh: Mesh) -> None:
    """The canary's workload is gone from the mesh as its release starts: every reading
    is Inconclusive ("no canary requests yet"), the weight stays at 1% through the first
    analysis step and, on its 13th reading (inconclusiveLimit 12), the release pauses on
    `inconclusive`.

    Why a pause and not a promotion: with readings every second, the step pauses about
    13 s after it started if no canary request shows; a canary brought back after ~8 s
    shows in the readings only 3-5 s later (scraped within 1 s, read 2 s behind, on the
    next reading), so "brought back after 8 s" would race the limit. The test keeps
    the canary away until the pause (always reached first), then brings it back: its
    requests are read again (Passed) while the release stays Paused — a pause on
    `inconclusive` waits for a person — and after `rollout resume` (which restarts the
    step) the release goes on to the next weight.

    The canary is deleted as soon as its Release exists, before the route sends it a
    request (`/truth` shows it served none), so that the step has no Passed reading
    of it; the next test deletes one that had some."""
    m = mesh
    rec = m.release("v2")
    m.wait(rec, lambda s: s, 30, "the Release")
    routes = m.record_routes()
    m.exporter.delete(CANARY)
    deleted_at = time.monotonic()
    assert m.exporter.truth()["revisions"][CANARY]["requests"] == 0  # it never served
    paused = m.wait(rec, lambda s: s.get("phase") == "Paused", 40, "a pause")
    gone = rec.since(deleted_at)

    assert paused["pauseReason"] == "inconclusive", paused
    assert paused["stepIndex"] == 1
    assert metric(paused, ERRORS)["inconclusive"] == 13
    assert re.search(r"no canary requests", metric(paused, ERRORS)["reason"])
    assert {r["verdict"] for r in readings(gone, ERRORS)} == {"Inconclusive"}
    assert max(weight(s) for s in gone) == 1
    assert len(readings(gone, ERRORS)) >= 13  # the splits were recorded for that long
    assert max(canary_weight(split) for split in routes.splits) == 1, routes.splits

    # back in the mesh: read again, still paused
    m.exporter.control(revisions={CANARY: {"errorRate": 0.001}})
    back = m.wait(
        rec, lambda s: metric(s, ERRORS).get("verdict") == "Passed", 20, "a Passed reading"
    )
    assert back["phase"] == "Paused"
    assert back["pauseReason"] == "inconclusive"
    assert max(canary_weight(split) for split in routes.splits) == 1, routes.splits
    resumed = rollout(m.cluster.kubeconfig, "resume", "web")
    assert resumed.returncode == 0, resumed.stderr
    onwards = m.wait(rec, lambda s: weight(s) > 1 or ended(s), 40, "the next step")
    assert onwards["phase"] not in ("RollingBack", "RolledBack", "Paused"), onwards


def test_a_canary_deleted_after_passing_readings_gets_no_more_traffic(mesh: Mesh) -> None:
    """At 5% (6 s, gated on errors), once a reading of the step passed, the canary's
    workload is gone from the mesh: the readings that still pass are of its traffic
    before the delete, then every reading is Inconclusive ("no canary requests since
    the last reading"). The step does not end on the strength of the earlier passes:
    the weight stays at 5% and, on the step's 13th Inconclusive reading, the release
    pauses on `inconclusive`."""
    m = mesh
    rec = m.release("v2")
    m.wait(
        rec,
        lambda s: s.get("stepIndex") == 3 and metric(s, ERRORS).get("passes", 0) >= 1,
        40,
        "a Passed reading at 5%",
    )
    routes = m.record_routes()
    m.exporter.delete(CANARY)
    deleted_at = time.monotonic()
    at_delete = canary_weight(m.cluster.split() or ())
    paused = m.wait(rec, lambda s: s.get("phase") == "Paused", 40, "a pause")
    after = rec.since(deleted_at)
    splits = routes.stop()

    assert at_delete == 5
    assert paused["pauseReason"] == "inconclusive", paused
    assert paused["stepIndex"] == 3, paused["history"]
    assert metric(paused, ERRORS)["inconclusive"] == 13
    assert metric(paused, ERRORS)["passes"] >= 1  # the passes before the delete
    assert "no canary requests since the last reading" in metric(paused, ERRORS)["reason"]
    assert max(weight(s) for s in after) == 5
    assert max(canary_weight(split) for split in splits) == 5, splits


# --- Prometheus gone ---------------------------------------------------------------------


def test_prometheus_stopped_mid_release_pauses_on_errors_without_more_traffic(
    mesh: Mesh,
) -> None:
    """Prometheus stopped at the first analysis step: Error readings saying it is
    unreachable, the weight held at 1% while blind, and a pause on `errors` after more
    than consecutiveErrorLimit (4) of them in a row — never a promotion."""
    m = mesh
    rec = m.release("v2")
    m.wait(rec, lambda s: s.get("stepIndex") == 1, 30, "the first analysis step")
    routes = m.record_routes()
    m.server.stop()
    stopped_at = time.monotonic()
    at_stop = canary_weight(m.cluster.split() or ())
    paused = m.wait(rec, lambda s: s.get("phase") == "Paused", 30, "a pause")
    after = rec.since(stopped_at)
    splits = routes.stop()

    assert paused["pauseReason"] == "errors", paused
    assert paused["stepIndex"] == 1
    errors, latency = metric(paused, ERRORS), metric(paused, LATENCY)
    assert errors["verdict"] == "Error"
    assert latency["verdict"] == "Error"  # blind on every metric
    # The pause comes with the first metric past the limit; the two are read on their
    # own measurement threads, so the other may be one reading behind.
    counts = sorted((errors["consecutiveErrors"], latency["consecutiveErrors"]))
    assert counts[1] == 5, counts
    assert counts[0] >= 4, counts
    assert re.search(r"Prometheus at \S+ is unreachable", errors["reason"]), errors["reason"]
    assert at_stop == 1
    assert max(canary_weight(split) for split in splits) == 1, splits
    assert max(weight(s) for s in after) == 1
    assert not phases_seen(paused, rec.statuses()) & {"Promoting", "Succeeded"}
