"""Every `rollout` command against a state dir that cannot be used as expected — read
only, locked by another process, not a database, corrupted, `/dev/null`, a parent that
cannot be made — ends in one `error:` line naming the cause and the path, with its
exit code (2: fix the dir or file; 1: busy, try again), never a traceback.

Each case runs all commands (enumerated from `rollout.cli.main.COMMANDS`) in one
driver process (`_fault_driver.py`): real files, real SQLite, a real second process
holding the lock. `healthy` shows that on a usable copy every state command does its
work (so a write command in the locked case really tried to write).
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import _fault_driver
import pytest

from rollout.api import meta, policyspec, release, revision, rolloutpolicy, service
from rollout.api.release import Phase
from rollout.cli import main
from rollout.reconcilers.service import builders
from rollout.store import factory, sqlite

DRIVER = pathlib.Path(_fault_driver.__file__)
WAIT = 120.0  # seconds a driver may take before the test gives up on it
LOCK_WAIT = 0.5  # seconds a command waits for the lock in the driver

READS = {"get", "status", "history", "analyze"}
WRITES = {"apply", "promote", "abort", "pause", "resume", "retry", "undo", "delete"}
STATE_COMMANDS = READS | WRITES
# Commands that never touch the state dir, and what they exit with anyway.
# (`events` reads the state dir's event journal only, never state.db: no event is no error.)
STATELESS = {
    "validate": 0,
    "crds": 0,
    "simulate": 0,
    "diagram": 0,
    "load": 1,
    "install": 0,
    "events": 0,
}
RUNNERS = {"controller", "demo", "dashboard"}  # they run until stopped when the state is usable

POLICY = """\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata:
  name: second
spec:
  steps:
    - setWeight: 10
"""

HOLD = """\
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
if sys.argv[2] == "exclusive":
    conn.execute("PRAGMA locking_mode = EXCLUSIVE")
    conn.execute("BEGIN EXCLUSIVE")
else:
    conn.execute("BEGIN IMMEDIATE")
