"""The controller's metrics: what a release decision leaves in the registry."""

from __future__ import annotations

from rollout.api.release import Phase, Verdict
from rollout.controller import metrics


def phases(m: metrics.ControllerMetrics, name: str) -> dict[str, float | None]:
    return {
        p.value: m.registry.get_sample_value(
            "rollout_release_phase", {"namespace": "default", "release": name, "phase": p.value}
        )
        for p in Phase
    }


def test_a_release_has_one_phase_at_1_and_every_other_at_0() -> None:
    """Each phase series exists from the first decision; only the current one is 1."""
    m = metrics.ControllerMetrics()
    m.release_decided("default", "web-00002", Phase.PENDING, 0, ())
    assert phases(m, "web-00002") == {p.value: float(p is Phase.PENDING) for p in Phase}
    for phase in (Phase.PROGRESSING, Phase.PROGRESSING, Phase.PAUSED, Phase.SUCCEEDED):
        m.release_decided("default", "web-00002", phase, 10, ())
        assert phases(m, "web-00002") == {p.value: float(p is phase) for p in Phase}


def test_releases_are_counted_apart() -> None:
    """Two releases: their own phase, canary weight and verdict counts."""
    m = metrics.ControllerMetrics()
    m.release_decided("default", "a-00002", Phase.PROGRESSING, 10, (Verdict.PASSED,))
    m.release_decided("default", "b-00002", Phase.PENDING, 0, ())
    m.release_decided("default", "a-00002", Phase.PROGRESSING, 50, (Verdict.PASSED,))
    assert phases(m, "a-00002")["Progressing"] == 1.0
    assert phases(m, "b-00002")["Progressing"] == 0.0

    def sample(name: str, **labels: str) -> float | None:
        return m.registry.get_sample_value(name, {"namespace": "default", **labels})

    assert sample("rollout_release_canary_weight", release="a-00002") == 50.0
    assert sample("rollout_release_canary_weight", release="b-00002") == 0.0
    assert sample("rollout_analysis_verdicts_total", release="a-00002", verdict="Passed") == 2.0


def test_reconciles_are_counted_by_kind() -> None:
    """of_kind hands out the same children; they count under the kind's label."""
    m = metrics.ControllerMetrics()
    assert m.of_kind("Route") is m.of_kind("Route")
    m.of_kind("Route").reconciles.inc()
    m.of_kind("Route").reconciles.inc()
    m.of_kind("Release").reconciles.inc()
    assert m.registry.get_sample_value("rollout_reconciles_total", {"kind": "Route"}) == 2.0
    assert m.registry.get_sample_value("rollout_reconciles_total", {"kind": "Release"}) == 1.0
