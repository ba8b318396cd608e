"""A SIGTERM that lands while the main thread holds the log writer's lock (mid-line)
or waits on the stop event still stops the command: the handler takes no lock."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

PROGRAM = textwrap.dedent(
    """
    import os, signal, sys, threading, time
    import structlog
    from rollout import logs
    from rollout.cli import signals

    logs.configure(json_lines=True)
    log = structlog.get_logger("test")
    stop = threading.Event()
    signals.stop_on_signals(stop)
    log.info("started")  # the logger and its lock exist from here
    lock = structlog.get_config()["logger_factory"]()._lock
    where = sys.argv[1]
    if where == "mid-line":
        with lock:  # as inside PrintLogger.msg, between print and release
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):  # bytecodes: the handler runs here, lock held
                pass
    else:
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGTERM)).start()
    sys.exit(0 if stop.wait(10) else 3)
    """
)


@pytest.mark.parametrize("where", ["mid-line", "waiting"])
def test_sigterm_sets_stop_wherever_the_main_thread_is(where: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, where],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert '"signal": "SIGTERM"' in done.stderr
    assert '"event": "stopping"' in done.stderr
