"""A headless Chromium driven through chromedriver's W3C WebDriver protocol — plain
HTTP and JSON, so the browser tests need no Python package beyond the standard
library (Selenium speaks the same protocol).

`Browser.start()` starts `chromedriver` on a free 127.0.0.1 port (the Debian
packages `chromium` and `chromium-driver`: `/usr/bin/chromedriver`, the browser
`/usr/bin/chromium`), opens one headless session, and `close()` ends the session and
stops the driver by its PID. `missing()` says which binary is not installed.
"""

from __future__ import annotations

import base64
import http.client
import json
import shutil
import socket
import subprocess
import time
from typing import Any

__all__ = ["Browser", "WebDriverError", "missing"]

_ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C element reference key


def missing() -> str | None:
    """The binary that is not installed (None: both are)."""
    for name in ("chromium", "chromedriver"):
        if shutil.which(name) is None:
            return name
    return None


class WebDriverError(Exception):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Browser:
    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self._process = process
        self._port = port
        self.session = ""

    @classmethod
    def start(cls, *, width: int = 1100, height: int = 1000) -> Browser:
        port = _free_port()
        chromedriver = shutil.which("chromedriver")
        assert chromedriver is not None
        process = subprocess.Popen(
            [chromedriver, f"--port={port}", "--allowed-ips=127.0.0.1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        browser = cls(process, port)
        try:
            deadline = time.monotonic() + 15
            while True:
                try:
                    if browser._call("GET", "/status")["ready"]:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise WebDriverError("chromedriver did not start within 15 s")
                time.sleep(0.1)
            options = {
                "binary": shutil.which("chromium"),
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    f"--window-size={width},{height}",
                ],
            }
            caps = {"capabilities": {"alwaysMatch": {"goog:chromeOptions": options}}}
            browser.session = browser._call("POST", "/session", caps)["sessionId"]
        except BaseException:
            browser.close()
            raise
        return browser

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", self._port, timeout=60)
        try:
            data = json.dumps(body) if body is not None else None
            conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
            answer = json.loads(conn.getresponse().read() or b"{}")
        finally:
            conn.close()
        value = answer.get("value")
        if isinstance(value, dict) and "error" in value:
            raise WebDriverError(f"{value['error']}: {value.get('message', '')[:300]}")
        return value

    def _session(self, method: str, path: str, body: Any = None) -> Any:
        return self._call(method, f"/session/{self.session}{path}", body)

    # --- what a test does -------------------------------------------------------------------

    def open(self, url: str) -> None:
        self._session("POST", "/url", {"url": url})

    def run(self, script: str, *args: Any) -> Any:
        """Run `script` (a function body; `arguments[i]`) in the page; its return."""
        return self._session("POST", "/execute/sync", {"script": script, "args": list(args)})

    def find(self, css: str) -> list[str]:
        """The elements matching `css`, as references for `click` and `text`."""
        found = self._session("POST", "/elements", {"using": "css selector", "value": css})
        return [e[_ELEMENT] for e in found]

    def click(self, element: str) -> None:
        self._session("POST", f"/element/{element}/click", {})

    def text(self, element: str) -> str:
        value: str = self._session("GET", f"/element/{element}/text")
        return value

    def wait(self, script: str, *, within: float = 5.0, what: str = "") -> Any:
        """Poll `script` (a function body) until it returns something truthy."""
        deadline = time.monotonic() + within
        while True:
            value = self.run(script)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"not within {within} s: {what or script}")
            time.sleep(0.05)

    def resize(self, width: int, height: int) -> None:
        self._session("POST", "/window/rect", {"width": width, "height": height})

    def screenshot(self, path: str) -> None:
        data = self._session("GET", "/screenshot")
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self) -> None:
        try:
            if self.session:
                self._session("DELETE", "")
        except (OSError, WebDriverError):
            pass
        finally:
            self._process.terminate()  # chromedriver, by its PID; it ends the browser
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
