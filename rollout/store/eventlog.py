"""Events of a state dir, kept for `rollout status`, `history` and `events`:
`<state-dir>/events.jsonl`, one JSON object a line.

On the local and sim platforms the controller's events (what Kubernetes would keep as
Event objects: `RevisionCreated`, `ReleaseStarted`, `CrashLoop`, `DriftCorrected`, …)
are appended here by `Journal.record` as they happen; the CLI reads them with `read`.

Bounded: `Journal` rewrites the file every `compact_every` records (and when opened)
keeping, of each object (kind, namespace, name), its last `KEEP_PER_OBJECT` events,
and none older than `TTL`; `read` applies the same bound, so nobody ever sees more.
A line that does not parse (a write cut by a crash) is skipped.

Not thread-safe: one process writes (the controller, which holds the state dir's
lock) and serializes its calls; readers may read at any time (a record is one
`write` of one line in append mode; a compaction replaces the file atomically).
I/O: this one file only. `bounded` is pure.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from rollout import files

__all__ = ["FILE", "KEEP_PER_OBJECT", "TTL", "Event", "Journal", "bounded", "read"]

FILE = "events.jsonl"
KEEP_PER_OBJECT = 20
TTL = timedelta(days=7)
_COMPACT_EVERY = 500


@dataclasses.dataclass(frozen=True)
class Event:
    """What happened to one object, as Kubernetes records an Event."""

    kind: str
    namespace: str
    name: str
    reason: str
    message: str
    warning: bool
    at: datetime

    def to_json(self) -> dict[str, object]:
        data = dataclasses.asdict(self)
        data["at"] = self.at.isoformat()
        return data

    @classmethod
    def from_json(cls, data: object) -> Event | None:
        if not isinstance(data, dict):
            return None
        try:
            at = datetime.fromisoformat(data["at"])
            fields = {f: data[f] for f in ("kind", "namespace", "name", "reason", "message")}
        except (KeyError, TypeError, ValueError):
            return None
        if not all(isinstance(v, str) for v in fields.values()) or at.tzinfo is None:
            return None
        return cls(at=at, warning=bool(data.get("warning")), **fields)


def bounded(
    events: Iterable[Event], *, now: datetime, keep: int = KEEP_PER_OBJECT, ttl: timedelta = TTL
) -> list[Event]:
    """`events` (oldest first) without those older than `ttl` and, per object, all but
    its last `keep`; the order is kept."""
    fresh = [e for e in events if now - e.at <= ttl]
    seen: dict[tuple[str, str, str], int] = defaultdict(int)
    kept = []
    for e in reversed(fresh):
        key = (e.kind, e.namespace, e.name)
        seen[key] += 1
        if seen[key] <= keep:
            kept.append(e)
    kept.reverse()
    return kept


def read(state_dir: pathlib.Path, *, now: datetime) -> list[Event]:
    """The events kept in `state_dir`, oldest first (none when there is no file)."""
    try:
        text = (pathlib.Path(state_dir) / FILE).read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = []
    for line in text.splitlines():
        try:
            event = Event.from_json(json.loads(line))
        except ValueError:
            continue
        if event is not None:
            found.append(event)
    found.sort(key=lambda e: e.at)
    return bounded(found, now=now)


class Journal:
    """The writer of a state dir's events (the controller's; see the module docstring)."""

    def __init__(
        self,
        state_dir: pathlib.Path,
        *,
        keep: int = KEEP_PER_OBJECT,
        ttl: timedelta = TTL,
        compact_every: int = _COMPACT_EVERY,
    ) -> None:
        self.path = pathlib.Path(state_dir) / FILE
        self.keep = keep
        self.ttl = ttl
        self.compact_every = compact_every
        self._since_compaction = 0
        self._needs_compaction = self.path.exists()

    def record(self, event: Event) -> None:
        if self._needs_compaction or self._since_compaction >= self.compact_every:
            self.compact(now=event.at)
        line = json.dumps(event.to_json()) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
        self._since_compaction += 1

    def compact(self, *, now: datetime) -> None:
        """Rewrite the file with what `bounded` keeps."""
        kept = bounded(read(self.path.parent, now=now), now=now, keep=self.keep, ttl=self.ttl)
        text = "".join(json.dumps(e.to_json()) + "\n" for e in kept)
        files.write_private(self.path, text)
        self._since_compaction = 0
        self._needs_compaction = False
