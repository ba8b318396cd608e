"""Simulated release scenarios: what the canary and the stable revision do, second by second.

A `Scenario` is a frozen value saying how the canary differs from the stable revision:
its absolute error rate (from some time on), its latency factor, the shared per-minute
traffic noise, and an incident that hits both revisions at once. `bad` says whether
the canary is a regression a decision-maker should catch; the harness uses it to score
a rollback as a detection (bad) or a false rollback (good).

Error rates are vectorised over an array of seconds, so the world draws a whole
interval of traffic at once. `SCENARIOS` holds the named scenarios of issue 3.

Pure data and arithmetic; no I/O, no randomness (the world owns the random streams).
Called by `rollout.sim.world` and, by name, by the harness and the CLI.
"""

from __future__ import annotations

import dataclasses
import types

import numpy as np
import numpy.typing as npt

__all__ = ["DEFAULT_TRAFFIC_CV", "SCENARIOS", "Incident", "Scenario", "get"]

#: Coefficient of variation of the per-minute traffic multiplier outside `noisy-good`.
DEFAULT_TRAFFIC_CV = 0.1


@dataclasses.dataclass(frozen=True)
class Incident:
    """Both revisions fail at `rate` (at least) for seconds in [start_s, end_s)."""

    start_s: float
    end_s: float
    rate: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.start_s < self.end_s:
            raise ValueError(f"incident window [{self.start_s}, {self.end_s}) is empty")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"incident rate {self.rate} is not a probability")


@dataclasses.dataclass(frozen=True)
class Scenario:
    """How the canary behaves against the stable revision.

    `canary_error_rate` is the canary's absolute error rate from `canary_bad_from_s`
    on (None: the baseline rate p0, like the stable revision). `latency_factor`
    multiplies the canary's latencies. `traffic_cv` is the coefficient of variation of
    the per-minute gamma multiplier applied to the total request rate (so shared by
    both revisions). `incident` raises both revisions' error rates for a while.
    """

    name: str
    bad: bool
    description: str
    canary_error_rate: float | None = None
    canary_bad_from_s: float = 0.0
    latency_factor: float = 1.0
    traffic_cv: float = DEFAULT_TRAFFIC_CV
    incident: Incident | None = None

    def __post_init__(self) -> None:
        if self.canary_error_rate is not None and not 0.0 <= self.canary_error_rate <= 1.0:
            raise ValueError(f"canary error rate {self.canary_error_rate} is not a probability")
        if self.latency_factor <= 0.0:
            raise ValueError("latency factor must be positive")
        if self.traffic_cv < 0.0:
            raise ValueError("traffic CV must not be negative")

    def error_rates(
        self, seconds: npt.NDArray[np.int64], *, p0: float
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Per-second error probabilities (canary, stable) for the given whole seconds."""
        t = seconds.astype(np.float64)
        stable = np.full(t.shape, p0, dtype=np.float64)
        canary = stable.copy()
        if self.canary_error_rate is not None:
            canary = np.where(t >= self.canary_bad_from_s, self.canary_error_rate, canary)
        if self.incident is not None:
            inside = (t >= self.incident.start_s) & (t < self.incident.end_s)
            stable = np.where(inside, np.maximum(stable, self.incident.rate), stable)
            canary = np.where(inside, np.maximum(canary, self.incident.rate), canary)
        return canary, stable


def _bad(percent: int) -> Scenario:
    return Scenario(
        name=f"bad-{percent}pct",
        bad=True,
        description=f"the canary fails {percent}% of its requests from the start",
        canary_error_rate=percent / 100.0,
    )


_ALL = [
    Scenario(name="good", bad=False, description="the canary is as good as the stable"),
    _bad(1),
    _bad(5),
    _bad(20),
    _bad(100),
    Scenario(
        name="latency-1.5x",
        bad=True,
        description="canary latencies are 1.5 times the stable's; errors as good",
        latency_factor=1.5,
    ),
    Scenario(
        name="noisy-good",
        bad=False,
        description="a good canary under shared per-minute traffic noise (gamma, CV 1)",
        traffic_cv=1.0,
    ),
    Scenario(
        name="incident-good",
        bad=False,
        description="a good canary; both revisions fail 3% for 5 minutes from minute 2",
        incident=Incident(start_s=120.0, end_s=420.0, rate=0.03),
    ),
    Scenario(
        name="late-bug",
        bad=True,
        description="the canary turns to 5% errors at minute 5",
        canary_error_rate=0.05,
        canary_bad_from_s=300.0,
    ),
]

#: The scenarios of issue 3, by name (read-only).
SCENARIOS: types.MappingProxyType[str, Scenario] = types.MappingProxyType({s.name: s for s in _ALL})


def get(name: str) -> Scenario:
    """The scenario called `name`; KeyError listing the known names otherwise."""
    try:
        return SCENARIOS[name]
    except KeyError:
        known = ", ".join(SCENARIOS)
        raise KeyError(f"unknown scenario {name!r}; known: {known}") from None
