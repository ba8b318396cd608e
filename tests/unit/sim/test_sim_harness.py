"""Harness: the run loop, outcomes, blast-radius accounting and the JSON summary."""

from __future__ import annotations

import json

import pytest

from rollout.sim import harness, scenarios, world


class Scripted:
    """A runner that applies `plan` [(time, weight, outcome|None)] and nothing else."""

    def __init__(self, plan: list[tuple[float, float, harness.Outcome | None]]) -> None:
        self.plan = list(plan)
        self.weight = 0.0
        self.outcome: harness.Outcome | None = None
        self.seen: list[float] = []

    def start(self, world: world.World) -> None:
        self.seen.append(world.now)

    def next_decision_at(self) -> float:
        return self.plan[0][0] if self.plan else float("inf")

    def decide(self, world: world.World) -> None:
        self.seen.append(world.now)
        _, self.weight, self.outcome = self.plan.pop(0)


def _run(
    plan: list[tuple[float, float, harness.Outcome | None]], name: str = "bad-100pct", **kw: float
) -> harness.RunResult:
    return harness.run_one(lambda: Scripted(plan), scenarios.get(name), seed=11, **kw)  # type: ignore[arg-type]


def test_runner_that_promotes_at_once() -> None:
    """Promote at t=0: PROMOTED at 0 s, no canary traffic, no failed request."""
    result = _run([(0.0, 1.0, harness.Outcome.PROMOTED)])
    assert result.outcome is harness.Outcome.PROMOTED
    assert result.time_to_promote_s == 0.0
    assert result.time_to_rollback_s is None
    assert result.failed_requests == 0
    assert result.end_s == 0.0


def test_failed_requests_count_only_until_the_weight_reaches_zero() -> None:
    """100% at 0 s, rollback at 30 s: failed = the canary's 30 s of requests, then none."""
    plan: list[tuple[float, float, harness.Outcome | None]] = [
        (0.0, 1.0, None),
        (30.0, 0.0, harness.Outcome.ROLLED_BACK),
    ]
    result = _run(plan)
    reference = world.World(scenarios.get("bad-100pct"), seed=11)
    reference.advance(30.0, 1.0)
    reference.advance(600.0, 0.0)
    assert result.outcome is harness.Outcome.ROLLED_BACK
    assert result.time_to_rollback_s == 30.0
    assert result.failed_requests == reference.oracle_counts("canary", 0, 30)[1]
    assert result.failed_requests == reference.canary_failed > 200


def test_time_to_promote_is_when_the_weight_reached_full() -> None:
    """Weight 100% at 60 s, PROMOTED reported at 120 s: time to promote is 60 s."""
    plan: list[tuple[float, float, harness.Outcome | None]] = [
        (0.0, 0.1, None),
        (60.0, 1.0, None),
        (120.0, 1.0, harness.Outcome.PROMOTED),
    ]
    result = _run(plan, name="good")
    assert result.outcome is harness.Outcome.PROMOTED
    assert result.time_to_promote_s == 60.0
    assert result.end_s == 120.0


def test_horizon_makes_a_run_undecided() -> None:
    """A runner that never concludes is UNDECIDED at the horizon."""
    result = _run([(0.0, 0.05, None), (7200.0, 0.0, None)], horizon=600.0)
    assert result.outcome is harness.Outcome.UNDECIDED
    assert result.end_s == 600.0
    assert result.time_to_promote_s is None
    assert result.time_to_rollback_s is None
    assert result.failed_requests > 0  # bad-100pct at 5% for the whole horizon


def test_world_advances_to_each_decision_time() -> None:
    """decide() is called with the world clock at the requested times."""
    runner = Scripted(
        [
            (0.0, 0.1, None),
            (42.0, 0.2, None),
            (42.0, 0.3, None),
            (90.0, 0.0, harness.Outcome.PAUSED),
        ]
    )
    result = harness.run_one(lambda: runner, scenarios.get("good"), seed=1)
    assert runner.seen == [0.0, 0.0, 42.0, 42.0, 90.0]
    assert result.outcome is harness.Outcome.PAUSED


def test_decision_in_the_past_is_an_error() -> None:
    """A runner asking to decide before now is a bug, reported loudly."""
    with pytest.raises(ValueError, match="before now"):
        _run([(10.0, 0.1, None), (5.0, 0.1, None)])


