"""End to end on the local platform: real revision processes, the real proxy, real
HTTP load, SQLite state, the controller and the CLI as separate processes (the
harness: `localenv`).

Every process started here is stopped by its PID (the controller by SIGTERM, which
stops its revisions and the proxy; a fixture kills whatever is left).
"""

from __future__ import annotations

import json
import random
import signal
import sys
import time

from localenv import HOLD, Load, Local, alive

from rollout.api import condition, route
from rollout.platforms.local.proxy import client as proxy_client

STEPPED = """\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata: {name: stepped}
spec:
  steps:
    - setWeight: 20
    - pause: {duration: 3s}
    - setWeight: 40
    - pause: {duration: 3s}
    - setWeight: 60
    - pause: {duration: 3s}
    - setWeight: 80
    - pause: {duration: 3s}
"""

PROMETHEUS = """\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata: {{name: prom}}
spec:
  steps: [{{setWeight: 50}}, {{analysis: {{duration: 60s}}}}]
  analysis:
    interval: 2s
    failureLimit: 1
    inconclusiveLimit: 30
    metrics:
      - name: canary-error-ratio
        window: 10s
        provider:
          prometheus:
            address: "http://{prometheus}"
            query: >-
              (sum(rate(rollout_proxy_requests_total{{service="{{{{service}}}}",
              revision="{{{{revision}}}}",code=~"5xx|error"}}[{{{{window}}}}])) or vector(0))
              / sum(rate(rollout_proxy_requests_total{{service="{{{{service}}}}",
              revision="{{{{revision}}}}"}}[{{{{window}}}}]))
        thresholds: {{max: 0.1}}
"""


def test_abort_returns_all_traffic_to_stable_without_failing_a_request(local):
    local.start()
    local.apply(HOLD, "hold")
    local.service("hold", "v1")
    local.wait_serving()  # v1 deployed, and the proxy routes to it
    load = Load(local.url())
    local.service("hold", "v2")
    local.wait_for(
        lambda: (rel := local.read()[1]) is not None and rel.status.phase.value == "Paused",
        within=60,
        what="release paused at 50%",
    )
    aborted = local.cli("abort", "web")
    assert "abort requested" in aborted.stdout
    local.wait_for(
        lambda: (rel := local.read()[1]) is not None and rel.status.phase.value == "Aborted",
        within=30,
        what="release aborted",
    )
    time.sleep(2)  # keep the load running across and after the switch back
    result = load.stop()
    assert result.done > 100
    assert result.failed == 0, result.summary()
    assert result.by_revision.get("web-00002", 0) > 0  # the canary did serve before
    svc, _ = local.read()
    assert svc is not None
    assert [(t.revision_name, t.percent) for t in svc.status.traffic] == [("web-00001", 100)]


def _served_as_reported(local: Local) -> bool:
    """The Route says TrafficApplied and the proxy holds that split, every target with
    weight ready: the status tells the truth about the data plane."""
    rt = local.route()
    table = local.proxy_table()
    if rt is None or table is None:
        return False
    ready = condition.get_condition(rt.status.conditions, condition.ConditionType.READY)
    held = [(t.revision, t.percent, t.tag, t.ready) for t in table.targets]
    reported = [(t.revision_name, t.percent, t.tag, t.ready) for t in rt.status.traffic]
    return (
        ready is not None
        and ready.status is condition.ConditionStatus.TRUE
        and held == reported
        and all(t.ready for t in table.targets if t.percent)
    )


