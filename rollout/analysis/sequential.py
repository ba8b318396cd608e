"""Anytime-valid sequential comparison of the canary's errors with the stable's.

The model (counting processes, Lindon & Malek, "Anytime-Valid Inference for
Multinomial Count Data", NeurIPS 2022; Johari et al., "Always Valid Inference",
Operations Research 2022): errors of each revision arrive as Poisson processes with
rates proportional to its requests times its error rate. In a measured increment
where the canary served a share `s` of the requests, if the canary's error rate is
`ρ` times the stable's, each error lands on the canary with probability

    θ(ρ, s) = ρ·s / (ρ·s + 1 − s),

so, given the errors of the increment, the canary's count is Binomial(m, θ). Under
"no difference" (ρ = 1) that probability is just the canary's traffic share — the
test needs no baseline error rate, which is why an incident that hits both revisions
does not look like a regression.

For each ratio ρ_j of a fixed grid we keep the log-likelihood ℓ_j = Σ x·log θ + y·log(1 − θ)
over all increments (x canary errors, y stable errors). Two one-sided mixture
likelihood ratios (e-values) are read from it:

- **fail**: E = mean_{ρ_j ≥ maxRatio} exp(ℓ_j − ℓ(1)), against H0: ρ ≤ 1. For ρ ≤ 1
  each term is a non-negative supermartingale (the binomial family has a monotone
  likelihood ratio), so by Ville's inequality P(sup_t E_t ≥ 1/α) ≤ α: the canary is
  rolled back wrongly with probability at most α however often the test looks.
- **pass**: E' = mean_{ρ_j ≤ 1} exp(ℓ_j − ℓ(maxRatio)), against H0': ρ ≥ maxRatio. When
  it reaches 1/α, a ratio above maxRatio is ruled out at level α and a step may end
  early (`advanceEarly`).

The alternatives of the fail test start at maxRatio: the mixture spends its weight on
regressions worth catching fast, and small differences (1 < ρ < maxRatio) are the
indifference zone of both tests. Increments with no errors, or with all requests on
one revision, carry no information about ρ and leave ℓ unchanged.

Pure; no I/O. Called by `evaluate`.
"""

from __future__ import annotations

import dataclasses
import math

from rollout.analysis import measurement

__all__ = ["Grid", "State", "fail_log_e", "grid", "pass_log_e", "update"]

_ZERO = measurement.Counts(0, 0)
_BASE = tuple(2.0**k for k in range(-3, 7))  # 1/8 … 64 in octaves


@dataclasses.dataclass(frozen=True)
class Grid:
    ratios: tuple[float, ...]
    one: int  # index of ρ = 1
    max_ratio: int  # index of ρ = maxRatio


def grid(max_ratio: float) -> Grid:
    """The ratios the test tracks for a given `maxRatio` (always holds 1 and maxRatio)."""
    ratios = tuple(sorted({*_BASE, 1.0, float(max_ratio)}))
    return Grid(ratios, ratios.index(1.0), ratios.index(float(max_ratio)))


@dataclasses.dataclass(frozen=True)
class State:
    log_likelihood: tuple[float, ...]
    canary: measurement.Counts = dataclasses.field(default_factory=lambda: _ZERO)
    stable: measurement.Counts = dataclasses.field(default_factory=lambda: _ZERO)

    @classmethod
    def empty(cls, g: Grid) -> State:
        return cls(tuple(0.0 for _ in g.ratios))


def update(state: State, g: Grid, canary: measurement.Counts, stable: measurement.Counts) -> State:
    """Fold one increment (requests and errors of both revisions) into the state."""
    requests = canary.requests + stable.requests
    x, y = canary.errors, stable.errors
    ll = state.log_likelihood
    if requests > 0 and 0 < canary.requests < requests and x + y > 0:
        s = canary.requests / requests
        new = []
        for rho, value in zip(g.ratios, ll, strict=True):
            theta = rho * s / (rho * s + 1 - s)
            new.append(value + x * math.log(theta) + y * math.log1p(-theta))
        ll = tuple(new)
    return State(ll, state.canary + canary, state.stable + stable)


def _log_mean_exp(values: list[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values) / len(values))


def fail_log_e(state: State, g: Grid) -> float:
    """log of the e-value against "the canary is no worse than stable" (ρ ≤ 1)."""
    ll = state.log_likelihood
    return _log_mean_exp([v - ll[g.one] for v in ll[g.max_ratio :]])


def pass_log_e(state: State, g: Grid) -> float:
    """log of the e-value against "the canary is maxRatio times worse or more"."""
    ll = state.log_likelihood
    return _log_mean_exp([v - ll[g.max_ratio] for v in ll[: g.one + 1]])
