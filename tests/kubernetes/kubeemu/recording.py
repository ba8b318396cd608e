"""The request log: one `RequestRecord` per resource request, for tests to assert on.

`emu.requests` is a `RequestLog` (a list with a locked `append`, plus `matching`).
A record has the RBAC verb, the group/version/resource/subresource, namespace,
name, User-Agent, the HTTP status sent (0 when an injected timeout dropped the
connection without an answer), the permissions admission asked for besides
(`authz.owner_checks`: setting ownerReferences) and `at`, the `time.monotonic()` of
its arrival (a watch: when it was opened), so that a test can count a client's
requests in a window of time (`busiest`). Discovery and `/version` requests are not recorded;
neither are the emulator's helper methods. Written by `api.py`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields
from typing import Any

from kubeemu import authz

__all__ = ["RequestLog", "RequestRecord"]


@dataclass(frozen=True)
class RequestRecord:
    """One resource request as the emulator saw and answered it."""

    verb: str
    group: str
    version: str
    resource: str
    subresource: str
    namespace: str
    name: str
    user_agent: str
    status_code: int
    # what admission (OwnerReferencesPermissionEnforcement) asked of it besides
    admission: tuple[authz.Check, ...] = ()
    at: float = 0.0  # time.monotonic() when the request arrived


class RequestLog(list[RequestRecord]):
    """A thread-safe list of `RequestRecord`s (appends and snapshots are locked)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def append(self, record: RequestRecord) -> None:
        with self._lock:
            super().append(record)

    def snapshot(self) -> list[RequestRecord]:
        with self._lock:
            return list(self)

    def matching(self, **criteria: Any) -> list[RequestRecord]:
        """Records whose fields equal every given criterion (`verb="patch"`, …)."""
        known = {f.name for f in fields(RequestRecord)}
        unknown = set(criteria) - known
        if unknown:
            raise TypeError(f"unknown RequestRecord fields: {sorted(unknown)}")
        return [r for r in self.snapshot() if all(getattr(r, k) == v for k, v in criteria.items())]

    def busiest(self, window: float, *, user_agent_contains: str = "") -> int:
        """The most requests (of clients whose User-Agent contains the text) that
        arrived within any `window` seconds."""
        times = sorted(r.at for r in self.snapshot() if user_agent_contains in r.user_agent)
        most, start = 0, 0
        for end, t in enumerate(times):
            while t - times[start] >= window:
                start += 1
            most = max(most, end - start + 1)
        return most
