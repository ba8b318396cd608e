"""A row in the SQLite state that no longer decodes (edited by hand, or written by
another version): `rollout get` lists the others and says on stderr what is wrong
with it, `get NAME` is a one-line error, and `rollout apply` of the fixed file
replaces it."""

from __future__ import annotations

import json
import pathlib
import sqlite3

from click.testing import CliRunner, Result

from rollout.cli import main
from rollout.store import factory

POLICY = """\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata: {name: NAME}
spec:
  steps: [{setWeight: 10}, {setWeight: 50}]
"""
WHY = "spec.steps[1].setWeight: lowers traffic from 50 (steps[0]) to 10"


def rollout(state: pathlib.Path, *args: str) -> Result:
    return CliRunner().invoke(main.cli, [*args, "--state-dir", str(state)])


def test_a_row_that_no_longer_decodes(tmp_path: pathlib.Path) -> None:
    """Listed apart with its message; fixed by applying the file again."""
    state = tmp_path / "state"
    for name in ("bad", "good"):
        path = tmp_path / f"{name}.yaml"
        path.write_text(POLICY.replace("NAME", name))
        assert rollout(state, "apply", "-f", str(path)).exit_code == 0
    conn = sqlite3.connect(state / factory.DB_FILE)
    with conn:  # someone edits the row
        (body,) = conn.execute("SELECT body FROM objects WHERE name = 'bad'").fetchone()
        data = json.loads(body)
        data["spec"]["steps"] = [{"setWeight": 50}, {"setWeight": 10}]
        conn.execute("UPDATE objects SET body = ? WHERE name = 'bad'", (json.dumps(data),))
    conn.close()

    listed = rollout(state, "get", "rpol", "-o", "json")
    assert listed.exit_code == 0, listed.output
    assert [p["metadata"]["name"] for p in json.loads(listed.stdout)] == ["good"]
    assert listed.stderr.startswith(f"warning: RolloutPolicy default/bad is not valid: {WHY}")
    one = rollout(state, "get", "rpol", "bad")
    assert one.exit_code == 1
    assert WHY in one.stderr
    assert "Traceback" not in one.output

    fixed = rollout(state, "apply", "-f", str(tmp_path / "bad.yaml"))
    assert fixed.exit_code == 0, fixed.output
    assert fixed.stdout.splitlines() == ["rolloutpolicy/bad configured"]
    again = rollout(state, "get", "rpol", "-o", "json")
    assert [p["metadata"]["name"] for p in json.loads(again.stdout)] == ["bad", "good"]
    assert again.stderr == ""
