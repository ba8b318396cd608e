"""One controller per state dir (issue 13, finding 4): the lock names its holder, a
second taker is refused with that name, and the lock dies with its process — SIGKILL
included — even when the children it started live on."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rollout.platforms.local import statelock

HOLDER = r"""
import subprocess, sys
from pathlib import Path
from rollout.platforms.local import statelock

statelock.acquire(Path(sys.argv[1]), command="holder")
child = subprocess.Popen(["sleep", "60"])  # outlives us, as revisions and the proxy do
print(child.pid, flush=True)
sys.stdin.read()
"""


def test_a_second_taker_is_refused_with_the_holders_name(tmp_path: Path) -> None:
    lock = statelock.acquire(tmp_path, command="rollout controller --platform local")
    with pytest.raises(statelock.Held) as refused:
        statelock.acquire(tmp_path, command="rollout controller")
    message = str(refused.value)
    assert message.startswith(f"another controller (pid {os.getpid()}, since ")
    assert f"is running on {tmp_path}" in message
    assert "rollout controller --platform local" in message
    who = statelock.holder(tmp_path)
    assert who is not None
    assert (who.pid, who.command) == (os.getpid(), "rollout controller --platform local")
    assert (tmp_path / statelock.LOCK_FILE).stat().st_mode & 0o777 == 0o600
    lock.release()
    assert statelock.holder(tmp_path) is None
    statelock.acquire(tmp_path, command="again").release()


def test_the_lock_dies_with_a_killed_holder_not_with_its_children(tmp_path: Path) -> None:
    """SIGKILL the holder while a child it started runs on: the state dir is free."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    child = 0
    try:
        assert holder.stdout is not None
        child = int(holder.stdout.readline())
        who = statelock.holder(tmp_path)
        assert who is not None
        assert who.pid == holder.pid
        with pytest.raises(statelock.Held, match=f"pid {holder.pid}"):
            statelock.acquire(tmp_path, command="second")
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        os.kill(child, 0)  # the child still runs
        deadline = time.monotonic() + 5
        while statelock.holder(tmp_path) is not None:
            assert time.monotonic() < deadline, "the lock outlived its holder"
            time.sleep(0.02)
        statelock.acquire(tmp_path, command="next").release()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)
        for stream in (holder.stdin, holder.stdout):
            if stream is not None:
                stream.close()
        if child:  # not our child (the holder's): init reaps it
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
