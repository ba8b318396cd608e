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


# --- the stable's history ------------------------------------------------------------------

HISTORY = Counts(36_000, 36)  # an hour at 10 req/s and 0.1% errors


def with_history(
    *increments: tuple[Counts, Counts], history: Counts | None = HISTORY
) -> sequential.State:
    g = sequential.grid(2.0)
    state = sequential.State.empty(g)
    for canary, stable in increments:
        state = sequential.update(state, g, canary, stable, history)
    return state


def decision_e(state: sequential.State) -> float:
    return math.exp(sequential.decision_log_e(state, sequential.grid(2.0)))


def test_without_history_the_decision_is_the_concurrent_test() -> None:
    """No `baseline`: the decision reads the concurrent e-value, as before."""
    state = with_history((Counts(100, 3), Counts(900, 1)), history=None)

    assert sequential.history_fail_log_e(state, sequential.grid(2.0)) is None
    assert decision_e(state) == pytest.approx(fail_e(state))


def test_history_is_kept_from_the_first_reading() -> None:
    """The baseline is read once; a later reading's baseline does not replace it."""
    g = sequential.grid(2.0)
    state = sequential.update(sequential.State.empty(g), g, Counts(10, 0), Counts(90, 0), HISTORY)
    state = sequential.update(state, g, Counts(10, 0), Counts(90, 0), Counts(99, 99))

    assert state.baseline == HISTORY


def test_history_makes_a_rare_canary_error_weigh_more() -> None:
    """1% errors at 25% weight: four errors prove it with the history, not without."""
    increments = [(Counts(100, 1), Counts(300, 1))] * 2 + [(Counts(100, 1), Counts(300, 0))] * 2
    state = with_history(*increments, (Counts(100, 0), Counts(300, 0)))  # confirms the last

    assert fail_e(state) < 50
    assert decision_e(state) >= 50


def test_history_needs_a_few_trusted_canary_errors() -> None:
    """Two canary errors in a few requests are not enough for the history comparison."""
    state = with_history((Counts(20, 2), Counts(500, 0)), (Counts(20, 0), Counts(500, 0)))
    g = sequential.grid(2.0)

    assert math.exp(sequential.history_fail_log_e(state, g) or 0.0) >= 50
    assert decision_e(state) == pytest.approx(math.exp(sequential.concurrent_log_e(state, g)))


def test_with_history_the_concurrent_comparison_counts_half_from_four_times_max_ratio() -> None:
    """With a history the concurrent e-value's alternatives are 8…64 (maxRatio 2), halved."""
    g = sequential.grid(2.0)
    state = with_history((Counts(20, 2), Counts(500, 0)))
    ll = state.log_likelihood
    wide = [math.exp(v - ll[g.one]) for r, v in zip(g.ratios, ll, strict=True) if r >= 8.0]

    assert math.exp(sequential.concurrent_log_e(state, g)) == pytest.approx(
        sum(wide) / len(wide) / 2
    )
    assert sequential.concurrent_log_e(state, g) < sequential.fail_log_e(state, g)


def test_without_history_the_concurrent_comparison_is_whole() -> None:
    g = sequential.grid(2.0)
    state = with_history((Counts(20, 2), Counts(500, 0)), history=None)

    assert sequential.concurrent_log_e(state, g) == sequential.fail_log_e(state, g)


def test_concurrent_alternatives_exist_for_a_large_max_ratio() -> None:
    """4 × maxRatio beyond the grid: the largest ratio is the alternative."""
    g = sequential.grid(32.0)
    state = sequential.update(sequential.State.empty(g), g, Counts(20, 5), Counts(500, 0), HISTORY)

    assert sequential.concurrent_log_e(state, g) == pytest.approx(
        state.log_likelihood[-1] - state.log_likelihood[g.one] - math.log(2.0)
    )


def test_canary_increment_waits_one_reading_for_the_guard() -> None:
    """An increment enters the history comparison once the next reading is quiet."""
    state = with_history((Counts(100, 1), Counts(300, 0)))

    assert state.pending == Counts(100, 1)
    assert state.trusted == Counts(0, 0)

    state = with_history((Counts(100, 1), Counts(300, 0)), (Counts(100, 0), Counts(300, 0)))

    assert state.trusted == Counts(100, 1)
    assert state.pending == Counts(100, 0)


def test_guard_drops_increments_when_the_stable_fails_more_than_in_its_history() -> None:
    """An incident on the stable: the pending and current canary increments stay out."""
    state = with_history(
        (Counts(100, 0), Counts(300, 0)),
        (Counts(100, 3), Counts(300, 0)),  # the canary fails first …
        (Counts(100, 3), Counts(300, 9)),  # … then the stable shows the incident
        (Counts(100, 3), Counts(300, 9)),
    )

    assert state.guard >= sequential.GUARD_LOG
    assert state.trusted == Counts(100, 0)
    assert state.pending == Counts(0, 0)
    assert decision_e(state) == pytest.approx(
        math.exp(sequential.concurrent_log_e(state, sequential.grid(2.0)))
    )


