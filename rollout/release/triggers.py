"""The triggers of the release state machine (DESIGN §4).

`tick` fires on every reconcile with a fresh observation; the others come from the
user's commands in the Release spec (or, for `supersede`, from the Service).

Pure data.
"""

from __future__ import annotations

import enum

__all__ = ["Trigger"]


class Trigger(enum.StrEnum):
    TICK = "tick"
    PAUSE = "pause"
    RESUME = "resume"
    PROMOTE = "promote"
    PROMOTE_FULL = "promote_full"
    ABORT = "abort"
    RETRY = "retry"
    SUPERSEDE = "supersede"
