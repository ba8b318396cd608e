"""End to end on the local platform: real revision processes, the real proxy, real
HTTP load, SQLite state, the controller and the CLI as separate processes.

Every process started here is stopped by its PID (the controller by SIGTERM, which
stops its revisions and the proxy; a fixture kills whatever is left).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rollout.api import release, service
from rollout.platforms.local import loadgen
from rollout.platforms.local.proxy import client as proxy_client
from rollout.store import sqlite

ROLLOUT = str(Path(sys.executable).parent / "rollout")

SERVICE = """\
apiVersion: rollout.dev/v1alpha1
kind: Service
metadata: {{name: web}}
spec:
  policy: {policy}
  template:
    containers:
      - name: app
        command: [{python}, -m, rollout.demo.app]
        env:
          - {{name: VERSION, value: {version}}}
          - {{name: ERROR_RATE, value: "{error_rate}"}}
        readinessProbe: {{httpGet: {{path: /healthz}}}}
"""

HOLD = """\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata: {name: hold}
spec:
  steps: [{setWeight: 50}, {pause: {}}]
"""

STEPPED = """\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata: {name: stepped}
spec:
  steps:
    - setWeight: 20
    - pause: {duration: 6s}
    - setWeight: 40
    - pause: {duration: 6s}
    - setWeight: 60
    - pause: {duration: 6s}
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


