"""The demo's service (`python -m rollout.demo.app`; standard library only).

It listens on 127.0.0.1:$PORT (set by the local runtime) and answers every GET with
its VERSION. ERROR_RATE (0–1) makes that share of requests fail with 500, and
DELAY_MS adds latency — so a bad version can be released and caught. The same program
as examples/local/app.py, shipped inside the package so that `rollout demo` runs
wherever rollout is installed.
"""

import http.server
import os
import random
import time

VERSION = os.environ.get("VERSION", "v1")
ERROR_RATE = float(os.environ.get("ERROR_RATE", "0"))
DELAY_S = float(os.environ.get("DELAY_MS", "0")) / 1000


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._reply(200, "ok\n")
            return
        time.sleep(DELAY_S)
        if random.random() < ERROR_RATE:
            self._reply(500, f"{VERSION}: failed\n")
        else:
            self._reply(200, f"hello from {VERSION}\n")

    def _reply(self, status: int, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # quiet access log
        return


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8080"))
    http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
