"""Retired revisions scale down on the local platform (issue 17): real revision
processes, the real proxy, SQLite state, the controller and the CLI as processes.

An aborted canary's process is stopped after the Service's `scaleDownDelay` (1 s)
and not before; its Revision says `ScaledToZero` with Ready kept. `rollout retry`
starts it again, and the release moves traffic to it only once it is ready again;
no request fails meanwhile. After the promotion, the replaced stable's process is
stopped in turn; `rollout undo` back to it makes a new revision from its template,
ready before its release moves any traffic.

Every process is stopped by its PID (the `local` fixture's cleanup).
"""

from __future__ import annotations

import sys
from datetime import datetime

from localenv import HOLD, SERVICE, Local, Prober, alive

from rollout.api import condition, release, revision
from rollout.store import sqlite


def deploy(local: Local, version: str) -> None:
    text = SERVICE.format(policy="hold", version=version, error_rate=0.0, python=sys.executable)
    local.apply(text.replace("spec:\n", "spec:\n  scaleDownDelay: 1s\n", 1), f"web-{version}")


def read(local: Local, kind: str, name: str) -> object | None:
    store = sqlite.SqliteStore(local.state_dir / "state.db")
    try:
        return store.get(kind, "default", name)
    except Exception:
        return None
    finally:
        store.close()


def rev(local: Local, name: str) -> revision.Revision:
    obj = read(local, "Revision", name)
    assert isinstance(obj, revision.Revision)
    return obj


def rel(local: Local, name: str) -> release.Release | None:
    obj = read(local, "Release", name)
    return obj if isinstance(obj, release.Release) else None


def phase(local: Local, name: str) -> str | None:
    found = rel(local, name)
    return found.status.phase.value if found is not None else None


def pid_of(local: Local, name: str) -> int | None:
    info = local.run_files().get(f"default.{name}")
    return int(info["pid"]) if info else None


def active(r: revision.Revision) -> condition.Condition:
    found = r.status.active_condition()
    assert found is not None
    return found


def changed(c: condition.Condition) -> datetime:
    assert c.last_transition_time is not None
    return c.last_transition_time


def stopped(local: Local, name: str, pid: int) -> bool:
    if pid_of(local, name) is not None or alive(pid):
        return False
    found = read(local, "Revision", name)
    return isinstance(found, revision.Revision) and found.status.scaled_to_zero()


def test_retired_processes_stop_after_the_delay_and_retry_restarts_one(local: Local) -> None:
    local.start()
    local.apply(HOLD, "hold")
    deploy(local, "v1")
    local.wait_for(lambda: pid_of(local, "web-00001") is not None
                   and (s := local.read()[0]) is not None and s.status.stable_revision is not None,
                   within=60, what="v1 deployed")  # fmt: skip
    deploy(local, "v2")
    local.wait_for(lambda: phase(local, "web-00002") == "Paused", within=60, what="paused at 50%")
    canary_pid = pid_of(local, "web-00002")
    assert canary_pid is not None
    prober = Prober(local.url())
    try:
        local.cli("abort", "web")
        local.wait_for(lambda: phase(local, "web-00002") == "Aborted", within=30, what="aborted")

        # The aborted canary's process is stopped after the delay, not before.
        local.wait_for(
            lambda: stopped(local, "web-00002", canary_pid), within=30, what="web-00002 stopped"
        )
        canary = rev(local, "web-00002")
        aborted = rel(local, "web-00002")
        assert aborted is not None
        assert aborted.status.finished_at is not None
        assert (changed(active(canary)) - aborted.status.finished_at).total_seconds() >= 1
        assert active(canary).reason == "ScaledToZero"
        assert canary.status.ready  # healthy, scaled down by decision
        assert canary.status.desired_replicas == 0
        stable_pid = pid_of(local, "web-00001")
        assert stable_pid is not None
        assert alive(stable_pid)
        svc, _ = local.read()
        assert svc is not None
        assert condition.is_true(svc.status.conditions, "Ready")
        listed = local.cli("get", "revisions")
        assert "ScaledToZero" in listed.stdout

        # retry: started again, and traffic moves only once it is ready.
        local.cli("retry", "web")
        local.wait_for(lambda: phase(local, "web-00002-2") == "Paused", within=60,
                       what="the retried release at its pause step")  # fmt: skip
        again = rel(local, "web-00002-2")
        assert again is not None
        started = next(h.at for h in again.status.history if h.event == "ReleaseStarted")
        back = rev(local, "web-00002")
        ready = back.status.ready_condition()
        assert ready is not None
        assert ready.status is condition.ConditionStatus.TRUE
        assert changed(ready) <= started  # ready again before the first weight
        assert changed(active(back)) <= started
        assert changed(ready) > changed(active(canary))  # a fresh readiness, not the old one
        new_pid = pid_of(local, "web-00002")
        assert new_pid is not None
        assert new_pid != canary_pid

        # promote: the replaced stable's process is stopped in turn.
        local.cli("promote", "web")
        local.wait_for(lambda: phase(local, "web-00002-2") == "Succeeded", within=30,
                       what="promoted")  # fmt: skip
        local.wait_for(
            lambda: stopped(local, "web-00001", stable_pid), within=30, what="web-00001 stopped"
        )
        assert alive(new_pid)

        # undo to the retired v1: its template again, as a new revision (`undo` always
        # makes one), started and ready before the release gives it any traffic.
        local.cli("undo", "web")
        local.wait_for(lambda: phase(local, "web-00003") == "Paused", within=60,
                       what="the undo's release at its pause step")  # fmt: skip
        undone = rel(local, "web-00003")
        assert undone is not None
        begun = next(h.at for h in undone.status.history if h.event == "ReleaseStarted")
        fresh = rev(local, "web-00003")
        assert fresh.spec.template == rev(local, "web-00001").spec.template
        fresh_ready = fresh.status.ready_condition()
        assert fresh_ready is not None
        assert fresh_ready.status is condition.ConditionStatus.TRUE
        assert changed(fresh_ready) <= begun
        assert rev(local, "web-00001").status.scaled_to_zero()  # v1 itself stays retired
    finally:
        prober.stop()
    failures = [t for t, ok in prober.outcomes if not ok]
    assert len(prober.outcomes) > 50
    assert failures == []
