"""`sequential`: the anytime-valid comparison of canary and stable error counts.

The grid, which increments carry information, the e-values on clear-cut cases, and
the guarantee the module docstring states: under "no difference" the fail e-value
reaches 1/alpha with probability at most alpha however often it is read (Ville's
inequality), checked on 2000 simulated streams with a fixed seed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollout.analysis import measurement, sequential

Counts = measurement.Counts


def after(*increments: tuple[Counts, Counts], max_ratio: float = 2.0) -> sequential.State:
    g = sequential.grid(max_ratio)
    state = sequential.State.empty(g)
    for canary, stable in increments:
        state = sequential.update(state, g, canary, stable)
    return state


def fail_e(state: sequential.State, max_ratio: float = 2.0) -> float:
    return math.exp(sequential.fail_log_e(state, sequential.grid(max_ratio)))


def pass_e(state: sequential.State, max_ratio: float = 2.0) -> float:
    return math.exp(sequential.pass_log_e(state, sequential.grid(max_ratio)))


# --- the grid -----------------------------------------------------------------------------


@pytest.mark.parametrize("max_ratio", [1.0, 1.5, 2.0, 3.0, 64.0, 100.0])
def test_grid_holds_one_and_max_ratio(max_ratio: float) -> None:
    """The grid is sorted and indexes ρ = 1 and ρ = maxRatio."""
    g = sequential.grid(max_ratio)

    assert g.ratios[g.one] == 1.0
    assert g.ratios[g.max_ratio] == max_ratio
    assert list(g.ratios) == sorted(set(g.ratios))
    assert g.ratios[0] < 1 < g.ratios[-1] or max_ratio == 1.0


def test_empty_state_is_neutral() -> None:
    """Before any error both e-values are 1: no evidence either way."""
    state = after()

    assert fail_e(state) == pytest.approx(1.0)
    assert pass_e(state) == pytest.approx(1.0)


# --- increments without information -------------------------------------------------------

COUNTS = st.builds(
    lambda requests, errors: Counts(requests, min(requests, errors)),
    st.integers(0, 10_000),
    st.integers(0, 500),
)


@settings(max_examples=100, deadline=None)
@given(before=st.lists(st.tuples(COUNTS, COUNTS), max_size=5), canary=COUNTS, stable=COUNTS)
def test_increment_without_errors_leaves_likelihood_unchanged(
    before: list[tuple[Counts, Counts]], canary: Counts, stable: Counts
) -> None:
    """Requests without errors say nothing about the ratio; the counts still add up."""
    state = after(*before)
    g = sequential.grid(2.0)

    new = sequential.update(state, g, Counts(canary.requests, 0), Counts(stable.requests, 0))

    assert new.log_likelihood == state.log_likelihood
    assert new.canary.requests == state.canary.requests + canary.requests
    assert new.stable.requests == state.stable.requests + stable.requests


@settings(max_examples=100, deadline=None)
@given(
    before=st.lists(st.tuples(COUNTS, COUNTS), max_size=5), served=COUNTS, canary_only=st.booleans()
)
def test_one_sided_increment_leaves_likelihood_unchanged(
    before: list[tuple[Counts, Counts]], served: Counts, canary_only: bool
) -> None:
    """With all requests on one revision the split of errors carries no information."""
    state = after(*before)
    g = sequential.grid(2.0)
    canary, stable = (served, Counts(0, 0)) if canary_only else (Counts(0, 0), served)

    new = sequential.update(state, g, canary, stable)

    assert new.log_likelihood == state.log_likelihood
    assert new.canary == state.canary + canary
    assert new.stable == state.stable + stable


# --- clear-cut cases ----------------------------------------------------------------------


def test_clearly_bad_canary_fails_from_few_errors() -> None:
    """5 canary errors in 50 requests vs 1 stable error in 950 (5% share): e ≥ 100."""
    state = after((Counts(50, 5), Counts(950, 1)))

    assert fail_e(state) >= 100
    assert pass_e(state) < 1


def test_good_canary_sharing_an_incident_does_not_fail() -> None:
    """Errors split exactly by traffic share, however many, never look like a regression."""
    incident = [(Counts(100, 30), Counts(900, 270))] * 10

    state = after(*incident)

    assert fail_e(state) < 100
    assert fail_e(state) < 1
    assert pass_e(state) >= 100


def test_fail_e_value_grows_with_the_canary_share_of_errors() -> None:
    """More of the same errors on the canary is more evidence against it."""
    values = [fail_e(after((Counts(100, x), Counts(900, 10 - x)))) for x in range(11)]

    assert values == sorted(values)
    assert values[1] < 1 < values[-1]


# --- Ville's bound ------------------------------------------------------------------------

STREAMS, INCREMENTS, ALPHA = 2000, 40, 0.05


def rejection_rate(ratio: float, seed: int) -> float:
    """Share of simulated streams whose fail e-value ever reaches 1/ALPHA.

    Each stream has its own error intensity; each increment its own canary share (1–50%)
    and number of errors (Poisson), each error landing on the canary with probability
    θ(ratio, share) — the share itself when ratio is 1 ("no difference").
    """
    rng = np.random.default_rng(seed)
    g = sequential.grid(2.0)
    threshold = math.log(1 / ALPHA)
    rates = rng.uniform(0.2, 5.0, size=STREAMS)
    shares = rng.uniform(0.01, 0.5, size=(STREAMS, INCREMENTS))
    canary_requests = np.maximum(1, np.round(shares * 10_000)).astype(int)
    shares = canary_requests / 10_000
    theta = ratio * shares / (ratio * shares + 1 - shares)
    errors = rng.poisson(rates[:, None], size=(STREAMS, INCREMENTS))
    on_canary = rng.binomial(errors, theta)
    rejected = 0
    for i in range(STREAMS):
        state = sequential.State.empty(g)
        for j in range(INCREMENTS):
            x, m, n = int(on_canary[i, j]), int(errors[i, j]), int(canary_requests[i, j])
            state = sequential.update(state, g, Counts(n, x), Counts(10_000 - n, m - x))
            if sequential.fail_log_e(state, g) >= threshold:
                rejected += 1
                break
    return rejected / STREAMS


def test_false_rollbacks_bounded_by_alpha() -> None:
    """Under "no difference", P(the fail e-value ever reaches 1/alpha) ≤ alpha (Ville)."""
    assert rejection_rate(1.0, seed=20250101) <= ALPHA + 0.01


def test_regressions_are_detected() -> None:
    """The same streams with a canary 4× as error-prone are rolled back most of the time."""
    assert rejection_rate(4.0, seed=20250102) >= 0.8