def test_guard_forgets_an_incident_that_is_over() -> None:
    """The CUSUM decays on quiet readings, and increments are trusted again."""
    quiet = (Counts(100, 0), Counts(900, 0))
    state = with_history((Counts(100, 0), Counts(900, 5)), *[quiet] * 30)

    assert state.guard == 0.0
    assert state.trusted.requests > 0


@settings(max_examples=100, deadline=None)
@given(
    canary=st.integers(1, 5_000),
    stable=st.integers(1, 50_000),
    stable_errors=st.integers(0, 50),
    history_errors=st.integers(0, 200),
)
def test_history_e_value_is_at_most_one_without_canary_errors(
    canary: int, stable: int, stable_errors: int, history_errors: int
) -> None:
    """No canary error is never evidence of a regression, whatever the history says."""
    state = sequential.State(
        sequential.State.empty(sequential.grid(2.0)).log_likelihood,
        Counts(canary, 0),
        Counts(stable, min(stable, stable_errors)),
        Counts(36_000, history_errors),
        trusted=Counts(canary, 0),
    )

    log_e = sequential.history_fail_log_e(state, sequential.grid(2.0))

    assert log_e is not None
    assert log_e <= 1e-12


# --- false rollbacks with the history ------------------------------------------------------

HISTORY_STREAMS = 2000


def history_rollbacks(*, incident: bool, seed: int) -> float:
    """Share of good canaries the decision rolls back, over a canary-standard-like ramp.

    The stable's history is an hour at 10 req/s and 0.1%; the release reads 10 s
    increments at 1% → 5% → 25% → 50% for 6 minutes. With `incident`, both revisions
    fail 3% for the last four minutes (a shared incident, the history unaware).
    """
    rng = np.random.default_rng(seed)
    weights = [0.01] * 3 + [0.05] * 6 + [0.25] * 15 + [0.5] * 12
    rates = [0.03 if incident and k >= 12 else 0.001 for k in range(len(weights))]
    g = sequential.grid(2.0)
    threshold = math.log(1 / ALPHA)
    rolled_back = 0
    for _ in range(HISTORY_STREAMS):
        history = Counts(36_000, int(rng.poisson(36)))
        state = sequential.State.empty(g)
        for weight, rate in zip(weights, rates, strict=True):
            n_canary = int(rng.poisson(100 * weight))
            n_stable = int(rng.poisson(100 * (1 - weight)))
            canary = Counts(n_canary, int(rng.binomial(n_canary, rate)))
            stable = Counts(n_stable, int(rng.binomial(n_stable, rate)))
            state = sequential.update(state, g, canary, stable, history)
            if sequential.decision_log_e(state, g) >= threshold:
                rolled_back += 1
                break
    return rolled_back / HISTORY_STREAMS


def test_false_rollbacks_with_history_bounded_by_twice_alpha() -> None:
    """Stationary stable: the decision (max of two e-values) rolls back ≤ 2α (union bound)."""
    assert history_rollbacks(incident=False, seed=11) <= 2 * ALPHA


def test_history_prior_spans_two_to_eight_times_max_ratio() -> None:
    """Five half-octave points from 2·maxRatio to 8·maxRatio, equal weights."""
    ratios, weights = sequential._history_prior(2.0)

    assert ratios == pytest.approx([4.0, 4 * 2**0.5, 8.0, 8 * 2**0.5, 16.0])
    assert weights == pytest.approx([0.2] * 5)


def test_shared_incident_does_not_roll_back_a_good_canary() -> None:
    """Both revisions at 3% from the second minute: the guard keeps the history out."""
    assert history_rollbacks(incident=True, seed=12) <= ALPHA


def test_a_pending_increment_waits_until_the_guard_has_seen_the_stable_again() -> None:
    """An increment in which the stable served nothing (no scrape since the last reading)
    tells the guard nothing: the pending canary increment is not trusted on it."""
    g = sequential.grid(2.0)
    history = measurement.Counts(36000, 36)
    first = measurement.Counts(50, 1)
    state = sequential.update(
        sequential.State.empty(g), g, first, measurement.Counts(500, 0), history
    )
    assert (state.trusted, state.pending) == (measurement.Counts(0, 0), first)
    empty = measurement.Counts(0, 0)
    state = sequential.update(state, g, empty, empty)
    assert (state.trusted, state.pending) == (measurement.Counts(0, 0), first)
    late = measurement.Counts(5, 0)  # canary requests counted where the stable had none
    state = sequential.update(state, g, late, empty)
    assert state.pending == first + late
    state = sequential.update(state, g, measurement.Counts(40, 0), measurement.Counts(400, 0))
    assert state.trusted == first + late
    assert state.pending == measurement.Counts(40, 0)
