"""`validate` and `apply` on hardened input: warnings on stderr, limits all-or-nothing.

A warning (a literal credential) is printed as `PATH:LINE: FIELD: warning: …` on stderr
and changes neither the exit code nor what is applied; a problem (a size limit, a NUL)
anywhere means exit 2 and nothing stored, not even the valid documents beside it.
"""

from __future__ import annotations

import pathlib

import pytest
from click.testing import CliRunner, Result

from rollout.cli import main
from rollout.store import factory, sqlite

POLICY = """\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata:
  name: gate
spec:
  steps:
    - setWeight: 10
    - analysis: {duration: 1m}
  analysis:
    metrics:
      - name: errors
        thresholds: {max: 1}
        provider:
          web:
            url: http://metrics.example/q
            headers:
              Authorization: "Bearer s3cr3t"
"""

WARNING = (
    "spec.analysis.metrics[0].provider.web.headers.Authorization: warning: a literal"
    " credential is stored in the policy and copied into every release; use valueFrom"
    " (env, file or secretKeyRef)"
)

SERVICE = """\
apiVersion: rollout.dev/v1alpha1
kind: Service
metadata:
  name: web
spec:
  template:
    spec:
      containers:
        - name: app
          command: [app]
          env: [{name: BIG, value: VALUE}]
"""


@pytest.fixture(autouse=True)
def _user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROLLOUT_USER", "alice")
    monkeypatch.delenv(factory.STATE_DIR_ENV, raising=False)


def _write(tmp_path: pathlib.Path, name: str, text: str) -> pathlib.Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _run(*args: str) -> Result:
    return CliRunner().invoke(main.cli, list(args))


def _stored(state: pathlib.Path) -> dict[str, list[str]]:
    store = sqlite.SqliteStore(state / factory.DB_FILE)
    try:
        return {
            kind: [o.metadata.name for o in store.list(kind).items]
            for kind in ("RolloutPolicy", "Service")
        }
    finally:
        store.close()


def test_validate_prints_the_warning_and_exits_0(tmp_path: pathlib.Path) -> None:
    """The warning line is on stderr with its file and line; the policy is valid."""
    path = _write(tmp_path, "policy.yaml", POLICY)
    result = _run("validate", "-f", str(path))
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines() == [f"{path}:17: {WARNING}"]
    assert result.stdout.strip() == "1 resource(s) valid"


def test_validate_with_problems_prints_warnings_too(tmp_path: pathlib.Path) -> None:
    """Warnings do not hide problems, nor count as problems."""
    policy = _write(tmp_path, "policy.yaml", POLICY)
    bad = _write(tmp_path, "svc.yaml", SERVICE.replace("VALUE", '"a\\0b"'))
    result = _run("validate", "-f", str(policy), "-f", str(bad))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"{policy}:17: {WARNING}",
        f"{bad}:11: spec.template.spec.containers[0].env[0].value: must not contain a NUL (\\0)"
        " (at character 1)",
        "1 problem(s) found",
    ]


def test_apply_prints_the_warning_and_applies(tmp_path: pathlib.Path) -> None:
    """A warning does not stop apply: the policy is created, exit 0."""
    state = tmp_path / "state"
    path = _write(tmp_path, "policy.yaml", POLICY)
    result = _run("apply", "-f", str(path), "--state-dir", str(state))
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [f"{path}:17: {WARNING}"]
    assert result.stdout.splitlines() == ["rolloutpolicy/gate created"]
    assert _stored(state)["RolloutPolicy"] == ["gate"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param(
            "x" * 200_000, "too large (200000 bytes; at most 131072)", id="string-over-128k"
        ),
        pytest.param('"a\\0b"', "must not contain a NUL (\\0) (at character 1)", id="nul"),
    ],
)
def test_apply_stores_nothing_when_one_document_is_refused(
    tmp_path: pathlib.Path, value: str, message: str
) -> None:
    """The valid policy beside a refused service is not applied either (exit 2)."""
    state = tmp_path / "state"
    policy = _write(tmp_path, "policy.yaml", POLICY)
    svc = _write(tmp_path, "svc.yaml", SERVICE.replace("VALUE", value))
    result = _run("apply", "-f", str(policy), "-f", str(svc), "--state-dir", str(state))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"{svc}:11: spec.template.spec.containers[0].env[0].value: {message}" in (
        result.stderr.splitlines()
    )
    assert result.stderr.splitlines()[-1] == "error: 1 problem(s) found; nothing applied"
    state.mkdir(exist_ok=True)
    assert _stored(state) == {"RolloutPolicy": [], "Service": []}


def test_apply_refuses_a_file_over_the_limit(tmp_path: pathlib.Path) -> None:
    """A 10 MB env value (the reproduction): one line with the file's size; nothing stored."""
    state = tmp_path / "state"
    svc = _write(tmp_path, "svc.yaml", SERVICE.replace("VALUE", "x" * 10_000_000))
    result = _run("apply", "-f", str(svc), "--state-dir", str(state))
    assert result.exit_code == 2
    size = svc.stat().st_size
    assert result.stderr.splitlines() == [
        f"{svc}: file too large ({size} bytes; at most 3145728)",
        "error: 1 problem(s) found; nothing applied",
    ]
    state.mkdir(exist_ok=True)
    assert _stored(state) == {"RolloutPolicy": [], "Service": []}
