"""Two `rollout promote` processes started at once against one state dir, with a
rehearsal controller acting on the first within milliseconds (issue 19: two promotes,
even concurrent, advanced two steps). The policy pauses twice in a row, so a promote
that read the release after the controller took the first one would find a second
pause to promote. Both exit 0; the release advances one step and stays there.

Every process started here is stopped by its PID at the end of its test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import test_rehearsal_cli as rehearsal_cli

POLICY = """\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata: {name: twice}
spec:
  steps:
    - setWeight: 10
    - pause: {}
    - pause: {}
    - setWeight: 50
    - pause: {}
"""


@pytest.fixture
def rehearsal(tmp_path: Path) -> Iterator[rehearsal_cli.Rehearsal]:
    r = rehearsal_cli.Rehearsal(tmp_path)
    try:
        yield r
    finally:
        r.stop(signal.SIGKILL)


def apply(r: rehearsal_cli.Rehearsal, version: str) -> None:
    """The policy and `web` at `version`, naming it."""
    policy, svc = r.state_dir / "twice.yaml", r.state_dir / f"web-{version}.yaml"
    policy.write_text(POLICY)
    svc.write_text(rehearsal_cli.SERVICE.format(policy="twice", version=version))
    result = r.run("apply", "-f", str(policy), "-f", str(svc))
    assert result.returncode == 0, result.stderr


def promote_process(r: rehearsal_cli.Rehearsal) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [rehearsal_cli.ROLLOUT, "promote", "web", "--state-dir", str(r.state_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "ROLLOUT_USER": "e2e"},
    )


def at(r: rehearsal_cli.Rehearsal, phase: str, step: int) -> bool:
    rel = r.release()
    return (
        rel is not None
        and rel.spec.canary_revision == "web-00002"
        and (rel.status.phase.value, rel.status.step_index) == (phase, step)
    )


def test_two_promotes_started_at_once_advance_one_step(rehearsal: rehearsal_cli.Rehearsal) -> None:
    r = rehearsal
    r.start("good")
    apply(r, "v1")
    deployed = r.run("status", "web", "--watch", "--timeout", "60s")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    apply(r, "v2")
    r.wait_for(lambda: at(r, "Paused", 1), within=60)

    started = [promote_process(r), promote_process(r)]
    done = [p.communicate(timeout=60) for p in started]

    assert [p.returncode for p in started] == [0, 0], done
    said = sorted(out.strip() for out, _ in done)
    assert said[1] == "release web-00002: promotion from step 2 requested", said
    assert said[0].startswith("release web-00002: "), said  # already requested / past
    assert "already" in said[0], said
    r.wait_for(lambda: at(r, "Paused", 2), within=30)
    # Nothing more may happen: give the controller a minute of rehearsal time (two
    # seconds at --speed 30) to take a second promote, were one written.
    time.sleep(2)
    rel = r.release()
    assert rel is not None
    assert (rel.status.phase.value, rel.status.step_index) == ("Paused", 2)
    assert rel.status.weights is not None
    assert rel.status.weights.canary == 10
    assert [h.event for h in rel.status.history].count("PromotedStep") == 1
