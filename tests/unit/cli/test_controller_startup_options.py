"""`rollout controller` options that are checked before anything starts: the
controller's default notifications (`--notifications FILE`: every problem at its file,
line and field) and where request stats come from (`--metrics prometheus`,
`--prometheus-url`, `--preset`) — exit 2, no traceback, nothing written to the state
dir."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROLLOUT = str(Path(sys.executable).parent / "rollout")


def controller(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "notify.yaml"
    path.write_text(textwrap.dedent(text))
    return subprocess.run(
        [ROLLOUT, "controller", "--platform", "sim", "--metrics-addr", "off",
         "--notifications", str(path), "--state-dir", str(tmp_path / "state")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip


def test_each_problem_is_reported_at_its_line_and_nothing_starts(tmp_path: Path) -> None:
    done = controller(
        tmp_path,
        """\
        notifications:
          - name: chat
            sink: slak
            urlFrom: {env: SLACK_URL}
          - name: ops
            sink: webhook
            url: https://hooks.example/literal
        """,
    )
    assert done.returncode == 2, done.stderr
    path = tmp_path / "notify.yaml"
    lines = done.stderr.splitlines()
    assert f"{path}:3: notifications[0].sink: " in lines[0]
    assert any(line.startswith(f"{path}:7: notifications[1].url: unknown field") for line in lines)
    assert any(line.startswith(f"{path}:5: notifications[1].urlFrom: required") for line in lines)
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "state").exists()


def test_an_unreadable_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [ROLLOUT, "controller", "--platform", "sim", "--notifications",
         str(tmp_path / "missing.yaml"), "--state-dir", str(tmp_path / "state")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("error: --notifications ")
    assert done.stderr.count("\n") == 1


def run_controller(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ROLLOUT, "controller", "--metrics-addr", "off", "--state-dir", str(tmp_path / "s"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--metrics", "prometheus"), "--metrics prometheus needs --prometheus-url"),
        (
            ("--metrics", "prometheus", "--prometheus-url", "ftp://prom"),
            "--prometheus-url: ",
        ),
        (("--preset", "istio"), "--prometheus-url, --preset and --prometheus-* go with"),
        (
            ("--prometheus-basic-auth-file", "/etc/auth"),
            "--prometheus-url, --preset and --prometheus-* go with",
        ),
        (
            (
                "--metrics",
                "prometheus",
                "--prometheus-url",
                "http://p",
                "--prometheus-token-file",
                "/etc/token",
                "--prometheus-basic-auth-file",
                "/etc/auth",
            ),
            "one credential",
        ),
        (
            (
                "--metrics",
                "prometheus",
                "--prometheus-url",
                "http://p",
                "--prometheus-header",
                "Authorization=Bearer x",
            ),
            "put credentials in --prometheus-token-file",
        ),
        (
            (
                "--metrics",
                "prometheus",
                "--prometheus-url",
                "http://p",
                "--prometheus-header",
                "bad name=1",
            ),
            "NAME=VALUE, NAME an HTTP token",
        ),
        (
            ("--platform", "sim", "--metrics", "prometheus", "--prometheus-url", "http://p:9090"),
            "the rehearsal platform's traffic is simulated",
        ),
        (
            ("--platform", "kubernetes", "--metrics", "prometheus", "--prometheus-url", "http://p"),
            "--metrics prometheus needs --preset on a cluster",
        ),
    ],
)
def test_request_stats_options_are_checked_before_anything_starts(
    tmp_path: Path, args: tuple[str, ...], says: str
) -> None:
    done = run_controller(tmp_path, *args)
    assert done.returncode == 2, done.stderr
    assert says in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert not (tmp_path / "s").exists()


# -- --config FILE: the same options from a file (a ConfigMap on a cluster) -------------


def test_options_come_from_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "controller.yaml"
    config.write_text("metrics: prometheus\nprometheus-url: ftp://from-file\npreset: istio\n")
    done = run_controller(tmp_path, "--config", str(config))
    assert done.returncode == 2
    assert done.stderr == "error: --prometheus-url: must be an http:// or https:// URL\n"


def test_a_flag_on_the_command_line_wins_over_the_file(tmp_path: Path) -> None:
    config = tmp_path / "controller.yaml"
    config.write_text("metrics: prometheus\nprometheus-url: ftp://from-file\n")
    done = run_controller(
        tmp_path, "--config", str(config), "--prometheus-url", "http://p", "--platform", "sim"
    )
    assert done.returncode == 2  # past the file's bad URL, to the next rule
    assert "the rehearsal platform's traffic is simulated" in done.stderr


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("metrics: prometheus\nprometheus-urll: x\n", ":2: prometheus-urll: not an option of"),
        ("- metrics\n", ":1: must be a mapping of options"),
        ("metrics: [unclosed\n", ": not YAML: "),
    ],
)
def test_a_bad_config_file_is_one_line_naming_it(tmp_path: Path, text: str, says: str) -> None:
    config = tmp_path / "controller.yaml"
    config.write_text(text)
    done = run_controller(tmp_path, "--config", str(config))
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {config}")
    assert says in done.stderr
    assert done.stderr.count("\n") == 1
