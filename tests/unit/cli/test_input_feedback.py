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


# --- a policy that is nowhere ------------------------------------------------------------


def test_validate_warns_of_a_policy_not_in_the_run(tmp_path: pathlib.Path) -> None:
    """The warning is at spec.policy's line; warnings are not errors: exit 0."""
    svc = _write(tmp_path, "svc.yaml", SERVICE.replace("POLICY", "nope"))
    policy = _write(tmp_path, "policy.yaml", POLICY)
    result = _run("validate", "-f", str(svc), "-f", str(policy))
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f'{svc}:6: spec.policy: warning: policy "nope" not found in this run'
    ]
    assert result.stdout.strip() == "2 resource(s) valid"


def test_validate_strict_counts_the_warning(tmp_path: pathlib.Path) -> None:
    """`--strict` makes a warning a problem: exit 2."""
    svc = _write(tmp_path, "svc.yaml", SERVICE.replace("POLICY", "nope"))
    result = _run("validate", "--strict", "-f", str(svc))
    assert result.exit_code == 2
    assert f'{svc}:6: spec.policy: warning: policy "nope" not found in this run' in result.stderr
    assert "1 problem(s) found" in result.stderr


@pytest.mark.parametrize(
    "namespaces",
    [
        pytest.param(("", ""), id="no-namespace"),
        pytest.param(("prod", "prod"), id="same-namespace"),
        pytest.param(("prod", ""), id="policy-without-namespace"),
    ],
)
def test_validate_finds_the_policy_in_the_run(
    tmp_path: pathlib.Path, namespaces: tuple[str, str]
) -> None:
    """A policy in another file of the same run (a directory too) is found: no warning."""
    svc_ns, policy_ns = (f"\n  namespace: {ns}" if ns else "" for ns in namespaces)
    _write(
        tmp_path / "conf",
        "svc.yaml",
        SERVICE.replace("POLICY", "gentle").replace("name: web", f"name: web{svc_ns}"),
    )
    _write(
        tmp_path / "conf" / "policies",
        "p.yaml",
        POLICY.replace("name: gentle", f"name: gentle{policy_ns}"),
    )
    result = _run("validate", "-f", str(tmp_path / "conf"))
    assert result.exit_code == 0, result.output
    assert result.stderr == ""


def test_validate_warns_of_a_policy_in_another_namespace(tmp_path: pathlib.Path) -> None:
    """A policy of the same name in another namespace is not the Service's."""
    text = SERVICE.replace("POLICY", "gentle").replace("name: web", "name: web\n  namespace: a")
    svc = _write(tmp_path, "svc.yaml", text)
    policy = _write(
        tmp_path, "p.yaml", POLICY.replace("name: gentle", "name: gentle\n  namespace: b")
    )
    result = _run("validate", "-f", str(svc), "-f", str(policy))
    assert result.exit_code == 0
    assert 'policy "gentle" not found in this run' in result.stderr


def test_apply_stores_a_service_whose_policy_is_missing_and_says_so(tmp_path: pathlib.Path) -> None:
    """Exit 0, the Service is stored, its line carries the warning."""
    svc = _write(tmp_path, "svc.yaml", SERVICE.replace("POLICY", "nope"))
    result = _run("apply", "-f", str(svc), "--state-dir", str(tmp_path / "state"))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        'service/web created (warning: policy "nope" not found; the release will wait for it)'
    ]
    got = _run("get", "services", "web", "-o", "json", "--state-dir", str(tmp_path / "state"))
    assert got.exit_code == 0, got.output
    assert '"policy": "nope"' in got.stdout


def test_apply_finds_the_policy_in_the_same_run(tmp_path: pathlib.Path) -> None:
    """A policy applied with the Service (written first) is found: no warning."""
    svc = _write(tmp_path, "svc.yaml", SERVICE.replace("POLICY", "gentle"))
    policy = _write(tmp_path, "policy.yaml", POLICY)
    result = _run("apply", "-f", str(svc), "-f", str(policy), "--state-dir", str(tmp_path / "s"))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["rolloutpolicy/gentle created", "service/web created"]


def test_apply_finds_the_policy_in_the_store(tmp_path: pathlib.Path) -> None:
    """A policy applied before is found; the warning goes once the policy comes."""
    state = str(tmp_path / "state")
    svc = _write(tmp_path, "svc.yaml", SERVICE.replace("POLICY", "gentle"))
    first = _run("apply", "-f", str(svc), "--state-dir", state)
    assert 'warning: policy "gentle" not found' in first.stdout
    policy = _write(tmp_path, "policy.yaml", POLICY)
    assert _run("apply", "-f", str(policy), "--state-dir", state).exit_code == 0
    again = _run("apply", "-f", str(svc), "--state-dir", state)
    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines() == ["service/web unchanged"]


# --- all problems in one pass ----------------------------------------------------------------

ALL_AT_ONCE = """\
apiVersion: rollout.dev/v1alpha1
kind: Service
metadata:
  name: web
spec:
  policy: gentle
  port: "8080"
  traffic:
    - {revisionName: web-00001, percent: 50}
    - {revisionName: web-00002, percent: 40}
  template:
    spec:
      containers:
        - {name: app, command: [python3, app.py]}
---
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata:
  name: gentle
spec:
  steps:
    - setWeight: 50
    - setWeight: 20
    - pause: {duration: soon}
"""


def test_type_errors_and_cross_field_rules_in_one_run(tmp_path: pathlib.Path) -> None:
    """A type error does not hide the rules of the well-typed fields: one run says all."""
    path = _write(tmp_path, "all.yaml", ALL_AT_ONCE)
    result = _run("validate", "-f", str(path))
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert sorted(lines[:-1]) == sorted(
        [
            f'{path}:7: spec.port: must be a number, not a string (write 8080, not "8080")',
            f"{path}:8: spec.traffic: a manual split cannot be combined with spec.policy: a"
            " policy moves traffic itself; remove one of them",
            f"{path}:8: spec.traffic: percents must sum to 100 (they sum to 90)",
            f"{path}:24: spec.steps[2].pause.duration: 'soon' is not a duration: write it"
            " like 500ms, 15s, 2m or 1h",
            f"{path}:23: spec.steps[1].setWeight: lowers traffic from 50 (steps[0]) to 20:"
            " setWeight must not decrease across steps",
        ]
    )
    assert lines[-1] == "5 problem(s) found"