def test_runner_stuck_at_one_instant_is_an_error() -> None:
    """A runner deciding forever at the same time cannot hang the harness."""
    plan: list[tuple[float, float, harness.Outcome | None]] = [(5.0, 0.1, None)] * 2000
    with pytest.raises(RuntimeError, match="keeps deciding"):
        _run(plan)


# -- run_many and the JSON summary ---------------------------------------------------------


def _rollback_at(t: float) -> harness.Runner:
    return Scripted([(0.0, 0.5, None), (t, 0.0, harness.Outcome.ROLLED_BACK)])


def test_run_many_is_reproducible_per_seed() -> None:
    """Same seeds, same results; a fresh runner per seed."""
    a = harness.run_many(lambda: _rollback_at(60.0), scenarios.get("bad-5pct"), range(5))
    b = harness.run_many(lambda: _rollback_at(60.0), scenarios.get("bad-5pct"), range(5))
    assert a == b
    assert a.runs == 5
    assert len({r.failed_requests for r in a.results}) > 1


def test_summary_dict_has_exactly_the_issue_fields() -> None:
    """The JSON object of issue 3 item 5, serialisable, with shares and stats."""
    summary = harness.run_many(lambda: _rollback_at(60.0), scenarios.get("bad-5pct"), range(20))
    d = harness.summary_dict("test", scenarios.get("bad-5pct"), 20, 10.0, 0.001, summary)
    assert list(d) == [
        "policy",
        "scenario",
        "seeds",
        "rps",
        "p0",
        "detection",
        "promoted",
        "rolledBack",
        "paused",
        "failedRequests",
        "timeToRollbackS",
        "timeToPromoteS",
        "falseRollback",
    ]
    assert list(d["failedRequests"]) == ["mean", "p50", "p95"]
    assert list(d["timeToRollbackS"]) == ["mean", "p95"]
    assert (d["policy"], d["scenario"], d["seeds"], d["rps"], d["p0"]) == (
        "test",
        "bad-5pct",
        20,
        10.0,
        0.001,
    )
    assert (d["detection"], d["rolledBack"], d["falseRollback"]) == (1.0, 1.0, None)
    assert (d["promoted"], d["paused"]) == (0.0, 0.0)
    assert d["timeToRollbackS"] == {"mean": 60.0, "p95": 60.0}
    assert d["timeToPromoteS"] == {"mean": None, "p95": None}
    failed = [r.failed_requests for r in summary.results]
    assert d["failedRequests"]["mean"] == pytest.approx(sum(failed) / len(failed))
    json.dumps(d)


def test_good_scenario_scores_false_rollbacks_not_detection() -> None:
    """On a good canary a rollback is a false rollback; detection is null."""

    def make() -> harness.Runner:
        return Scripted([(0.0, 0.5, None), (60.0, 1.0, harness.Outcome.PROMOTED)])

    promoted = harness.run_many(make, scenarios.get("good"), range(4))
    d = harness.summary_dict("p", scenarios.get("good"), 4, 10.0, 0.001, promoted)
    assert d["detection"] is None
    assert d["falseRollback"] == 0.0
    assert d["promoted"] == 1.0
    assert d["timeToPromoteS"] == {"mean": 60.0, "p95": 60.0}
    assert d["timeToRollbackS"] == {"mean": None, "p95": None}

    rolled = harness.run_many(lambda: _rollback_at(30.0), scenarios.get("good"), range(4))
    d = harness.summary_dict("r", scenarios.get("good"), 4, 10.0, 0.001, rolled)
    assert d["falseRollback"] == 1.0


def test_shares_split_mixed_outcomes() -> None:
    """Shares count each outcome over all runs."""
    runners = iter(
        [
            Scripted([(0.0, 0.0, harness.Outcome.PAUSED)]),
            Scripted([(0.0, 1.0, harness.Outcome.PROMOTED)]),
            Scripted([(0.0, 0.0, harness.Outcome.ROLLED_BACK)]),
            Scripted([(0.0, 0.0, harness.Outcome.ROLLED_BACK)]),
        ]
    )
    summary = harness.run_many(lambda: next(runners), scenarios.get("bad-1pct"), range(4))
    assert summary.share(harness.Outcome.PAUSED) == 0.25
    assert summary.share(harness.Outcome.PROMOTED) == 0.25
    assert summary.share(harness.Outcome.ROLLED_BACK) == 0.5
    assert summary.share(harness.Outcome.UNDECIDED) == 0.0
