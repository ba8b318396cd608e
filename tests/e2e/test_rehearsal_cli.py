"""End to end through processes: `rollout controller --platform sim` in the
background, the CLI in front of it, SQLite state in a temporary state dir.

Every process started here is stopped by its PID at the end of its test.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rollout.api import release
from rollout.store import sqlite

ROOT = Path(__file__).resolve().parents[2]
ROLLOUT = str(Path(sys.executable).parent / "rollout")
SPEED = "30"

SERVICE = """\
apiVersion: rollout.dev/v1alpha1
kind: Service
metadata: {{name: web}}
spec:
  policy: {policy}
  template:
    spec:
      containers:
        - name: app
          command: [app]
          env: [{{name: VERSION, value: {version}}}]
"""


class Rehearsal:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.controller: subprocess.Popen[bytes] | None = None
        self.logs = state_dir / "controller.log"

    def start(self, scenario: str, metrics_addr: str = "off") -> None:
        with self.logs.open("ab") as log:
            self.controller = subprocess.Popen(
                [
                    ROLLOUT,
                    "controller",
                    "--platform",
                    "sim",
                    "--scenario",
                    scenario,
                    "--speed",
                    SPEED,
                    "--metrics-addr",
                    metrics_addr,
                    "--state-dir",
                    str(self.state_dir),
                ],
                stdout=log,
                stderr=log,
            )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.controller is not None and self.controller.poll() is None:
            self.controller.send_signal(sig)
            self.controller.wait(timeout=10)
        self.controller = None

    def run(self, *args: str, timeout: float = 150) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [ROLLOUT, *args, "--state-dir", str(self.state_dir)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**os.environ, "ROLLOUT_USER": "e2e"},
        )

    def apply_service(self, policy: str, version: str) -> None:
        path = self.state_dir / f"web-{version}.yaml"
        path.write_text(SERVICE.format(policy=policy, version=version))
        result = self.run("apply", "-f", str(ROOT / "policies" / f"{policy}.yaml"), "-f", str(path))
        assert result.returncode == 0, result.stderr

    def json(self, *args: str) -> Any:
        result = self.run(*args, "-o", "json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def wait_for(self, predicate: Callable[[], bool], *, within: float) -> None:
        deadline = time.monotonic() + within
        while not predicate():
            assert self.controller is None or self.controller.poll() is None, self.logs.read_text()
            if time.monotonic() > deadline:
                log = self.logs.read_text()[-3000:]
                pytest.fail(f"not reached within {within} s; controller log:\n{log}")
            time.sleep(0.1)

    def release(self) -> release.Release | None:
        """The service's current release, read from the state dir's store."""
        store = sqlite.SqliteStore(self.state_dir / "state.db")
        try:
            svc = store.get("Service", "default", "web")
            name = svc.status.current_release  # type: ignore[union-attr]
            found = store.get("Release", "default", name) if name else None
        finally:
            store.close()
        return found if isinstance(found, release.Release) else None

    def deployed(self, policy: str) -> None:
        """v1 applied and rolled out (no release for a first deploy)."""
        self.apply_service(policy, "v1")
        result = self.run("status", "web", "--watch", "--timeout", "60s")
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def rehearsal(tmp_path: Path) -> Iterator[Rehearsal]:
    r = Rehearsal(tmp_path)
    try:
        yield r
    finally:
        r.stop(signal.SIGKILL)


def test_bad_canary_is_rolled_back_and_status_exits_1(rehearsal):
    rehearsal.start("bad-5pct")
    rehearsal.deployed("canary-standard")
    rehearsal.apply_service("canary-standard", "v2")
    result = rehearsal.run("status", "web", "--watch", "--timeout", "120s")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "RolledBack" in result.stderr
    release = rehearsal.json("get", "release", "web-00002")
    assert release["status"]["phase"] == "RolledBack"
    status = rehearsal.json("status", "web")
    assert [(t["revision"], t["percent"]) for t in status["traffic"]] == [("web-00001", 100)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_good_canary_succeeds_and_status_exits_0(rehearsal):
    port = _free_port()
    rehearsal.start("good", metrics_addr=f"127.0.0.1:{port}")
    rehearsal.deployed("canary-standard")
    rehearsal.apply_service("canary-standard", "v2")
    result = rehearsal.run("status", "web", "--watch", "--timeout", "120s")
    assert result.returncode == 0, result.stdout + result.stderr
    status = rehearsal.json("status", "web")
    assert status["release"]["phase"] == "Succeeded"
    assert status["stableRevision"] == "web-00002"
    assert [(t["revision"], t["percent"]) for t in status["traffic"]] == [("web-00002", 100)]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        exposition = response.read().decode()
    assert 'rollout_reconciles_total{kind="Release"}' in exposition
    assert (
        'rollout_release_phase{namespace="default",phase="Succeeded",release="web-00002"} 1.0'
        in exposition
    )
    assert rehearsal.controller is not None
    rehearsal.controller.send_signal(signal.SIGTERM)  # graceful: stops its threads, exits 0
    assert rehearsal.controller.wait(timeout=10) == 0


def test_manual_gate_waits_in_paused_until_promote(rehearsal):
    rehearsal.start("good")
    rehearsal.deployed("canary-manual-gate")
    rehearsal.apply_service("canary-manual-gate", "v2")

    def phase() -> str:
        return (
            str(rehearsal.json("status", "web")["release"]["phase"])
            if rehearsal.json("status", "web")["release"]
            else ""
        )

    rehearsal.wait_for(lambda: phase() == "Paused", within=60)
    time.sleep(1)  # 30 s of controller time: still waiting for a human
    assert phase() == "Paused"
    promoted = rehearsal.run("promote", "web")
    assert promoted.returncode == 0, promoted.stderr
    assert "promotion from step" in promoted.stdout
    result = rehearsal.run("status", "web", "--watch", "--timeout", "60s")
    assert result.returncode == 0, result.stdout + result.stderr
    again = rehearsal.run("promote", "web")  # its intent holds: said, exit 0 (issue 19)
    assert again.returncode == 0, again.stderr
    assert "already promoted" in again.stdout
    history = rehearsal.json("history", "web")
    entries = history[-1]["history"]
    assert any(e.get("by") == "e2e" for e in entries)


def test_controller_killed_mid_release_resumes_without_repeating_steps(rehearsal):
    rehearsal.start("good")
    rehearsal.deployed("canary-standard")
    rehearsal.apply_service("canary-standard", "v2")

    def step() -> int:
        rel = rehearsal.release()
        return rel.status.step_index if rel and rel.metadata.name == "web-00002" else -1

    rehearsal.wait_for(lambda: step() >= 4, within=60)
    rehearsal.stop(signal.SIGKILL)
    killed_at = step()
    rehearsal.start("good")
    result = rehearsal.run("status", "web", "--watch", "--timeout", "120s")
    assert result.returncode == 0, result.stdout + result.stderr
    history = rehearsal.json("history", "web")
    entries = history[-1]["history"]
    steps = [e["stepIndex"] for e in entries if e["event"] == "StepAdvanced"]
    assert steps == list(range(steps[0], steps[0] + len(steps)))  # none repeated or skipped
    assert killed_at in steps
    weights = [e["weights"]["canary"] for e in entries if "weights" in e]
    assert weights == sorted(weights)  # never backwards
    assert history[-1]["phase"] == "Succeeded"


def test_status_says_why_and_when_no_controller_runs(rehearsal):
    """Issue 19 end to end: the controller beats and keeps its events in the state dir;
    a change naming a missing policy ends `status --watch` at once with the reason
    (exit 1, not its timeout); `rollout events` lists what happened; once the
    controller is gone, `status` says no controller has been seen for N seconds."""
    rehearsal.start("good")
    beats = rehearsal.state_dir / "controller.heartbeat"
    rehearsal.wait_for(beats.exists, within=30)
    rehearsal.deployed("canary-fast")  # the first deploy needs no policy
    path = rehearsal.state_dir / "web-v2.yaml"
    path.write_text(SERVICE.format(policy="no-such-policy", version="v2"))
    assert rehearsal.run("apply", "-f", str(path)).returncode == 0
    started = time.monotonic()
    watched = rehearsal.run("status", "web", "--watch", "--timeout", "5m")
    assert watched.returncode == 1, watched.stdout + watched.stderr
    assert time.monotonic() - started < 60  # said at once, not after the timeout
    assert watched.stderr.startswith("web: can make no progress: Service/web: PolicyNotFound")
    assert "RolloutPolicy 'no-such-policy' does not exist" in watched.stdout
    events = rehearsal.json("events", "web")
    reasons = [e["reason"] for e in events]
    assert "RevisionCreated" in reasons
    assert "RolledOut" in reasons
    rehearsal.stop()

    def warned() -> bool:
        result = rehearsal.run("status", "web", "-o", "json")
        return any(
            p["reason"] == "NoController" and "no controller seen for" in p["message"]
            for p in json.loads(result.stdout)["problems"]
        )

    rehearsal.wait_for(warned, within=30)
