"""A tiny webhook gate for trying rollout's gates on this machine (stdlib only).

    python3 examples/local/gate.py [--port 8099] [--approve-file APPROVED]

Answers every POST with 403 ("not yet") while the approve file does not exist, and
with 200 once it does (`touch APPROVED` says yes; `rm APPROVED` says no again). Prints
one line per call: the hook's type and name, the release, its step and weights. With
GATE_KEY set (the same value the controller has), it checks each call's
`X-Rollout-Signature` and refuses (401) a call that is not signed with it.
Listens on 127.0.0.1 only. Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.server
import json
import os
import pathlib


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--approve-file", default="APPROVED")
    args = parser.parse_args()
    approve = pathlib.Path(args.approve_file)
    key = os.environ.get("GATE_KEY")

    class Gate(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if key is not None:
                want = "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
                if not hmac.compare_digest(want, self.headers.get("X-Rollout-Signature", "")):
                    self.answer(401, "bad signature")
                    return
            call = json.loads(body or b"{}")
            code = 200 if approve.exists() else 403
            print(
                f"{call.get('type')} {call.get('name')}: release {call.get('release')}"
                f" step {call.get('stepIndex')} weights {call.get('weights')} -> {code}",
                flush=True,
            )
            self.answer(code, "yes" if code == 200 else f"not yet: touch {approve}")

        def answer(self, code: int, text: str) -> None:
            data = text.encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Gate)
    print(f"gate on http://127.0.0.1:{args.port}/ — 403 until {approve} exists", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
