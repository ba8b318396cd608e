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

**With the stable's history** (`compare.history`). At a 0.1% stable error rate the
concurrent stable has few errors, so a canary error buys only ~1 nat against
ln(1/α) ≈ 4 plus the mixture's cost. The stable's requests and errors over a window
before the release (`baseline`, read once) estimate its rate far better. The
history comparison pools them with the stable's requests and errors in the
release: with S = n_c / (n_c + n_pooled) from the canary's (trusted, below) totals,

    H = Σ_k w_k · exp(X log(θ(ρ_k, S)/S) + Y log((1 − θ(ρ_k, S))/(1 − S))),

ρ_k = maxRatio·2^(k/2), k = 2…6 (2 to 8 × maxRatio in half-octaves), equal
weights w_k = 1/5. The prior is spent where a regression is hard to see: a
canary 4–16 times worse than a 0.1% stable fails once in a few hundred
requests, and prior weight on ratios far from its own is evidence it lacks (the
log of the weight, in nats); a canary 50 or 1000 times worse proves itself in a few
requests through the ρ = 8·maxRatio term and the concurrent test anyway (measured
on the same 1000 seeds: failed requests on `bad-1pct` 5.10 → 4.88 with this prior
instead of k = 0…10 weighted towards 4–16, `bad-100pct` unchanged).

For one ρ this is the Bayes factor of "canary rate ρλ, stable λ" against "both λ"
with the scale-invariant (right-Haar) prior dλ/λ on the stable's rate λ:
∫ L(ρ, λ) dλ/λ / ∫ L(1, λ) dλ/λ = ρ^X (N/(ρ n_c + n_pooled))^(X+Y).

