"""The state options of every command: a bad `-n` or `--state-dir` is one line and
exit 2; read-only commands and the release commands create nothing where there is no
state; what the CLI writes is private to its user (through the real entry point)."""

from __future__ import annotations

import os
import pathlib
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import _fault_driver
import click
import pytest
from click.testing import CliRunner, Result

from rollout import clock as clocks
from rollout.cli import common, main

WAIT = 60.0
POLICY = """\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata:
  name: gate
spec:
  steps:
    - setWeight: 10
"""


def state_commands() -> list[str]:
    """The commands that take the state options (they have --state-dir and -n)."""
    found = []
    context = click.Context(main.cli)
    for name in main.cli.list_commands(context):
        command = main.cli.get_command(context, name)
        assert command is not None
        opts = {o for p in command.params if isinstance(p, click.Option) for o in p.opts}
        if {"--state-dir", "-n"} <= opts:
            found.append(name)
    return sorted(found)


def rollout(*args: str) -> Result:
    return CliRunner().invoke(main.cli, list(args))


def args_of(name: str, state: pathlib.Path, work: pathlib.Path) -> list[str]:
    return [
        a.replace("STATE", str(state)).replace("WORK", str(work)) for a in _fault_driver.ARGS[name]
    ]


def test_every_state_command_is_checked() -> None:
    """The list below follows the commands: the state commands and the controller."""
    assert state_commands() == sorted(
        [
            "apply",
            "get",
            "status",
            "promote",
            "abort",
            "pause",
            "resume",
            "retry",
            "undo",
            "history",
            "events",
            "analyze",
            "delete",
            "controller",
            "dashboard",
        ]
    )


@pytest.mark.parametrize("name", state_commands())
@pytest.mark.parametrize(
    "namespace",
    ["../../etc", "Default", "a b", "x" * 64, "-lead", ""],
    ids=["path", "upper", "space", "too-long", "leading-dash", "empty"],
)
def test_a_bad_namespace_is_one_line_and_exit_2(
    tmp_path: pathlib.Path, name: str, namespace: str
) -> None:
    """`-n` must be a DNS-1123 label, checked before anything is opened or written."""
    state = tmp_path / "state"
    # A controller let through would run until stopped: an invalid --workers after -n
    # (options are checked in the order given) ends it with another message instead.
    stopper = ["--workers", "0"] if name == "controller" else []
    result = rollout(*args_of(name, state, tmp_path), "-n", namespace, *stopper)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: -n/--namespace: {namespace!r} is not a valid name")
    assert len(result.stderr.splitlines()) == 1
    assert not state.exists()


def test_the_namespace_callback_is_reusable() -> None:
    """`common.namespace_option` validates any option it is attached to, by its flags."""

    @click.command()
    @click.option("--target-namespace", callback=common.namespace_option)
    def probe(target_namespace: str | None) -> None:
        click.echo(f"ok {target_namespace}")

    good = CliRunner().invoke(probe, ["--target-namespace", "team-a"])
    assert (good.exit_code, good.stdout) == (0, "ok team-a\n")
    unset = CliRunner().invoke(probe, [])
    assert (unset.exit_code, unset.stdout) == (0, "ok None\n")
    bad = CliRunner().invoke(probe, ["--target-namespace", "a/b"])
    assert bad.exit_code == 2
    assert bad.stderr.startswith("error: --target-namespace: 'a/b' is not a valid name")


def test_a_state_dir_with_a_nul_byte_is_one_line(tmp_path: pathlib.Path) -> None:
    result = rollout("get", "services", "--state-dir", "a\0b")
    assert (result.exit_code, result.stderr) == (
        2,
        "error: --state-dir 'a\\x00b': a path cannot hold a NUL byte\n",
    )


# --- where there is no state ------------------------------------------------------------


def test_listing_without_state_is_empty_and_creates_nothing(tmp_path: pathlib.Path) -> None:
    """`get services` on a state dir that does not exist: the empty list, no dir made."""
    state = tmp_path / "state"
    result = rollout("get", "services", "--state-dir", str(state))
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == "No services in namespace default.\n"
    assert not state.exists()


@pytest.mark.parametrize(
    "args",
    [
        ["get", "services", "web"],
        ["status", "web"],
        ["status", "web", "--watch", "--timeout", "1s"],
        ["history", "web"],
        ["promote", "web"],
        ["undo", "web"],
    ],
    ids=["get-name", "status", "status-watch", "history", "promote", "undo"],
)
@pytest.mark.parametrize("made", [False, True], ids=["no-dir", "empty-dir"])
def test_no_state_is_said_and_nothing_is_created(
    tmp_path: pathlib.Path, args: list[str], made: bool
) -> None:
    """Commands that need a state say there is none (exit 1) and create no file."""
    state = tmp_path / "state"
    if made:
        state.mkdir()
    result = rollout(*args, "--state-dir", str(state))
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: no state in {state}: nothing has been applied there yet (is --state-dir right?)\n"
    )
    if made:
        assert list(state.iterdir()) == []
    else:
        assert not state.exists()


# --- private files ------------------------------------------------------------------------


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode_of(path: pathlib.Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def entry_point(*args: str, cwd: pathlib.Path) -> subprocess.CompletedProcess[str]:
    """`rollout ARGS` through `rollout.cli.main:main` (the console script), umask 022."""
    code = (
        "import os, sys; os.umask(0o022)  # the user's\n"
        "from rollout.cli import main; sys.argv[0] = 'rollout'; main.main()"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )


def test_the_entry_point_writes_private_files(tmp_path: pathlib.Path) -> None:
    """Under the user's umask 022, what the CLI creates is 0600 (dirs 0700): the state
    dir and state.db from `apply`, and any file written (`crds --write`)."""
    (tmp_path / "policy.yaml").write_text(POLICY)
    applied = entry_point("apply", "-f", "policy.yaml", "--state-dir", "state", cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    assert (mode_of(tmp_path / "state"), mode_of(tmp_path / "state" / "state.db")) == (
        0o700,
        0o600,
    )
    written = entry_point("crds", "--write", "out", cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    assert mode_of(tmp_path / "out") == 0o700
    assert {mode_of(p) for p in (tmp_path / "out").iterdir()} == {0o600}


@pytest.mark.usefixtures("open_umask")
def test_the_clock_file_is_private(tmp_path: pathlib.Path) -> None:
    """A rehearsal's clock.json is 0600 in a 0700 dir, whatever the umask."""
    state = tmp_path / "state"
    now = datetime.now(UTC)
    common.save_clock(state, clocks.ScaledClock(30.0, start=now, anchor=now))
    assert (mode_of(state), mode_of(state / common.CLOCK_FILE)) == (0o700, 0o600)
    loaded = common.load_clock(state)
    assert isinstance(loaded, clocks.ScaledClock)
    assert loaded.speed == 30.0