class Local:
    """A state dir with a local-platform controller process and the CLI in front."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.controller: subprocess.Popen[bytes] | None = None
        self.log = state_dir / "controller.out"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.controller = subprocess.Popen(
                [ROLLOUT, "controller", "--platform", "local", "--metrics-addr", "off",
                 "--state-dir", str(self.state_dir)],
                stdout=out,
                stderr=out,
            )  # fmt: skip

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.controller is not None and self.controller.poll() is None:
            self.controller.send_signal(sig)
            self.controller.wait(timeout=30)
        self.controller = None

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [ROLLOUT, *args, "--state-dir", str(self.state_dir)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, "ROLLOUT_USER": "e2e"},
        )
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    def apply(self, text: str, name: str) -> None:
        path = self.state_dir / f"{name}.yaml"
        path.write_text(text)
        self.cli("apply", "-f", str(path))

    def service(self, policy: str, version: str, error_rate: float = 0.0) -> None:
        text = SERVICE.format(
            policy=policy, version=version, error_rate=error_rate, python=sys.executable
        )
        self.apply(text, f"web-{version}")

    def read(self) -> tuple[service.Service | None, release.Release | None]:
        store = sqlite.SqliteStore(self.state_dir / "state.db")
        try:
            svc = store.get("Service", "default", "web")
            assert isinstance(svc, service.Service)
            rel = None
            if svc.status.current_release:
                found = store.get("Release", "default", svc.status.current_release)
                rel = found if isinstance(found, release.Release) else None
            return svc, rel
        except Exception:
            return None, None
        finally:
            store.close()

    def wait_for(self, predicate: Callable[[], bool], *, within: float, what: str) -> None:
        deadline = time.monotonic() + within
        while not predicate():
            if self.controller is not None:
                assert self.controller.poll() is None, self.log.read_text()[-3000:]
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: not within {within} s\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)

    def url(self) -> str:
        svc, _ = self.read()
        assert svc is not None
        assert svc.status.url, "the service has no URL yet"
        return svc.status.url

    def run_files(self) -> dict[str, dict[str, Any]]:
        return {p.stem: json.loads(p.read_text()) for p in (self.state_dir / "run").glob("*.json")}


class Load:
    """The load generator in a thread, until stopped."""

    def __init__(self, url: str, rps: float = 40) -> None:
        self.result: loadgen.LoadResult | None = None
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        started = threading.Event()

        def drive() -> None:
            self._loop = asyncio.new_event_loop()
            self._stop = asyncio.Event()
            started.set()
            self.result = self._loop.run_until_complete(
                loadgen.run_open(url, rps=rps, duration=600, stop=self._stop)
            )
            self._loop.close()

        self.thread = threading.Thread(target=drive, daemon=True)
        self.thread.start()
        started.wait(10)

    def stop(self) -> loadgen.LoadResult:
        assert self._loop is not None
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(timeout=30)
        assert self.result is not None
        return self.result


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Local]:
    env = Local(tmp_path)
    try:
        yield env
    finally:
        env.stop()
        for info in env.run_files().values():  # nothing may outlive the test
            if _alive(int(info["pid"])):
                os.killpg(int(info["pid"]), signal.SIGKILL)
        proxy_client.stop_proxy(tmp_path)


def test_demo_rolls_back_the_bad_version_and_promotes_the_good_one(tmp_path):
    """`rollout demo --json`: bad → RolledBack with few failed requests; good → Succeeded."""
    result = subprocess.run(
        [ROLLOUT, "demo", "--json", "--state-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    bad, good = (json.loads(line) for line in result.stdout.splitlines())
    assert (bad["scenario"], bad["phase"]) == ("bad", "RolledBack")
    assert 0 < bad["requests"]["canaryFailed"] <= 10
    assert (good["scenario"], good["phase"]) == ("good", "Succeeded")
    assert good["requests"]["canary"] > 0
    assert good["requests"]["canaryFailed"] == 0
    assert not list((tmp_path / "run").glob("*.json"))  # every revision process stopped
    assert proxy_client.read_state(tmp_path) is None or not _alive(
        proxy_client.read_state(tmp_path)[0]  # type: ignore[index]
    )


def test_abort_returns_all_traffic_to_stable_without_failing_a_request(local):
    local.start()
    local.apply(HOLD, "hold")
    local.service("hold", "v1")
    local.wait_for(lambda: bool(local.read()[0] and local.read()[0].status.stable_revision),
                   within=60, what="v1 deployed")  # fmt: skip
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


def test_controller_killed_mid_release_adopts_processes_and_finishes(local):
    local.start()
    local.apply(STEPPED, "stepped")
    local.service("stepped", "v1")
    local.wait_for(lambda: bool(local.read()[0] and local.read()[0].status.stable_revision),
                   within=60, what="v1 deployed")  # fmt: skip
    load = Load(local.url(), rps=20)
    local.service("stepped", "v2")
    local.wait_for(
        lambda: (rel := local.read()[1]) is not None and rel.status.step_index >= 2,
        within=60,
        what="release at step 3",
    )
    before = {name: info["pid"] for name, info in local.run_files().items()}
    local.stop(signal.SIGKILL)
    assert all(_alive(int(pid)) for pid in before.values())  # revisions keep serving
    local.start()
    local.wait_for(
        lambda: (rel := local.read()[1]) is not None and rel.status.phase.value == "Succeeded",
        within=90,
        what="release finished after the restart",
    )
    result = load.stop()
    assert result.failed == 0, result.summary()
    after = {name: info["pid"] for name, info in local.run_files().items()}
    assert after["default.web-00002"] == before["default.web-00002"]  # adopted, not restarted
    history = json.loads(local.cli("history", "web", "-o", "json").stdout)[-1]["history"]
    steps = [e["stepIndex"] for e in history if e["event"] == "StepAdvanced"]
    assert steps == sorted(set(steps))  # no step repeated
    weights = [e["weights"]["canary"] for e in history if "weights" in e]
    assert weights == sorted(weights)  # never backwards


def test_prometheus_gated_release_rolls_back_a_bad_canary(local, start_prometheus):
    """Prometheus scrapes the proxy's /metrics; a policy gated on a PromQL error ratio
    rolls a bad canary back."""
    local.start()
    local.service("prom", "v1")  # a first deploy needs no policy yet
    local.wait_for(lambda: bool(local.read()[0] and local.read()[0].status.stable_revision),
                   within=60, what="v1 deployed")  # fmt: skip
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
