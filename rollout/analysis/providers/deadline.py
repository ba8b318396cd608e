"""A total deadline for an HTTP answer, not a timeout per socket read.

A socket timeout restarts with every byte: a server that sends its headers (or body)
one byte every half second never trips a 2 s timeout. Here every read of an answer
first sets the socket's timeout to the time left before a deadline (`Reader`), so
the status line, the headers and the body together end by it; past it, a read
raises `TimeoutError`. It is wired in as the `response_class` of an
`http.client.HTTPConnection` (both urllib and urllib3 build their responses through
it):

- `response_class(deadline)`: responses bound to one deadline (the web provider
  makes a connection class per reading);
- `ThreadResponse`: responses bound to the deadline of the thread that reads them,
  set by `within(seconds)` around a call into a client that pools its connections
  (the Prometheus client: requests → urllib3); without one, reads are as before.

What a response reads cannot bound: the name lookup and the TLS handshake. The
controller's measurement runner is the backstop for those (and for anything else).

I/O helpers only (sockets handed in); no decisions. Called by the web and prometheus
providers.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

__all__ = ["Reader", "ThreadResponse", "current", "left", "response_class", "within"]

_thread = threading.local()


def left(deadline: float) -> float:
    """Seconds left before `deadline` (a `time.monotonic()` instant); `TimeoutError`
    when none."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("the deadline has passed")
    return remaining


class Reader(io.RawIOBase):
    """A response's socket reader whose every read waits at most until the deadline."""

    def __init__(self, raw: io.RawIOBase, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._raw = raw  # the socket's own reader: it holds the socket open until closed
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._sock.settimeout(left(self._deadline))
        return self._raw.readinto(buffer) or 0

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


def _bind(response: http.client.HTTPResponse, sock: socket.socket, deadline: float) -> None:
    raw = response.fp.detach()  # detached, not closed: the socket stays open
    response.fp = io.BufferedReader(Reader(raw, sock, deadline))


def response_class(deadline: float) -> type[http.client.HTTPResponse]:
    """An `HTTPResponse` class whose instances read within `deadline`."""

    class Response(http.client.HTTPResponse):
        def __init__(self, sock: socket.socket, *args: Any, **kwargs: Any) -> None:
            super().__init__(sock, *args, **kwargs)
            _bind(self, sock, deadline)

    return Response


class ThreadResponse(http.client.HTTPResponse):
    """An `HTTPResponse` that reads within the deadline of the thread making it, if any."""

    def __init__(self, sock: socket.socket, *args: Any, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        deadline = current()
        if deadline is not None:
            _bind(self, sock, deadline)


def current() -> float | None:
    """The deadline `within` set for this thread, if any."""
    deadline: float | None = getattr(_thread, "deadline", None)
    return deadline


@contextlib.contextmanager
def within(seconds: float) -> Iterator[float]:
    """Answers read by this thread end `seconds` from now (yields the deadline)."""
    previous = current()
    deadline = time.monotonic() + seconds
    if previous is not None:
        deadline = min(deadline, previous)
    _thread.deadline = deadline
    try:
        yield deadline
    finally:
        _thread.deadline = previous
