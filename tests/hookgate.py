"""A webhook receiver for the tests: a real stdlib HTTP server on 127.0.0.1.

`HookGate()` records every request (path, headers, parsed JSON body, raw body) and
answers it with `status` — which a test may change at any time (`gate.status = 200`
opens a gate). With `hang` set, it holds each request until the gate is closed or
`hang` seconds pass (a hanging endpoint). `wait_for(predicate, within)` waits, with a
deadline, until the recorded calls satisfy `predicate`.

Used by the scenario, e2e and controller tests of webhooks; each test closes its
gates (`close()` stops the server and joins its threads).
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.server
import json
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Call", "HookGate"]


@dataclasses.dataclass(frozen=True)
class Call:
    path: str
    headers: dict[str, str]  # names lower-cased
    raw: bytes
    body: dict[str, Any]
    at: float  # time.monotonic() when received


class HookGate:
    def __init__(self, status: int = 200, *, hang: float = 0.0) -> None:
        self.status = status
        self.hang = hang
        self.calls: list[Call] = []
        self._closing = threading.Event()
        self._changed = threading.Condition()
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.gate = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,))
        self._thread.daemon = True
        self._thread.start()

    def record(self, call: Call) -> None:
        with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    def bodies(self, path: str | None = None) -> list[dict[str, Any]]:
        with self._changed:
            return [c.body for c in self.calls if path is None or c.path == path]

    def count(self, path: str | None = None) -> int:
        return len(self.bodies(path))

    def wait_for(self, predicate: Callable[[list[Call]], bool], within: float) -> None:
        ends = time.monotonic() + within
        with self._changed:
            while not predicate(list(self.calls)):
                left = ends - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"the gate did not see the expected calls within {within}s;"
                        f" saw {[(c.path, c.body.get('reason')) for c in self.calls]}"
                    )
                self._changed.wait(min(left, 0.1))

    def close(self) -> None:
        self._closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        gate: HookGate = self.server.gate  # type: ignore[attr-defined]
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        gate.record(Call(self.path, headers, raw, body, time.monotonic()))
        if gate.hang:
            gate._closing.wait(gate.hang)
        status = gate.status
        with contextlib.suppress(OSError):  # the caller went away (at its deadline)
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok" if 200 <= status < 300 else b"no")

    def log_message(self, format: str, *args: Any) -> None:
        pass