def test_controller_killed_repeatedly_mid_release_loses_no_request(local):
    """Issue 13, finding 1: SIGKILL the controller three times at random points of a
    release under load: the revisions are adopted (probed, not restarted), the proxy
    never gets a split without its revisions' URLs — not one request fails — and the
    release ends with the Route's status saying what the proxy serves."""
    rng = random.Random()
    local.start()
    local.apply(STEPPED, "stepped")
    local.service("stepped", "v1")
    local.wait_serving()  # v1 deployed, and the proxy routes to it
    load = Load(local.url(), rps=20)
    local.service("stepped", "v2")
    local.wait_for(lambda: local.phase() == "Progressing", within=60, what="release started")
    before = {name: info["pid"] for name, info in local.run_files().items()}
    kills = []
    for _ in range(3):
        time.sleep(rng.uniform(0.2, 3.0))  # a random point: mid-step, mid-apply, mid-start
        kills.append(local.phase())
        local.stop(signal.SIGKILL)
        assert all(alive(int(pid)) for pid in before.values())  # revisions keep serving
        local.start()
    local.wait_for(
        lambda: local.phase() == "Succeeded", within=90, what="release finished after the kills"
    )
    local.wait_for(lambda: _served_as_reported(local), within=10, what="route status truthful")
    result = load.stop()
    assert result.failed == 0, (kills, result.summary())
    after = {name: info["pid"] for name, info in local.run_files().items()}
    assert after["default.web-00002"] == before["default.web-00002"]  # adopted, not restarted
    history = json.loads(local.cli("history", "web", "-o", "json").stdout)[-1]["history"]
    steps = [e["stepIndex"] for e in history if e["event"] == "StepAdvanced"]
    assert steps == sorted(set(steps))  # no step repeated
    weights = [e["weights"]["canary"] for e in history if "weights" in e]
    assert weights == sorted(weights)  # never backwards
    rt = local.route()
    assert rt is not None
    assert isinstance(rt, route.Route)
    assert [(t.revision_name, t.percent) for t in rt.status.traffic if t.percent] == [
        ("web-00002", 100)
    ]


def test_prometheus_gated_release_rolls_back_a_bad_canary(local, start_prometheus):
    """Prometheus scrapes the proxy's /metrics; a policy gated on a PromQL error ratio
    rolls a bad canary back."""
    local.start()
    local.service("prom", "v1")  # a first deploy needs no policy yet
    local.wait_serving()  # v1 deployed, and the proxy routes to it
    load = Load(local.url(), rps=40)
    state = proxy_client.read_state(local.state_dir)
    assert state is not None
    prometheus = start_prometheus([state[1].removeprefix("http://")])  # has data once loaded
    local.apply(PROMETHEUS.format(prometheus=prometheus.url.removeprefix("http://")), "prom")
    local.service("prom", "v2", error_rate=0.5)
    local.wait_for(
        lambda: (rel := local.read()[1]) is not None and rel.status.phase.value == "RolledBack",
        within=90,
        what="bad canary rolled back on the Prometheus metric",
    )
    load.stop()
    _, rel = local.read()
    assert rel is not None
    gate = next(m for m in rel.status.analysis if m.metric == "canary-error-ratio")
    assert gate.verdict is not None
    assert gate.verdict.value == "Failed"
    assert gate.value is not None
    assert gate.value > 0.1


CRASHING = """\
apiVersion: rollout.dev/v1alpha1
kind: Service
metadata: {{name: crash}}
spec:
  template:
    spec:
      containers:
        - name: app
          command: [{python}, -c, "import sys; print('boom'); sys.exit(3)"]
"""


def test_a_crash_looping_revision_ends_status_watch_with_its_cause(local):
    """Issue 19: a revision that crash-loops is under the service while it restarts,
    and `status --watch` exits 1 with the runtime's reason once it has failed (not
    `no traffic` until its 30-minute timeout); `rollout events` has the failure."""
    local.start()
    local.apply(CRASHING.format(python=sys.executable), "crash")
    started = time.monotonic()
    watched = local.cli("status", "crash", "--watch", check=False)
    assert watched.returncode == 1, watched.stdout + watched.stderr
    assert time.monotonic() - started < 110
    assert "Revision/crash-00001: Restarting" in watched.stdout  # while it restarted
    assert watched.stderr.startswith("crash: can make no progress: Revision/crash-00001: CrashLoop")
    assert "boom" in watched.stdout  # the last lines of its log, as the runtime wrote them
    events = json.loads(local.cli("events", "crash", "-o", "json").stdout)
    assert "CrashLoop" in [e["reason"] for e in events]
