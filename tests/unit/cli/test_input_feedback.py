"""`validate` and `apply` say what is wrong with the input, all of it, at once.

Empty input is an error (exit 2, `no resources in …`), never "0 resource(s) valid"; a
Service naming a policy that is neither in the run nor in the store is a warning
(exit 0; `apply` stores it and says so); a type error does not hide the cross-field
rules of the fields that are well-typed; a quoted number says it is a string.
"""

from __future__ import annotations

import pathlib

import pytest
from click.testing import CliRunner, Result

from rollout.cli import main
from rollout.store import factory

EMPTY_MESSAGE = "no resources in the file: it is empty or holds only comments and ---"

POLICY = """\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata:
  name: gentle
spec:
  steps:
    - setWeight: 10
    - pause: {}
"""

SERVICE = """\
apiVersion: rollout.dev/v1alpha1
kind: Service
metadata:
  name: web
spec:
  policy: POLICY
  template:
    spec:
      containers:
        - {name: app, command: [python3, app.py]}
"""


@pytest.fixture(autouse=True)
def _user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROLLOUT_USER", "alice")
    monkeypatch.delenv(factory.STATE_DIR_ENV, raising=False)


def _run(*args: str) -> Result:
    return CliRunner().invoke(main.cli, list(args))


def _on(command: str, tmp_path: pathlib.Path, *paths: pathlib.Path) -> Result:
    """`command -f PATH…`, with a state dir under `tmp_path` for `apply`."""
    args = [command, *(arg for path in paths for arg in ("-f", str(path)))]
    if command == "apply":
        args += ["--state-dir", str(tmp_path / "state")]
    return _run(*args)


def _write(directory: pathlib.Path, name: str, text: str) -> pathlib.Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- empty input ------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["validate", "apply"])
@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("# only a comment\n", id="comment"),
        pytest.param("---\n# nothing\n---\n", id="separators"),
        pytest.param("---\n~\n", id="null-document"),
    ],
)
def test_a_file_without_resources_exits_2(tmp_path: pathlib.Path, command: str, text: str) -> None:
    """A file with no document is `no resources in the file`, exit 2, nothing applied."""
    path = _write(tmp_path, "empty.yaml", text)
    result = _on(command, tmp_path, path)
    assert result.exit_code == 2, result.output
    assert f"{path}: {EMPTY_MESSAGE}" in result.stderr.splitlines()
    assert result.stdout == ""


@pytest.mark.parametrize("command", ["validate", "apply"])
def test_a_directory_without_yaml_files_exits_2(tmp_path: pathlib.Path, command: str) -> None:
    """A directory with no YAML file is `no resources in the directory`, exit 2."""
    folder = tmp_path / "conf"
    _write(folder, "README.md", "# nothing\n")
    result = _on(command, tmp_path, folder)
    assert result.exit_code == 2, result.output
    line = f"{folder}: no resources in the directory: it has no .yaml or .yml files"
    assert line in result.stderr.splitlines()


@pytest.mark.parametrize("command", ["validate", "apply"])
def test_a_directory_of_empty_files_exits_2(tmp_path: pathlib.Path, command: str) -> None:
    """YAML files that hold nothing are `no resources in the directory`, once, exit 2."""
    folder = tmp_path / "conf"
    _write(folder, "a.yaml", "")
    _write(folder, "sub/b.yml", "# later\n")
    result = _on(command, tmp_path, folder)
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[0] == (
        f"{folder}: no resources in the directory: its .yaml and .yml files are empty or"
        " hold only comments and ---"
    )
    assert EMPTY_MESSAGE not in result.stderr


def test_an_empty_file_beside_resources_is_a_warning(tmp_path: pathlib.Path) -> None:
    """In a directory that has resources, an empty file is a warning: exit 0."""
    folder = tmp_path / "conf"
    _write(folder, "policy.yaml", POLICY)
    empty = _write(folder, "empty.yaml", "")
    result = _run("validate", "-f", str(folder))
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [f"{empty}: warning: {EMPTY_MESSAGE}"]
    assert result.stdout.strip() == "1 resource(s) valid"


def test_an_empty_file_named_beside_a_valid_one_exits_2(tmp_path: pathlib.Path) -> None:
    """A file named on the command line must hold something, whatever the others hold."""
    policy = _write(tmp_path, "policy.yaml", POLICY)
    empty = _write(tmp_path, "empty.yaml", "")
    result = _run("validate", "-f", str(policy), "-f", str(empty))
    assert result.exit_code == 2
    assert f"{empty}: {EMPTY_MESSAGE}" in result.stderr.splitlines()


# --- numbers written as strings -----------------------------------------------------------

QUOTED = """\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata:
  name: quoted
spec:
  steps:
    - setWeight: "10"
    - analysis: {duration: 1m}
  analysis:
    metrics:
      - name: errors
        provider: {local: {stat: error_rate}}
        thresholds: {max: "0.5"}
  canaryScale: {matchWeight: "true", minReplicas: "2"}
---
apiVersion: rollout.dev/v1alpha1
kind: Service
metadata:
  name: web
spec:
  port: "8080"
  revisionHistoryLimit: " 5"
  template:
    spec:
      containers:
        - name: app
          command: [python3, app.py]
          readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: "1"}
"""


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        pytest.param(7, "spec.steps[0].setWeight", 'write 10, not "10"', id="setWeight"),
        pytest.param(
            13, "spec.analysis.metrics[0].thresholds.max", 'write 0.5, not "0.5"', id="float"
        ),
        pytest.param(14, "spec.canaryScale.minReplicas", 'write 2, not "2"', id="count"),
        pytest.param(21, "spec.port", 'write 8080, not "8080"', id="port"),
        pytest.param(22, "spec.revisionHistoryLimit", 'write 5, not " 5"', id="spaces"),
        pytest.param(
            28,
            "spec.template.spec.containers[0].readinessProbe.periodSeconds",
            'write 1, not "1"',
            id="pod-spec",
        ),
    ],
)
def test_a_quoted_number_says_it_is_a_string(
    tmp_path: pathlib.Path, line: int, field: str, message: str
) -> None:
    """Every integer and float field: `must be a number, not a string (write 10, not "10")`."""
    path = _write(tmp_path, "quoted.yaml", QUOTED)
    result = _run("validate", "-f", str(path))
    assert result.exit_code == 2
    expected = f"{path}:{line}: {field}: must be a number, not a string ({message})"
    assert expected in result.stderr.splitlines(), result.stderr


def test_a_quoted_boolean_says_it_is_a_string(tmp_path: pathlib.Path) -> None:
    """A boolean written `"true"` is said to be a string, with what to write."""
    path = _write(tmp_path, "quoted.yaml", QUOTED)
    result = _run("validate", "-f", str(path))
    expected = (
        f"{path}:14: spec.canaryScale.matchWeight: must be a boolean, not a string"
        ' (write true, not "true")'
    )
    assert expected in result.stderr.splitlines(), result.stderr


def test_a_word_where_a_number_goes_keeps_its_message(tmp_path: pathlib.Path) -> None:
    """Text that is no number is not called a quoted number."""
    path = _write(tmp_path, "word.yaml", QUOTED.replace('setWeight: "10"', "setWeight: ten"))
    result = _run("validate", "-f", str(path))
    line = f"{path}:7: spec.steps[0].setWeight: must be a valid integer (got 'ten')"
    assert line in result.stderr.splitlines(), result.stderr
