"""The progress deadline on the real local platform (issue 19): a canary killed with
SIGKILL long after its creation + progressDeadline, while its release waits for
`promote`, is restarted and ready again — its release still waits (it used to be
rolled back at once, `ProgressDeadlineExceeded: not ready after 0:00:15`); and a
revision that keeps exiting says why in its Ready condition.

A real controller process, the real proxy and real revision processes (`localenv`).
Every process is stopped by its PID; waits are on conditions with deadlines.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from localenv import HOLD, Local

from rollout.api import condition, revision
from rollout.store import sqlite

DEADLINE_S = 20  # the Service's progressDeadline: short, so that it passes in the test

SERVICE = """\
apiVersion: rollout.dev/v1alpha1
kind: Service
metadata: {{name: web}}
spec:
  policy: hold
  progressDeadline: {deadline}s
  template:
    spec:
      containers:
        - name: app
          command: {command}
          env:
            - {{name: VERSION, value: {version}}}
          readinessProbe: {{httpGet: {{path: /healthz, port: 8080}}, periodSeconds: 1}}
"""
DEMO = f"[{sys.executable}, -m, rollout.demo.app]"
# Prints two lines, then exits with code 3 at once: it never gets ready.
CRASHING = (
    f"[{sys.executable}, -c,"
    " \"print('loading config'); print('boom: no config'); raise SystemExit(3)\"]"
)


def apply_service(local: Local, version: str, command: str = DEMO) -> None:
    text = SERVICE.format(deadline=DEADLINE_S, command=command, version=version)
    local.apply(text, f"web-{version}")


def read_revision(local: Local, name: str) -> revision.Revision | None:
    store = sqlite.SqliteStore(local.state_dir / "state.db")
    try:
        found = store.get("Revision", "default", name)
        return found if isinstance(found, revision.Revision) else None
    except Exception:
        return None
    finally:
        store.close()


def ready_of(local: Local, name: str) -> condition.Condition | None:
    rev = read_revision(local, name)
    return rev.status.ready_condition() if rev is not None else None


def waiting_for_promote(local: Local) -> None:
    local.start()
    local.apply(HOLD, "hold")
    apply_service(local, "v1")
    local.wait_serving()
    apply_service(local, "v2")
    local.wait_for(lambda: local.phase() == "Paused", within=60, what="release paused at 50%")


def test_a_canary_killed_after_its_deadline_comes_back_and_its_release_still_waits(
    local: Local,
) -> None:
    """Found: one kill -9 of a canary after creation + progressDeadline rolled its
    release back at once, losing a release that was waiting for promote."""
    waiting_for_promote(local)
    rev = read_revision(local, "web-00002")
    assert rev is not None
    assert rev.metadata.creation_timestamp is not None
    created = rev.metadata.creation_timestamp.timestamp()
    time.sleep(max(0.0, created + DEADLINE_S + 1 - time.time()))  # the deadline has passed

    canary = local.run_files()["default.web-00002"]
    os.killpg(int(canary["pid"]), signal.SIGKILL)
    local.wait_for(
        lambda: local.run_files().get("default.web-00002", canary)["pid"] != canary["pid"],
        within=20,
        what="the canary restarted",
    )

    def ready_again() -> bool:
        ready = ready_of(local, "web-00002")
        return ready is not None and ready.status is condition.ConditionStatus.TRUE

    local.wait_for(ready_again, within=DEADLINE_S, what="the canary ready again")
    time.sleep(1.5)  # a rollback decided on the kill would have landed by now
    _, rel = local.read()
    assert rel is not None
    assert rel.status.phase.value == "Paused", rel.status.message
    assert rel.status.pause_reason == "promotion"
    rev = read_revision(local, "web-00002")
    assert rev is not None
    assert rev.status.restarts >= 1
    assert "ProgressDeadlineExceeded" not in local.cli("history", "web").stdout


def test_a_revision_that_keeps_exiting_says_why_in_its_ready_condition(local: Local) -> None:
    """Its Ready message names how the process ended, how often it was restarted and
    the last lines of its output — what `rollout status` shows under the service."""
    local.start()
    local.apply(HOLD, "hold")
    apply_service(local, "v1", CRASHING)

    def explained() -> bool:
        ready = ready_of(local, "web-00001")
        return ready is not None and "restarted" in ready.message

    local.wait_for(explained, within=30, what="the exit named in the Ready condition")
    ready = ready_of(local, "web-00001")
    assert ready is not None
    assert ready.status is not condition.ConditionStatus.TRUE
    first, *rest = ready.message.splitlines()
    assert first.startswith("exited with code 3, restarted "), ready.message
    assert rest == ["last log lines:", "  loading config", "  boom: no config"]
