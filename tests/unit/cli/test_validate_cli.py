"""`rollout validate`: exit codes, messages and `--explain`, as a user sees them (DESIGN §7)."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner, Result

from rollout.cli import main

CANARY = """\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata:
  name: canary-shorthand
spec:
  canary: {stepWeight: 20, maxWeight: 50, interval: 1m}
  analysis:
    metrics:
      - name: error-rate
        provider: {local: {stat: error_rate}}
        thresholds: {max: 0.01}
"""

SERVICE = """\
apiVersion: rollout.dev/v1alpha1
kind: Service
metadata:
  name: web
spec:
  policy: canary-shorthand
  template:
    spec:
      containers:
        - {name: app, command: [python3, app.py]}
"""

# A policy whose one problem, setWeight 150, is on line 7.
INVALID_POLICY = """\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata:
  name: canary
spec:
  steps:
    - setWeight: 150
"""


def _run(*args: str) -> Result:
    return CliRunner().invoke(main.cli, list(args))


def _write(directory: pathlib.Path, name: str, text: str) -> pathlib.Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_file_exits_0_and_counts_resources(tmp_path: pathlib.Path) -> None:
    """A valid multi-document file: exit 0, a count on stdout, nothing on stderr."""
    path = _write(tmp_path, "app.yaml", CANARY + "---\n" + SERVICE)
    result = _run("validate", "-f", str(path))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "2 resource(s) valid"
    assert result.stderr == ""


def test_paths_may_follow_f_or_stand_alone(tmp_path: pathlib.Path) -> None:
    """`-f A B` validates both A and B; a directory is searched recursively."""
    policy = _write(tmp_path, "policy.yaml", CANARY)
    (tmp_path / "services").mkdir()
    _write(tmp_path / "services", "web.yml", SERVICE)
    _write(tmp_path / "services", "notes.txt", "not yaml: [")
    result = _run("validate", "-f", str(policy), str(tmp_path / "services"))
    assert result.exit_code == 0, result.stderr
    assert "2 resource(s) valid" in result.stdout


def test_explain_prints_the_expanded_canary_plan(tmp_path: pathlib.Path) -> None:
    """`--explain` shows the shorthand's steps, counted from 1 as `status` counts them,
    then the promotion."""
    path = _write(tmp_path, "canary.yaml", CANARY)
    result = _run("validate", "-f", str(path), "--explain")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"{path}:1: RolloutPolicy canary-shorthand"
    assert "expanded from canary shorthand" in lines[1]
    steps = [line.strip() for line in lines if line.strip().startswith("[")]
    assert steps == [
        "[1] setWeight 20%",
        "[2] analysis for 1m (all metrics)",
        "[3] setWeight 40%",
        "[4] analysis for 1m (all metrics)",
        "[5] setWeight 50%",
        "[6] analysis for 1m (all metrics)",
    ]
    promote = next(i for i, line in enumerate(lines) if "then: promote" in line)
    assert promote == lines.index("    [6] analysis for 1m (all metrics)") + 1
    assert any("error-rate: local proxy error_rate over 1m, ≤ 0.01" in line for line in lines)
    assert lines[-1] == "1 resource(s) valid"


def test_explain_names_the_policy_of_a_service(tmp_path: pathlib.Path) -> None:
    """`--explain` on a service says which policy releases its revisions."""
    path = _write(tmp_path, "web.yaml", SERVICE)
    result = _run("validate", "--explain", str(path))
    assert result.exit_code == 0, result.stderr
    assert f"{path}:1: Service web" in result.stdout
    assert "released by policy canary-shorthand" in result.stdout


def test_explain_says_how_revisions_scale(tmp_path: pathlib.Path) -> None:
    """`--explain` shows canaryScale and scaleDownDelay, the Service's over the policy's."""
    policy = CANARY.replace(
        "spec:\n", "spec:\n  scaleDownDelay: 2m\n  canaryScale: {matchWeight: true}\n", 1
    )
    web = SERVICE.replace("spec:\n", "spec:\n  scaleDownDelay: 10s\n", 1)
    path = _write(tmp_path, "both.yaml", policy + "---\n" + web)
    result = _run("validate", "-f", str(path), "--explain")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "canary replicas follow its weight: max(1, ceil(stable replicas × weight" in out
    assert "go to 0 replicas 2m after a release ends (unless the service sets its own)" in out
    assert "go to 0 replicas 10s after a release ends (over the policy's)" in out


def test_every_problem_of_a_file_is_reported(tmp_path: pathlib.Path) -> None:
    """Two unrelated errors in two documents of one file: both lines, a count, exit 2."""
    broken_service = SERVICE.replace(", command: [python3, app.py]", "")
    path = _write(tmp_path, "app.yaml", INVALID_POLICY + "---\n" + broken_service)
    result = _run("validate", "-f", str(path))
    assert result.exit_code == 2
    problems = result.stderr.splitlines()
    assert problems[0].startswith(f"{path}:7: spec.steps[0].setWeight: must be between 0")
    assert problems[1].startswith(f"{path}:18: spec.template.spec.containers[0]: a container needs")
    assert problems[2] == "2 problem(s) found"
    assert result.stdout == ""


def test_problems_in_several_files_are_all_reported(tmp_path: pathlib.Path) -> None:
    """A bad file does not hide the problems of the next one."""
    first = _write(tmp_path, "a.yaml", INVALID_POLICY)
    second = _write(tmp_path, "b.yaml", "kind: Service\n")
    result = _run("validate", "-f", str(first), "-f", str(second))
    assert result.exit_code == 2
    assert f"{first}:7: spec.steps[0].setWeight: " in result.stderr
    assert f"{second}:1: apiVersion: required field missing" in result.stderr
    assert "2 problem(s) found" in result.stderr


def test_missing_path_exits_2(tmp_path: pathlib.Path) -> None:
    """A path that does not exist is a problem reported with the path."""
    missing = tmp_path / "nope.yaml"
    result = _run("validate", "-f", str(missing))
    assert result.exit_code == 2
    assert f"{missing}: no such file" in result.stderr.splitlines()


def test_directory_without_yaml_exits_2(tmp_path: pathlib.Path) -> None:
    """A directory with nothing to validate is a problem, not a silent success."""
    _write(tmp_path, "README.md", "# nothing\n")
    result = _run("validate", "-f", str(tmp_path))
    assert result.exit_code == 2
    assert (
        f"{tmp_path}: no resources in the directory: it has no .yaml or .yml files"
        in result.stderr.splitlines()
    )


def test_file_not_utf8_exits_2(tmp_path: pathlib.Path) -> None:
    """Bytes that are not UTF-8 are a problem at line 1 of the file."""
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\n".encode("latin-1"))
    result = _run("validate", "-f", str(path))
    assert result.exit_code == 2
    assert f"{path}:1: not UTF-8 text" in result.stderr.splitlines()


def test_no_path_is_a_usage_error() -> None:
    """`rollout validate` alone exits 2 and says what to give."""
    result = _run("validate")
    assert result.exit_code == 2
    assert "give at least one file or directory" in result.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        pytest.param(["--help"], ["Progressive delivery", "validate"], id="rollout"),
        pytest.param(["-h"], ["Progressive delivery", "validate"], id="rollout-short"),
        pytest.param(
            ["validate", "--help"],
            ["Validate resources in YAML files offline", "--filename", "--explain"],
            id="validate",
        ),
    ],
)
def test_help_exits_0_and_says_what_it_does(args: list[str], words: list[str]) -> None:
    """Help is on stdout, exit 0, and describes the command and its options."""
    result = _run(*args)
    assert result.exit_code == 0
    for word in words:
        assert word in result.stdout


def test_console_script_reports_invalid_file(tmp_path: pathlib.Path) -> None:
    """The installed `rollout` script exits 2 with the `PATH:LINE: FIELD` line on stderr."""
    exe = shutil.which("rollout", path=str(pathlib.Path(sys.executable).parent))
    assert exe is not None, "the rollout console script is not installed in the venv"
    path = _write(tmp_path, "policy.yaml", INVALID_POLICY)
    done = subprocess.run(
        [exe, "validate", "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[0] == (
        f"{path}:7: spec.steps[0].setWeight: must be between 0 and 100 (got 150)"
    )
    assert done.stdout == ""