*Guarantee and null.* H0_hist: the canary fails at most as often as the stable, and
the stable's rate is the same before and during the release (stationary). Given
the history, the posterior of λ is proper (Gamma(Y_hist, n_hist)), and a Bayes
factor is a test martingale under the null averaged over that posterior, so by
Ville P(sup_t H_t ≥ 1/α) ≤ α on that average (Grünwald, de Heide & Koolen, "Safe
Testing", JRSS-B 2024, §4 on Bayes factors with priors on nuisance parameters);
for each fixed λ, E_λ[H_t] = 1 at every fixed time. It is not a supermartingale for
each fixed λ: a history that happened to be low makes the canary look worse.

*The two together.* With a history, the fail decision reads max(E_c / 2, H), where
E_c is the concurrent e-value with its alternatives from `CONCURRENT_FROM` ×
maxRatio (8…64 for maxRatio 2): the history comparison is the one that sees a
canary 2–8 times worse; the concurrent one is left the large regressions, which it
proves in a few requests, and the ones the guard hides from the history. Rolling
back when E_c ≥ 2/α or H ≥ 1/α has, under H0_hist, probability at most α/2 + α =
1.5α (union). Why the concurrent part pays: during a shared incident its null holds
but errors are many, its mixture then moves in small steps and crosses 1/α nearly
as often as Ville allows, and many of those crossings go through the alternatives
close to 1 (2–4 × the stable). Measured on 2 × 1000 seeds (decisions.md,
bench/results): false rollbacks 0.6–1.0% on good, noisy-good and incident-good
against 0.7–1.7% with max(E, H); failed requests of a 20-fold regression 4.1–4.2
against 4.0. Without a history the decision reads E alone (bound α).

*Incidents.* An incident that raises both revisions' rates breaks H0_hist, not the
concurrent test's null. A guard watches the stable against its history: a CUSUM
c ← max(0, c + y ln κ − (κ − 1) r̂ n_s) per increment (κ = `GUARD_RATIO`, r̂ =
(Y_hist + 1)/n_hist). A canary increment enters the history comparison only when
the CUSUM is below `GUARD_LOG` after it **and** after the next increment (the
increment waits in `pending` for one reading), because at the onset of an incident
the stable's errors show a reading late as often as not. An increment in which the
stable served nothing (on Prometheus, a reading with no scrape since the last one)
tells the guard nothing: the pending increment keeps waiting, and the canary's part
of it joins it. The selection depends on
the stable's errors only, which under H0_hist are independent of the canary's. The
history comparison decides only from `HISTORY_MIN_ERRORS` trusted canary errors
(a subset of its rejection region, so the bound holds). Under a null with shared
rate changes the concurrent test keeps its α; what the history adds before the
guard reacts is not bounded in theory — measured on `incident-good` (both at 3%
for five minutes) with 1000 seeds in bench/results/decision_quality.md.

Pure; no I/O. Called by `evaluate`.
"""

from __future__ import annotations

import dataclasses
import math

from rollout.analysis import measurement

__all__ = [
    "CONCURRENT_FROM",
    "GUARD_LOG",
    "GUARD_RATIO",
    "HISTORY_MIN_ERRORS",
    "Grid",
    "State",
    "concurrent_log_e",
    "decision_log_e",
    "fail_log_e",
    "grid",
    "history_fail_log_e",
    "pass_log_e",
    "suspect_log_e",
    "update",
]

#: The guard watches for the stable failing this many times more than in its history …
GUARD_RATIO = 8.0
#: … and leaves the canary's increment out of the history comparison when its CUSUM
#: (log scale) is at least this after the increment.
GUARD_LOG = 2.5
#: The history comparison decides only from this many canary errors in trusted increments.
HISTORY_MIN_ERRORS = 3
#: With a history, the concurrent comparison's alternatives start at this × maxRatio.
CONCURRENT_FROM = 4.0

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
    """The comparison so far: concurrent log-likelihoods, totals, and the history guard.

    `baseline` is the stable's history before the release (None: no history);
    `guard` is the guard's CUSUM (log scale); `trusted` the canary's totals over the
    increments the guard let into the history comparison; `pending` the canary's
    last increment, let in if the guard is still quiet after the next one.
    """

    log_likelihood: tuple[float, ...]
    canary: measurement.Counts = dataclasses.field(default_factory=lambda: _ZERO)
    stable: measurement.Counts = dataclasses.field(default_factory=lambda: _ZERO)
    baseline: measurement.Counts | None = None
    guard: float = 0.0
    trusted: measurement.Counts = dataclasses.field(default_factory=lambda: _ZERO)
    pending: measurement.Counts = dataclasses.field(default_factory=lambda: _ZERO)

    @classmethod
    def empty(cls, g: Grid) -> State:
        return cls(tuple(0.0 for _ in g.ratios))


def update(
    state: State,
    g: Grid,
    canary: measurement.Counts,
    stable: measurement.Counts,
    baseline: measurement.Counts | None = None,
) -> State:
    """Fold one increment (requests and errors of both revisions) into the state.

    `baseline`, the stable's history before the release, is kept from the first
    reading that carries one with requests; later ones are ignored.
    """
    if state.baseline is None and baseline is not None and baseline.requests > 0:
        state = dataclasses.replace(state, baseline=baseline)
    guard = _guard(state, stable)
    trusted, pending = state.trusted, _ZERO
    if state.baseline is not None and stable.requests == 0:
        # nothing new about the stable (no scrape since the last reading): the guard has
        # not seen the stable after the pending increment, which keeps waiting
        pending = state.pending + canary
    elif state.baseline is not None and guard < GUARD_LOG:
        trusted, pending = trusted + state.pending, canary
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
    return State(
        ll, state.canary + canary, state.stable + stable, state.baseline, guard, trusted, pending
    )


def _guard(state: State, stable: measurement.Counts) -> float:
    """The guard's CUSUM after the stable's increment (0 without a history)."""
    base = state.baseline
    if base is None:
        return 0.0
    rate = (base.errors + 1) / base.requests  # a pseudo-error keeps a clean history honest
    step = stable.errors * math.log(GUARD_RATIO) - (GUARD_RATIO - 1) * rate * stable.requests
    return max(0.0, state.guard + step)


def _log_mean_exp(values: list[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values) / len(values))


def fail_log_e(state: State, g: Grid, *, from_ratio: float | None = None) -> float:
    """log of the e-value against "the canary is no worse than stable" (ρ ≤ 1).

    Its alternatives are the grid's ratios from `from_ratio` (default maxRatio) up.
    """
    ll = state.log_likelihood
    lowest = g.ratios[g.max_ratio] if from_ratio is None else from_ratio
    return _log_mean_exp([v - ll[g.one] for r, v in zip(g.ratios, ll, strict=True) if r >= lowest])


def concurrent_log_e(state: State, g: Grid) -> float:
    """log of the concurrent comparison's e-value as the fail decision reads it.

    Without a history, `fail_log_e`. With one, the concurrent comparison is there for
    large regressions (the history comparison covers 2–8 × maxRatio): its
    alternatives start at `CONCURRENT_FROM` × maxRatio and it counts half (it must
    reach 2/α), so the union of the two comparisons is bounded by 1.5α, not 2α.
    """
    if state.baseline is None:
        return fail_log_e(state, g)
    lowest = min(g.ratios[g.max_ratio] * CONCURRENT_FROM, g.ratios[-1])
    return fail_log_e(state, g, from_ratio=lowest) - math.log(2.0)


def history_fail_log_e(state: State, g: Grid) -> float | None:
    """log of the history-pooled e-value against ρ ≤ 1; None without a usable history.

    Computed from the totals: the stable's history and its requests in the release
    are pooled, S = n_canary / (n_canary + n_pooled), and ℓ_j = X log θ(ρ_j, S) +
    Y_pooled log(1 − θ(ρ_j, S)).
    """
    base = state.baseline
    if base is None:
        return None
    pooled = state.stable + base
    x, y = state.trusted.errors, pooled.errors
    if state.trusted.requests == 0 or x + y == 0:
        return 0.0
    s = state.trusted.requests / (state.trusted.requests + pooled.requests)

    def log_likelihood(rho: float) -> float:
        theta = rho * s / (rho * s + 1 - s)
        return x * math.log(theta) + y * math.log1p(-theta)

    null = log_likelihood(1.0)
    ratios, weights = _history_prior(g.ratios[g.max_ratio])
    terms = [log_likelihood(r) - null + math.log(w) for r, w in zip(ratios, weights, strict=True)]
    top = max(terms)
    return top + math.log(sum(math.exp(t - top) for t in terms))


def _history_prior(max_ratio: float) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Half-octaves from 2·maxRatio to 8·maxRatio, equal weights."""
    ratios = tuple(max_ratio * 2 ** (k / 2) for k in range(2, 7))
    return ratios, tuple(1 / len(ratios) for _ in ratios)


def decision_log_e(state: State, g: Grid) -> float:
    """log of the e-value the fail decision reads: the larger of the two comparisons.

    The history comparison counts once the canary has `HISTORY_MIN_ERRORS` errors in
    trusted increments (two errors in a few dozen requests are too often luck).
    """
    concurrent = concurrent_log_e(state, g)
    pooled = history_fail_log_e(state, g)
    if pooled is None or state.trusted.errors < HISTORY_MIN_ERRORS:
        return concurrent
    return max(concurrent, pooled)


def suspect_log_e(state: State, g: Grid) -> float:
    """log of the e-value that says whether the comparison leans towards a regression.

    The concurrent one, or the history-pooled one while the guard trusts the history
    (without the minimum count of `decision_log_e`: leaning is not deciding).
    """
    concurrent = fail_log_e(state, g)
    pooled = history_fail_log_e(state, g)
    return concurrent if pooled is None else max(concurrent, pooled)


def pass_log_e(state: State, g: Grid) -> float:
    """log of the e-value against "the canary is maxRatio times worse or more"."""
    ll = state.log_likelihood
    return _log_mean_exp([v - ll[g.max_ratio] for v in ll[: g.one + 1]])
