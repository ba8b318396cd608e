"""`rollout dashboard` (issue 21): the options it refuses, and the command itself
serving a state dir over HTTP on 127.0.0.1 until SIGTERM."""

from __future__ import annotations

import http.client
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from rollout.cli import main

ROOT = pathlib.Path(__file__).resolve().parents[3]
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
"""


@pytest.fixture
def state(tmp_path: pathlib.Path) -> pathlib.Path:
    """A state dir holding one service (applied, no controller)."""
    directory = tmp_path / "state"
    (tmp_path / "web.yaml").write_text(SERVICE)
    applied = CliRunner().invoke(
        main.cli, ["apply", "-f", str(tmp_path / "web.yaml"), "--state-dir", str(directory)]
    )
    assert applied.exit_code == 0, applied.output
    return directory


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["--addr", "0.0.0.0:8765"],
            "--addr 0.0.0.0:8765 can be reached from other machines: give --token-file",
            id="no-token-off-loopback",
        ),
        pytest.param(["--addr", "8765"], "--addr: '8765' is not HOST:PORT", id="bad-addr"),
        pytest.param(
            ["--token", "short"], "the token must be at least 16 characters long", id="short"
        ),
        pytest.param(
            ["-n", "shop", "--all-namespaces"],
            "give -n or --all-namespaces, not both",
            id="namespace-and-all",
        ),
    ],
)
def test_refused_options_exit_2_with_one_line(
    state: pathlib.Path, args: list[str], message: str
) -> None:
    result = CliRunner().invoke(main.cli, ["dashboard", "--state-dir", str(state), *args])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {message}")
    assert result.stderr.count("\n") == 1


def test_an_empty_token_file_is_refused(state: pathlib.Path, tmp_path: pathlib.Path) -> None:
    empty = tmp_path / "token"
    empty.write_text("\n")
    result = CliRunner().invoke(
        main.cli, ["dashboard", "--state-dir", str(state), "--token-file", str(empty)]
    )
    assert result.exit_code == 2
    assert "the file is empty" in result.stderr


def test_no_state_yet_is_exit_1(tmp_path: pathlib.Path) -> None:
    """As the release commands: nothing is created."""
    result = CliRunner().invoke(
        main.cli, ["dashboard", "--state-dir", str(tmp_path / "none"), "--addr", "127.0.0.1:0"]
    )
    assert result.exit_code == 1
    assert "nothing has been applied there yet" in result.stderr
    assert not (tmp_path / "none").exists()


@pytest.fixture
def serving(state: pathlib.Path, tmp_path: pathlib.Path) -> Iterator[tuple[int, str]]:
    """`rollout dashboard --addr 127.0.0.1:0 --token-file F` in its own process: its
    port and token; stopped by its PID with SIGTERM, which it must obey."""
    token = "t0ken-t0ken-t0ken-t0ken"
    (tmp_path / "token").write_text(token + "\n")
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from rollout.cli import main; main.main()",
            "dashboard",
            "--state-dir",
            str(state),
            "--addr",
            "127.0.0.1:0",
            "--token-file",
            str(tmp_path / "token"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("dashboard (read-write): http://127.0.0.1:"), line
        port = int(line.split("127.0.0.1:")[1].split("/")[0])
        assert f"?token={token}" in line
        yield port, token
    finally:
        process.send_signal(signal.SIGTERM)  # by its PID
        try:
            _, err = process.communicate(timeout=10)  # reads and closes the pipes
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise
    assert process.returncode == 0, err


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, str, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        answer = conn.getresponse()
        return answer.status, answer.read().decode(), dict(answer.getheaders())
    finally:
        conn.close()


def test_the_command_serves_the_state_dir_behind_its_token(serving: tuple[int, str]) -> None:
    """Without the token 401; the printed URL sets the cookie and drops the token
    from the address; with it the overview lists the service."""
    port, token = serving
    assert get(port, "/")[0] == 401
    status, _, headers = get(port, f"/?token={token}")
    assert status == 303
    assert headers["Location"] == "/"
    assert "HttpOnly" in headers["Set-Cookie"]
    assert "SameSite=Strict" in headers["Set-Cookie"]
    status, page, headers = get(port, "/", {"Cookie": f"rollout-dashboard={token}"})
    assert status == 200
    assert 'data-service="web"' in page
    assert "NoController" in page  # what `rollout status` says without a controller
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    status, _, _ = get(port, "/", {"Authorization": f"Bearer {token}"})
    assert status == 200


def test_a_write_by_another_process_reaches_the_stream_within_a_second(
    serving: tuple[int, str], state: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    """The SQLite state dir, written by `rollout apply` (another process than the
    dashboard's): the open event stream says `change` within a second."""
    port, token = serving
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/events", headers={"Authorization": f"Bearer {token}"})
    stream = conn.getresponse()
    assert stream.status == 200
    assert stream.readline() == b"event: hello\n"
    stream.readline(), stream.readline()
    (tmp_path / "api.yaml").write_text(SERVICE.replace("name: web", "name: api"))
    applied = CliRunner().invoke(
        main.cli, ["apply", "-f", str(tmp_path / "api.yaml"), "--state-dir", str(state)]
    )
    assert applied.exit_code == 0, applied.output
    written = time.monotonic()
    while True:  # the first change may be the dashboard's first look: read on
        line = stream.readline()
        assert time.monotonic() - written < 1.0, "the new service not shown within a second"
        if line != b"event: change\n":
            continue
        status, page, _ = get(port, "/", {"Authorization": f"Bearer {token}"})
        if status == 200 and 'data-service="api"' in page:
            break
    conn.close()


@pytest.mark.parametrize(
    ("addr", "message"),
    [
        (
            "0.0.0.0:8765",
            "--dashboard-addr 0.0.0.0:8765: the demo serves its dashboard on loopback",
        ),
        ("nope", "--dashboard-addr: 'nope' is not HOST:PORT"),
    ],
)
def test_the_demos_dashboard_is_refused_off_loopback_before_anything_starts(
    tmp_path: pathlib.Path, addr: str, message: str
) -> None:
    state = tmp_path / "demo"
    result = CliRunner().invoke(
        main.cli, ["demo", "--dashboard", "--dashboard-addr", addr, "--state-dir", str(state)]
    )
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {message}")
    assert not state.exists()


def test_an_address_in_use_is_one_line_and_exit_1(state: pathlib.Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            main.cli, ["dashboard", "--state-dir", str(state), "--addr", f"127.0.0.1:{port}"]
        )
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"error: --addr 127.0.0.1:{port}: ")
    assert "in use" in result.stderr
    assert result.stderr.count("\n") == 1
