"""A service's events as people read them: picked from a journal, as table rows.

- `of_service(events, name, namespace)`: the events of the Service, its Route, its
  Revisions (`web-00002`) and its Releases (`web-00002`, `web-00002-2` for a retry);
- `rows(events, now)`: `rollout events`' table — age, type, object, reason, message
  (kubectl's `get events` columns);
- `lines(events)`: one line each, for `rollout status` and `history`.

Works on any event with `kind, namespace, name, reason, message, warning, at`
(`rollout.store.eventlog.Event`). Pure, and light to import (`rollout events` loads
it): no pydantic models.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol, TypeVar

__all__ = ["lines", "of_service", "rows"]


class _Event(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def namespace(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def warning(self) -> bool: ...
    @property
    def at(self) -> datetime: ...


_E = TypeVar("_E", bound=_Event)


def _belongs(name: str, service_name: str) -> bool:
    """`web-00002` (a revision, a release) or `web-00002-2` (a retry) is `web`'s."""
    prefix = f"{service_name}-"
    if not name.startswith(prefix):
        return False
    number = name[len(prefix) :].split("-", 1)[0]
    return len(number) >= 5 and number.isascii() and number.isdigit()


def of_service(events: Iterable[_E], service_name: str, namespace: str) -> list[_E]:
    """The events of a service: its own, its Route's, its Revisions' and Releases'."""
    return [
        e
        for e in events
        if e.namespace == namespace
        and (
            (e.kind in ("Service", "Route") and e.name == service_name)
            or (e.kind in ("Revision", "Release") and _belongs(e.name, service_name))
        )
    ]


def _age(then: datetime, now: datetime) -> str:
    seconds = max(int((now - then).total_seconds()), 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def rows(events: Sequence[_Event], now: datetime) -> list[list[str]]:
    """Rows of LAST SEEN, TYPE, OBJECT, REASON, MESSAGE, oldest first."""
    return [
        [
            _age(e.at, now),
            "Warning" if e.warning else "Normal",
            f"{e.kind}/{e.name}",
            e.reason,
            e.message,
        ]
        for e in events
    ]


def lines(events: Sequence[_Event]) -> list[str]:
    """`12:03:04  Warning  Revision/web-00002  CrashLoop  exited with code 3`, each."""
    return [
        f"{e.at:%H:%M:%S}  {'Warning' if e.warning else 'Normal'}  {e.kind}/{e.name}"
        f"  {e.reason}  {e.message}".rstrip()
        for e in events
    ]
