"""`rollout controller --platform kubernetes` options, as a process against the API
emulator: a bad `--watch-namespaces` or one given to another platform, and a metrics
address that cannot be bound, are each one line on stderr and exit 2 (no traceback);
the metrics listener is where `--metrics-addr` says."""

from __future__ import annotations

import pathlib
import socket
import subprocess
import urllib.request

import kubeemu
import pytest
from kubecluster import ROLLOUT, Controller, env, wait_for


def controller(kubeconfig: pathlib.Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ROLLOUT, "controller", "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env(),
        check=False,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ("--platform", "kubernetes", "--watch-namespaces", "team-a,Team B"),
            "error: --watch-namespaces: 'Team B' is not a namespace name",
            id="bad-namespace",
        ),
        pytest.param(
            ("--platform", "sim", "--watch-namespaces", "team-a"),
            "error: --watch-namespaces is for --platform kubernetes",
            id="not-kubernetes",
        ),
    ],
)
def test_bad_watch_namespaces_is_one_line_and_exit_2(
    kubeconfig: pathlib.Path, tmp_path: pathlib.Path, args: tuple[str, ...], message: str
) -> None:
    done = controller(kubeconfig, "--state-dir", str(tmp_path / "state"), *args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(message)
    assert done.stderr.count("\n") == 1, done.stderr


def test_a_metrics_address_in_use_is_one_line_and_exit_2(
    crds_applied: kubeemu.Emulator, kubeconfig: pathlib.Path
) -> None:
    """The port is taken: the controller says which address and why, exits 2."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        addr = f"127.0.0.1:{taken.getsockname()[1]}"
        done = controller(kubeconfig, "--platform", "kubernetes", "--metrics-addr", addr)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"error: --metrics-addr {addr}: ")
    assert "in use" in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr


def test_metrics_are_served_where_metrics_addr_says(
    crds_applied: kubeemu.Emulator, kubeconfig: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    """The controller's metrics (and the probes' paths) answer on the address given."""
    port = free_port()
    process = Controller(
        kubeconfig, tmp_path / "controller.log", "--metrics-addr", f"127.0.0.1:{port}"
    )
    try:

        def scraped() -> bytes | None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    return bytes(r.read())
            except OSError:
                return None

        body = wait_for(scraped, 30, f"metrics on {port}; log:\n{process.output()}")
        assert b"rollout_" in body
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            assert r.status == 200
    finally:
        assert process.stop() == 0, process.output()
