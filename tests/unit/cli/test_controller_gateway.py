"""`rollout controller --gateway [NAMESPACE/]NAME` and `rollout install --gateway` (issue
18, finding 2): the controller is started with it; a value that
is not a Gateway's name is one line and exit 2, before anything starts."""

from __future__ import annotations

import pathlib

import pytest
import yaml
from click.testing import CliRunner

from rollout import logs
from rollout.cli import main, signals


def test_a_gateway_that_is_not_a_name_is_refused_before_anything_starts(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # in-process: no signal handlers, no logging set up on the runner's streams
    monkeypatch.setattr(signals, "stop_on_signals", lambda stop: None)
    monkeypatch.setattr(logs, "configure", lambda: None)
    args = ["controller", "--platform", "kubernetes", "--metrics-addr", "off"]
    args += ["--kubeconfig", str(tmp_path / "missing"), "--gateway", "Infra/public"]
    done = CliRunner().invoke(main.cli, args)
    assert done.exit_code == 2, done.output
    assert "--gateway Infra/public: 'Infra' is not a Kubernetes name" in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr


def test_install_starts_the_controller_with_the_gateway(tmp_path: pathlib.Path) -> None:
    args = ["install", "--write", str(tmp_path), "--gateway", "infra/public"]
    done = CliRunner().invoke(main.cli, args)
    assert done.exit_code == 0, done.output
    written = (tmp_path / "controller.yaml").read_text()
    (deployment,) = [d for d in yaml.safe_load_all(written) if d["kind"] == "Deployment"]
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--gateway") + 1] == "infra/public"


def test_install_refuses_a_gateway_that_is_not_a_name() -> None:
    done = CliRunner().invoke(main.cli, ["install", "--print", "--gateway", "infra/Public"])
    assert done.exit_code == 2, done.output
    assert "--gateway 'infra/Public': 'Public' is not a Kubernetes name" in done.stderr
