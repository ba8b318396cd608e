"""Stop a long-running command on SIGINT/SIGTERM without work in the signal handler.

A Python signal handler runs in the main thread between two bytecodes, wherever that
thread is: in the middle of a log line (structlog's writer holds a plain lock while it
prints) or of `Event.wait` (which holds the event's lock for a moment). A handler that
logs or sets an event there waits for a lock its own thread holds, for ever: the
controller then ignores every later signal (a SIGTERM just after "controller started"
once left the process running). So the handler does nothing;
the interpreter's C handler writes the signal's number to a socket
(`signal.set_wakeup_fd`), and a thread of ours reads it, logs and sets the event.
"""

from __future__ import annotations

import signal
import socket
import threading

import structlog

__all__ = ["stop_on_signals"]

log = structlog.get_logger(__name__)

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def stop_on_signals(stop: threading.Event) -> None:
    """Set `stop` on the first SIGINT or SIGTERM (main thread only; once a process)."""
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    for sig in _SIGNALS:
        signal.signal(sig, _ignore)

    def watch() -> None:
        while True:
            data = reader.recv(16)
            if not data:
                return
            numbers = [n for n in data if n in _SIGNALS]
            if numbers:
                log.info("stopping", signal=signal.Signals(numbers[0]).name)
                stop.set()

    threading.Thread(target=watch, name="signals", daemon=True).start()
    # the sockets live as long as the process: the interpreter writes to `writer`
    _keep.extend((reader, writer))


_keep: list[socket.socket] = []


def _ignore(signum: int, frame: object) -> None:
    """The Python-level handler: the wakeup socket carries the signal to `watch`."""
