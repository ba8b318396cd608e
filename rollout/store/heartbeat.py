"""The controller's heartbeat in a state dir: `<state-dir>/controller.heartbeat`.

A controller on a state dir (the local and sim platforms) writes one JSON object,
`{"pid", "at", "period"}`, every `PERIOD` seconds while it runs (`write`, called by
`rollout controller`'s heartbeat thread); `rollout status` reads it (`read`) and
warns when it is older than `stale_after` — `STALE_BEATS` periods, so two missed
beats are tolerated. The file is left in place when the controller stops: its age
then says how long no controller has been seen. `at` is wall-clock UTC, also under a
rehearsal's scaled clock: the heartbeat says whether a controller is alive, not how
far simulated time has gone.

I/O: this one file only (replaced atomically). Called by `rollout controller` and
`rollout status`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from datetime import datetime

from rollout import files

__all__ = ["FILE", "PERIOD", "STALE_BEATS", "Beat", "read", "write"]

FILE = "controller.heartbeat"
PERIOD = 2.0  # seconds between two beats
STALE_BEATS = 3  # beats missed before `status` says no controller is seen


@dataclasses.dataclass(frozen=True)
class Beat:
    """The last heartbeat: when, from which process, and how often it beats."""

    at: datetime
    pid: int | None = None
    period: float = PERIOD

    @property
    def stale_after(self) -> float:
        """Seconds after `at` from which no controller is seen."""
        return self.period * STALE_BEATS


def write(state_dir: pathlib.Path, *, now: datetime, period: float = PERIOD) -> None:
    """Beat once: `now` (timezone-aware) is the controller's wall-clock time."""
    data = {"pid": os.getpid(), "at": now.isoformat(), "period": period}
    files.write_private(pathlib.Path(state_dir) / FILE, json.dumps(data))


def read(state_dir: pathlib.Path) -> Beat | None:
    """The last heartbeat written in `state_dir`; None when there is none (or it does
    not parse: as good as none)."""
    try:
        data = json.loads((pathlib.Path(state_dir) / FILE).read_text(encoding="utf-8"))
        at = datetime.fromisoformat(data["at"])
        period = float(data.get("period", PERIOD))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if at.tzinfo is None or not period > 0:
        return None
    pid = data.get("pid")
    return Beat(at=at, pid=pid if isinstance(pid, int) else None, period=period)