conn.execute("SELECT COUNT(*) FROM objects").fetchone()
print("held", flush=True)
sys.stdin.read()  # until the test closes our stdin
"""


def _template(version: str) -> dict[str, Any]:
    env = [{"name": "VERSION", "value": version}]
    return {"spec": {"containers": [{"name": "app", "command": ["app"], "env": env}]}}


def seed(state: pathlib.Path) -> None:
    """Service `web` with two revisions and a release paused for inconclusive data:
    every release command applies to it."""
    store = sqlite.SqliteStore(state / factory.DB_FILE)
    try:
        spec = {"steps": [{"setWeight": 10}, {"pause": {}}, {"setWeight": 50}]}
        policy = rolloutpolicy.RolloutPolicy(
            metadata=meta.ObjectMeta(name="gate"),
            spec=policyspec.RolloutPolicySpec.model_validate(spec),
        )
        store.create(policy)
        svc = store.create(
            service.Service.model_validate(
                {
                    "metadata": {"name": "web"},
                    "spec": {"template": _template("v2"), "policy": "gate"},
                }
            )
        )
        assert isinstance(svc, service.Service)
        for number, version in ((1, "v1"), (2, "v2")):
            store.create(
                revision.Revision.model_validate(
                    {
                        "metadata": {
                            "name": f"web-0000{number}",
                            "labels": {"rollout.dev/service": "web"},
                        },
                        "spec": {"service": "web", "template": _template(version)},
                    }
                )
            )
        made = builders.make_release(svc, policy, stable="web-00001", canary="web-00002", attempt=1)
        created = store.create(made)
        status = release.ReleaseStatus(
            phase=Phase.PAUSED, step_index=1, pause_reason="inconclusive"
        )
        store.update_status(created.model_copy(update={"status": status}))
        store.update_status(
            svc.model_copy(
                update={
                    "status": service.ServiceStatus(
                        observed_generation=1,
                        latest_created_revision="web-00002",
                        stable_revision="web-00001",
                        current_release="web-00002",
                    )
                }
            )
        )
    finally:
        store.close()
    assert not (state / "state.db-wal").exists()  # closed cleanly: nothing beside the file


@pytest.fixture
def work(tmp_path: pathlib.Path) -> pathlib.Path:
    directory = tmp_path / "work"
    directory.mkdir()
    (directory / "policy.yaml").write_text(POLICY)
    return directory


@pytest.fixture
def state(tmp_path: pathlib.Path) -> pathlib.Path:
    directory = tmp_path / "state"
    seed(directory)
    return directory


def drive(
    state: pathlib.Path | str,
    work: pathlib.Path,
    *,
    skip: frozenset[str] | set[str] = frozenset(),
    unprivileged: bool = False,
) -> dict[str, dict[str, Any]]:
    """Every command, run by the driver process; its results by command name."""
    command = [sys.executable, str(DRIVER), str(state), str(work), str(LOCK_WAIT), ",".join(skip)]
    if unprivileged and os.geteuid() == 0:  # root reads and writes anything: drop that
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            reason = "running as root without setpriv (util-linux): a read-only dir cannot be made"
            if os.environ.get("CI") == "true":
                pytest.fail(reason + " — under CI these tests must run")
            pytest.skip(reason)
        command = [setpriv, "--bounding-set=-all", "--inh-caps=-all", *command]
    child = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=work
    )
    try:
        out, err = child.communicate(timeout=WAIT)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, err
    results: dict[str, dict[str, Any]] = json.loads(out)
    return results


@pytest.fixture
def holder(state: pathlib.Path, request: pytest.FixtureRequest) -> Iterator[subprocess.Popen[str]]:
    """A second process holding the state's lock (`request.param`: immediate or exclusive)."""
    with subprocess.Popen(
        [sys.executable, "-c", HOLD, str(state / factory.DB_FILE), request.param],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline() == "held\n"
            yield child
        finally:
            child.kill()  # by its pid, through the Popen object
            child.wait()


def expect_failure(result: dict[str, Any], code: int, *needles: str) -> None:
    """One `error:` line on stderr holding every needle, exit `code`, no exception."""
    assert result["exception"] is None, result
    assert "Traceback" not in result["stderr"] + result["stdout"], result
    lines = result["stderr"].splitlines()
    assert len(lines) == 1, result
    assert lines[0].startswith("error: "), result
    for needle in needles:
        assert needle in lines[0], result
    assert result["exit"] == code, result


def expect_success(result: dict[str, Any], code: int = 0) -> None:
    assert result["exception"] is None, result
    assert "Traceback" not in result["stderr"] + result["stdout"], result
    assert result["exit"] == code, result


def check_stateless(results: dict[str, dict[str, Any]]) -> None:
    for name, code in STATELESS.items():
        expect_success(results[name], code)


def test_the_driver_runs_every_command() -> None:
    """A new command cannot be forgotten here: the driver's table names them all."""
    assert set(_fault_driver.ARGS) == set(main.COMMANDS)
    assert set(_fault_driver.ARGS) == STATE_COMMANDS | set(STATELESS) | RUNNERS


def test_healthy_state_every_state_command_works(state: pathlib.Path, work: pathlib.Path) -> None:
    """The baseline: on the seeded state every command does its work (exit 0)."""
    results = drive(state, work, skip=RUNNERS)
    for name in sorted(STATE_COMMANDS):
        expect_success(results[name])
    check_stateless(results)


def test_read_only_state_dir(state: pathlib.Path, work: pathlib.Path) -> None:
    """Reads work (the file is read as it is); anything that writes is exit 2 and
    says the state dir is read-only or not writable."""
    state.chmod(0o555)
    try:
        results = drive(state, work, unprivileged=True)
    finally:
        state.chmod(0o700)
    for name in sorted(READS):
        expect_success(results[name])
    for name in sorted(WRITES):
        expect_failure(results[name], 2, f"state dir {state} is read-only")
    expect_failure(results["controller"], 2, f"state dir {state}", "permission denied")
    expect_failure(results["demo"], 2, str(state), "permission denied")
    check_stateless(results)


@pytest.mark.parametrize("holder", ["immediate"], indirect=True)
def test_state_locked_by_a_writer(
    state: pathlib.Path, work: pathlib.Path, holder: subprocess.Popen[str]
) -> None:
    """Another process in a write transaction: reads go on beside it; writes wait
    LOCK_WAIT, then exit 1 naming the holder. (`controller` and `demo` would start
    and run: left out.)"""
    results = drive(state, work, skip=RUNNERS)
    for name in sorted(READS):
        expect_success(results[name])
    for name in sorted(WRITES):
        expect_failure(results[name], 1, f"{state / 'state.db'} is locked by pid {holder.pid}")
    check_stateless(results)


@pytest.mark.parametrize("holder", ["exclusive"], indirect=True)
def test_state_locked_exclusively(
    state: pathlib.Path, work: pathlib.Path, holder: subprocess.Popen[str]
) -> None:
    """A process holding the file exclusively (no reader can enter): every state
    command, reads and the controller included, waits LOCK_WAIT and exits 1 naming
    the holder. (`demo` waits the store's default 10 s: left out.)"""
    results = drive(state, work, skip={"demo"})
    for name in sorted(STATE_COMMANDS | {"controller"}):
        expect_failure(results[name], 1, f"{state / 'state.db'} is locked by pid {holder.pid}")
    check_stateless(results)


def test_state_file_is_not_a_database(state: pathlib.Path, work: pathlib.Path) -> None:
    """A text file where state.db should be: exit 2, "not a rollout state database"."""
    (state / factory.DB_FILE).write_text("these are not the bytes you are looking for\n" * 50)
    results = drive(state, work)
    for name in sorted(STATE_COMMANDS | RUNNERS):
        expect_failure(results[name], 2, f"{state / 'state.db'} is not a rollout state database")
    check_stateless(results)


def test_state_file_is_corrupted(state: pathlib.Path, work: pathlib.Path) -> None:
    """A database whose first page was overwritten: exit 2, "is corrupted"."""
    path = state / factory.DB_FILE
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xa5" * (4096 - 100)
    path.write_bytes(bytes(data))
    results = drive(state, work)
    for name in sorted(STATE_COMMANDS | RUNNERS):
        expect_failure(results[name], 2, f"{path} is corrupted")
    check_stateless(results)


def test_state_dir_is_dev_null(work: pathlib.Path) -> None:
    """`--state-dir /dev/null`: exit 2, "is not a directory" (demo: "file exists")."""
    results = drive("/dev/null", work)
    for name in sorted(STATE_COMMANDS | {"controller"}):
        expect_failure(
            results[name], 2, "state dir /dev/null cannot be used: it is not a directory"
        )
    expect_failure(results["demo"], 2, "/dev/null")
    check_stateless(results)


def test_state_dir_parent_cannot_be_made(work: pathlib.Path) -> None:
    """`--state-dir /dev/null/sub`: exit 2 naming the file in the way; nothing made."""
    results = drive("/dev/null/sub", work)
    for name in sorted(STATE_COMMANDS | {"controller"}):
        expect_failure(
            results[name],
            2,
            "state dir /dev/null/sub cannot be used: /dev/null is not a directory",
        )
    expect_failure(results["demo"], 2, "/dev/null/sub", "not a directory")
    check_stateless(results)
