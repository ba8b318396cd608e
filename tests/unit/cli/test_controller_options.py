"""`rollout controller` options that cannot work are one line and exit 2, never a
traceback (found: `--metrics-addr 127.0.0.1:99999` ended in an OverflowError)."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

ROLLOUT = str(pathlib.Path(sys.executable).parent / "rollout")


@pytest.mark.parametrize(
    "addr", ["127.0.0.1:99999", "127.0.0.1:http", "127.0.0.1:"], ids=["too-big", "name", "empty"]
)
def test_a_metrics_port_that_cannot_be_is_one_line(tmp_path: pathlib.Path, addr: str) -> None:
    """The port is checked before anything starts: exit 2, one line naming it."""
    result = subprocess.run(
        [ROLLOUT, "controller", "--platform", "sim", "--metrics-addr", addr,
         "--state-dir", str(tmp_path / "state")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert lines == [f"error: --metrics-addr {addr}: the port must be a number from 1 to 65535"]
