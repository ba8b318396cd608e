"""`rollout simulate`: JSON shape, table, policy and usage errors."""

from __future__ import annotations

import json
import pathlib

from click.testing import CliRunner

from rollout.cli import main

ROOT = pathlib.Path(__file__).resolve().parents[3]
KEYS = {
    "policy", "scenario", "seeds", "rps", "p0", "detection", "promoted", "rolledBack",
    "paused", "failedRequests", "timeToRollbackS", "timeToPromoteS", "falseRollback",
}  # fmt: skip


def _simulate(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main.cli, ["simulate", "--jobs", "1", *args])
    return result.exit_code, result.stdout, result.stderr


def test_json_has_the_documented_shape_per_scenario() -> None:
    """One JSON object per scenario with the keys of the issue, shares in 0..1."""
    code, out, _ = _simulate(
        "-f", str(ROOT / "policies/canary-fast.yaml"),
        "--scenario", "bad-100pct", "--scenario", "good", "--seeds", "3", "--json",
    )  # fmt: skip
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["scenario"] for r in rows] == ["bad-100pct", "good"]
    for row in rows:
        assert set(row) == KEYS
        assert row["policy"] == "canary-fast"
        assert set(row["failedRequests"]) == {"mean", "p50", "p95"}
        assert 0 <= row["promoted"] + row["rolledBack"] + row["paused"] <= 1
    bad, good = rows
    assert bad["detection"] == 1.0
    assert bad["falseRollback"] is None
    assert good["detection"] is None
    assert good["falseRollback"] == 0.0


def test_baseline_runs_without_a_policy_and_prints_a_table() -> None:
    """--baseline flagger: a readable table with a header and one row per scenario."""
    code, out, _ = _simulate("--baseline", "flagger", "--scenario", "bad-100pct", "--seeds", "2")
    assert code == 0
    header, row = out.splitlines()
    assert header.split()[:3] == ["policy", "scenario", "seeds"]
    assert row.split()[:4] == ["flagger", "bad-100pct", "2", "100%"]


def test_policy_and_baseline_together_is_a_usage_error() -> None:
    """Exactly one of -f and --baseline."""
    code, _, err = _simulate("--baseline", "argo", "-f", str(ROOT / "policies/canary-fast.yaml"))
    assert code == 2
    assert "give a policy with -f PATH, or --baseline" in err


def test_invalid_policy_file_exits_2_with_its_line(tmp_path: pathlib.Path) -> None:
    """A policy that does not validate is reported like `rollout validate` does."""
    bad = tmp_path / "p.yaml"
    bad.write_text(
        "apiVersion: rollout.dev/v1alpha1\nkind: RolloutPolicy\nmetadata: {name: p}\n"
        "spec:\n  steps:\n    - setWeight: 150\n"
    )
    code, _, err = _simulate("-f", str(bad), "--seeds", "1")
    assert code == 2
    assert f"{bad}:6: spec.steps[0].setWeight: must be between 0 and 100" in err


def test_policy_with_a_prometheus_metric_is_refused(tmp_path: pathlib.Path) -> None:
    """The simulator reads local stats only and says so, exit 2."""
    text = """\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata: {name: prom}
spec:
  steps: [{setWeight: 10}, {analysis: {duration: 1m}}]
  analysis:
    metrics:
      - name: error-ratio
        provider: {prometheus: {address: "http://127.0.0.1:9090", query: "up"}}
        thresholds: {max: 0.01}
"""
    path = tmp_path / "prom.yaml"
    path.write_text(text)
    code, _, err = _simulate("-f", str(path), "--seeds", "1")
    assert code == 2
    assert "uses the prometheus provider" in err


def test_a_policy_with_webhooks_is_simulated_without_them_and_says_so(
    tmp_path: pathlib.Path,
) -> None:
    """Gates count as passed in the simulator (it calls nothing): the same outcome as
    the policy without them, and a note on stderr saying so."""
    text = (ROOT / "policies/canary-fast.yaml").read_text()
    gated = tmp_path / "gated.yaml"
    gated.write_text(
        text
        + "  webhooks:\n"
        + "    - {name: approve, type: confirm-promotion, url: 'http://127.0.0.1:9/approve'}\n"
    )
    args = ("--scenario", "good", "--seeds", "3", "--json")
    code, out, err = _simulate("-f", str(gated), *args)
    assert code == 0
    assert "ignores the policy's 1 webhook(s)" in err
    _, plain, _ = _simulate("-f", str(ROOT / "policies/canary-fast.yaml"), *args)
    assert json.loads(out)["promoted"] == json.loads(plain)["promoted"] == 1.0
