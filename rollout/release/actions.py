"""What a decision asks the world to do. Idempotent by construction.

`SetWeights` names the absolute split ("stable 95, canary 5"), never a change, so
applying it twice is the same as once. `Event` is a Kubernetes-style event with a
distinct reason per kind of happening.

Pure data.
"""

from __future__ import annotations

import dataclasses

from rollout.api.release import Weights

__all__ = ["Action", "Event", "SetWeights"]


@dataclasses.dataclass(frozen=True)
class SetWeights:
    weights: Weights


@dataclasses.dataclass(frozen=True)
class Event:
    reason: str  # CamelCase: ReleaseStarted, StepAdvanced, AnalysisFailed, RolledBack, …
    message: str
    warning: bool = False


Action = SetWeights | Event
