"""`decide` reuses its state machines: a reused machine decides exactly as a new one,
decisions in threads at once do not see each other, and a decision that raises
leaves nothing behind for the next one."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from rollout.api import policyspec
from rollout.api.release import Phase, PromoteRequest, ReleaseSpec, ReleaseStatus
from rollout.release import engine, observation, steps

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
POLICY = policyspec.RolloutPolicySpec.model_validate(
    {
        "steps": [
            {"setWeight": 10},
            {"pause": {"duration": "1m"}},
            {"setWeight": 50},
            {"pause": {}},
        ],
        "progressDeadline": "10m",
    }
)


def spec(**intent: object) -> ReleaseSpec:
    return ReleaseSpec(
        service="web",
        stable_revision="web-00001",
        canary_revision="web-00002",
        policy=POLICY,
        **intent,  # type: ignore[arg-type]
    )


def status(phase: Phase, step: int = 0, canary: int | None = None) -> ReleaseStatus:
    weights = steps.weights(canary) if canary is not None else None
    started = T0 if phase is not Phase.PENDING else None
    return ReleaseStatus(
        phase=phase, step_index=step, weights=weights, started_at=T0, step_started_at=started
    )


def observe(
    seconds: float, *, applied: int | None = None, ready: bool = True
) -> observation.Observation:
    weights = steps.weights(applied) if applied is not None else None
    return observation.Observation(
        now=T0 + timedelta(seconds=seconds), canary_ready=ready, applied=weights
    )


# Inputs that end in different phases, so a machine left in one would show in the next.
INPUTS: dict[str, tuple[ReleaseSpec, ReleaseStatus, observation.Observation]] = {
    "start": (spec(), status(Phase.PENDING), observe(2)),
    "still-pending": (spec(), status(Phase.PENDING), observe(2, ready=False)),
    "deadline": (spec(), status(Phase.PENDING), observe(601, ready=False)),
    "pause-step-over": (spec(), status(Phase.PROGRESSING, 1, 10), observe(61, applied=10)),
    "wait-for-promote": (spec(), status(Phase.PROGRESSING, 3, 50), observe(70, applied=50)),
    "promote": (
        spec(promote=PromoteRequest(requested_at=T0, from_step=3)),
        status(Phase.PAUSED, 3, 50),
        observe(80, applied=50),
    ),
    "abort": (spec(abort=True), status(Phase.PROGRESSING, 2, 50), observe(90, applied=50)),
    "succeed": (spec(), status(Phase.PROMOTING, 3, 100), observe(95, applied=100)),
}


def fresh(name: str) -> engine.Decision:
    """The decision on a machine built for it alone."""
    engine._IDLE.clear()
    return engine.decide(*INPUTS[name])


EXPECTED = {name: fresh(name) for name in INPUTS}


def test_inputs_end_in_different_phases() -> None:
    """The inputs cover several phases (else the tests below would prove little)."""
    assert len({d.status.phase for d in EXPECTED.values()}) >= 5


@pytest.mark.parametrize("name", list(INPUTS))
def test_a_reused_machine_decides_as_a_new_one(name: str) -> None:
    """After deciding every other input on the same machines, the decision is unchanged."""
    for other in INPUTS:
        engine.decide(*INPUTS[other])
    assert engine.decide(*INPUTS[name]) == EXPECTED[name]


def test_decisions_in_threads_at_once_do_not_see_each_other() -> None:
    """Eight threads deciding all inputs over and over get the sequential answers."""
    wrong: list[str] = []
    start = threading.Barrier(8)

    def work() -> None:
        start.wait()
        for _ in range(25):
            for name, args in INPUTS.items():
                if engine.decide(*args) != EXPECTED[name]:
                    wrong.append(name)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []
    assert all(driver.current is None for driver in engine._IDLE)
    assert len(engine._IDLE) <= 8 + 1  # one machine per decision at once, at most


def test_a_decision_that_raises_leaves_nothing_behind() -> None:
    """A condition that raises (a naive `now` against an aware start) fails that
    decision only; the machine it used decides the next input as a new one."""
    engine._IDLE.clear()
    naive = observation.Observation(now=datetime(2025, 1, 1, 12, 10), canary_ready=False)
    with pytest.raises(TypeError):
        engine.decide(spec(), status(Phase.PENDING), naive)
    assert [driver.current for driver in engine._IDLE] == [None]
    for name, args in INPUTS.items():
        assert engine.decide(*args) == EXPECTED[name]
