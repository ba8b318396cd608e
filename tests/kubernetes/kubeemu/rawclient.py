"""A bare HTTP client for tests that need exact control over a request.

`call(url, method, path, body=..., headers=...)` sends one request on a fresh
connection and returns `Reply(status, headers, body)` with the body decoded as JSON
when it is JSON. Used where the official client would hide what is being checked:
arbitrary `Accept`/`Content-Type` headers, malformed bodies, raw watch lines,
discovery documents. Not used by the emulator itself.
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Reply", "call", "watch_lines"]


@dataclass(frozen=True)
class Reply:
    """One HTTP answer."""

    status: int
    headers: Mapping[str, str]
    body: Any


def _connect(url: str, timeout: float) -> http.client.HTTPConnection:
    parts = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)


def call(
    url: str,
    method: str,
    path: str,
    *,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> Reply:
    """Send one request; `body` is sent as is when bytes/str, else as JSON."""
    sent = dict(headers or {})
    data: bytes | None = None
    if isinstance(body, bytes):
        data = body
    elif isinstance(body, str):
        data = body.encode()
    elif body is not None:
        data = json.dumps(body).encode()
        sent.setdefault("Content-Type", "application/json")
    conn = _connect(url, timeout)
    try:
        conn.request(method, path, body=data, headers=sent)
        response = conn.getresponse()
        raw = response.read()
        reply_headers: dict[str, str] = {}
        for key, value in response.getheaders():  # repeated headers joined, as HTTP allows
            key = key.lower()
            reply_headers[key] = f"{reply_headers[key]}, {value}" if key in reply_headers else value
    finally:
        conn.close()
    decoded: Any = raw.decode()
    if reply_headers.get("content-type", "").startswith("application/json"):
        decoded = json.loads(raw) if raw else None
    return Reply(response.status, reply_headers, decoded)


def watch_lines(
    url: str, path: str, *, headers: Mapping[str, str] | None = None, timeout: float = 10.0
) -> Iterator[dict[str, Any]]:
    """Open a watch and yield its events as they arrive (ends with the stream)."""
    conn = _connect(url, timeout)
    try:
        conn.request("GET", path, headers=dict(headers or {}))
        response = conn.getresponse()
        if response.status != 200:
            raise AssertionError(f"watch answered {response.status}: {response.read()!r}")
        while True:
            line = response.readline()
            if not line:
                return
            if line.strip():
                yield json.loads(line)
    finally:
        conn.close()
