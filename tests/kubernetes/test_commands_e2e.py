"""`rollout promote/pause/resume/abort --backend kubernetes` against a controller on
the API emulator: each writes its intent to the Release, the controller acts on it,
and repeating a command changes nothing (promote twice advances one step; a second
pause, resume or abort says "already …" and exits 0, issue 19). Then `rollout delete
service` removes the Service and the cluster's garbage collector its Route, Revisions
and Release; the policy it named, now unused, goes without --force."""

from __future__ import annotations

from typing import Any

from kubecluster import (
    Cluster,
    Controller,
    Recorder,
    assert_granted,
    rollout,
    service_yaml,
    wait_for,
)

GATED = """\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata: {name: gated}
spec:
  steps:
    - setWeight: 30
    - pause: {}
    - setWeight: 60
    - pause: {duration: 5m}
    - setWeight: 90
    - pause: {duration: 5m}
"""


def release(c: Cluster) -> dict[str, Any]:
    rel = c.obj("rollout.dev", "v1alpha1", "releases", "web-00002")
    assert rel is not None
    return rel


def phase_is(c: Cluster, phase: str, step: int | None = None) -> bool:
    rel = c.obj("rollout.dev", "v1alpha1", "releases", "web-00002")
    if rel is None:
        return False
    status = rel.get("status", {})
    return status.get("phase") == phase and (step is None or status.get("stepIndex") == step)


def test_promote_pause_resume_abort_and_their_repeats(cluster: Cluster) -> None:
    c = cluster
    controller = Controller(c.kubeconfig, c.tmp / "controller.log")
    recorder: Recorder | None = None
    try:
        c.apply(GATED, "policy.yaml")
        c.apply(service_yaml("v1", policy="gated"), "v1.yaml")
        wait_for(
            lambda: c.rsvc().get("status", {}).get("stableRevision") == "web-00001",
            30,
            "the first revision",
        )
        c.wait_split((("web-00001", 100),), 10)
        recorder = c.record()
        c.apply(service_yaml("v2", policy="gated"), "v2.yaml")
        wait_for(lambda: phase_is(c, "Paused", 1), 30, "the pause step at 30%")

        # promote twice before the controller moves: one step, not two
        first = rollout(c.kubeconfig, "promote", "web")
        second = rollout(c.kubeconfig, "promote", "web")
        assert first.returncode == 0, first.stderr
        assert second.returncode == 0, second.stderr
        assert "already" in second.stdout or "requested" in second.stdout, second.stdout
        wait_for(lambda: phase_is(c, "Progressing", 3), 20, "step 4 (a 5 minute pause) at 60%")
        assert release(c)["status"]["weights"]["canary"] == 60

        # pause holds, a second pause is refused and changes nothing
        paused = rollout(c.kubeconfig, "pause", "web")
        assert paused.returncode == 0, paused.stderr
        wait_for(lambda: phase_is(c, "Paused", 3), 20, "paused by the user")
        again = rollout(c.kubeconfig, "pause", "web")
        assert again.returncode == 0, again.stderr
        assert "already paused" in again.stdout

        # resume continues; a second resume has nothing to do
        resumed = rollout(c.kubeconfig, "resume", "web")
        assert resumed.returncode == 0, resumed.stderr
        wait_for(lambda: phase_is(c, "Progressing", 3), 20, "resumed")
        again = rollout(c.kubeconfig, "resume", "web")
        assert again.returncode == 0, again.stderr
        assert "already running" in again.stdout

        # abort: all traffic back to stable at once; a second abort is refused
        aborted = rollout(c.kubeconfig, "abort", "web")
        assert aborted.returncode == 0, aborted.stderr
        wait_for(lambda: phase_is(c, "Aborted"), 20, "aborted")
        again = rollout(c.kubeconfig, "abort", "web")
        assert again.returncode == 0, again.stderr
        assert "already aborted" in again.stdout
        wait_for(
            lambda: recorder is not None and recorder.splits[-1] == (("web-00001", 100),),
            10,
            "all traffic on the stable revision",
        )
        splits = recorder.stop()
        assert splits == [
            (("web-00001", 100),),
            (("web-00001", 70), ("web-00002", 30)),
            (("web-00001", 40), ("web-00002", 60)),
            (("web-00001", 100),),
        ], splits
        history = rollout(c.kubeconfig, "history", "web")
        assert history.returncode == 0, history.stderr
        assert "e2e" in history.stdout  # who issued the commands

        # delete: a policy in use is refused; the Service goes, its children after it
        refused = rollout(c.kubeconfig, "delete", "rpol", "gated")
        assert refused.returncode == 1
        assert "used by service web" in refused.stderr
        deleted = rollout(c.kubeconfig, "delete", "rsvc", "web")
        assert (deleted.returncode, deleted.stdout) == (0, "service/web deleted\n"), deleted.stderr
        wait_for(
            lambda: all(
                c.obj("rollout.dev", "v1alpha1", plural, name) is None
                for plural, name in (
                    ("services", "web"),
                    ("routes", "web"),
                    ("revisions", "web-00001"),
                    ("revisions", "web-00002"),
                    ("releases", "web-00002"),
                )
            ),
            20,
            "the Service, and its Route, Revisions and Release collected",
        )
        gone = rollout(c.kubeconfig, "delete", "rsvc", "web")
        assert gone.returncode == 1
        assert "not found" in gone.stderr
        assert rollout(c.kubeconfig, "delete", "rsvc", "web", "--ignore-not-found").returncode == 0
        unused = rollout(c.kubeconfig, "delete", "rpol", "gated")
        assert unused.returncode == 0, unused.stderr
        assert_granted(c.emu)
    finally:
        if recorder is not None:
            recorder.stop()
        assert controller.stop() == 0, controller.output()
