"""The OS side of the local runtime: /proc parsing, run files, ports, log tails, probe."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from rollout.platforms.local import processes

_REST = " ".join(["S", *[str(i) for i in range(4, 22)], "987654", "0", "0"])


@pytest.mark.parametrize(
    ("stat", "expected"),
    [
        pytest.param(f"42 (python3) {_REST}", 987654, id="plain"),
        pytest.param(f"42 (my (odd) app) {_REST}", 987654, id="parens-and-spaces-in-comm"),
        pytest.param(f"42 (app) Z{_REST[1:]}", None, id="zombie"),
        pytest.param("42 (app) S 1 2", None, id="truncated"),
    ],
)
def test_parse_stat_reads_the_start_time(stat: str, expected: int | None) -> None:
    """Field 22 is found after the last ')'; a zombie has no start time."""
    assert processes.parse_stat(stat) == expected


def test_proc_start_of_this_process_is_stable() -> None:
    """The start time of a live process does not change between reads."""
    start = processes.proc_start(os.getpid())
    assert start is not None
    assert processes.proc_start(os.getpid()) == start


def test_run_file_round_trip_is_atomic(tmp_path: Path) -> None:
    """A written record reads back equal, and no temporary file is left behind."""
    path = tmp_path / "team.web-00001.json"
    record = processes.RunRecord(pid=10, port=8080, started_at="t", proc_start=5, restarts=2)
    processes.write_run_file(path, record)
    assert processes.read_run_file(path) == record
    assert json.loads(path.read_text()) == {
        "pid": 10,
        "port": 8080,
        "startedAt": "t",
        "procStart": 5,
        "restarts": 2,
    }
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


@pytest.mark.parametrize(
    "content",
    [
        pytest.param("{not json", id="not-json"),
        pytest.param("[]", id="not-an-object"),
        pytest.param('{"pid": "10", "port": 1, "procStart": 1}', id="pid-not-int"),
        pytest.param('{"pid": true, "port": 1, "procStart": 1}', id="pid-bool"),
        pytest.param('{"pid": 10, "port": 1}', id="no-proc-start"),
    ],
)
def test_an_invalid_run_file_reads_as_none(tmp_path: Path, content: str) -> None:
    """A run file that is not a valid record is treated as absent (a fresh start)."""
    path = tmp_path / "r.json"
    path.write_text(content)
    assert processes.read_run_file(path) is None


def test_free_port_prefers_the_given_port_when_free() -> None:
    """A restarted process keeps its port if it can; a taken port is replaced."""
    port = processes.free_port()
    assert processes.free_port(port) == port
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        assert processes.free_port(busy) != busy


def test_tail_returns_the_last_lines(tmp_path: Path) -> None:
    """The last lines of a log; nothing for a missing log."""
    path = tmp_path / "app.log"
    path.write_text("".join(f"line {i}\n" for i in range(100)))
    assert processes.tail(path, lines=3) == "line 97\nline 98\nline 99"
    assert processes.tail(tmp_path / "missing.log") == ""


def test_probe_on_a_closed_port_is_refused() -> None:
    """Nothing listening yet reads as 'refused' (the process is still starting)."""
    result = processes.probe(processes.free_port(), "/", timeout=1.0)
    assert (result.ok, result.refused, result.detail) == (False, True, "connection refused")
