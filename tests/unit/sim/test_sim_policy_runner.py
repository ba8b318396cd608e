"""Our engine in the simulator: the ready policies decide as designed on clear cases."""

from __future__ import annotations

import functools
import pathlib

import pytest

from rollout.api import loader, policyspec, rolloutpolicy
from rollout.sim import harness, policy_runner, scenarios

ROOT = pathlib.Path(__file__).resolve().parents[3]


def _policy(name: str) -> policyspec.RolloutPolicySpec:
    parsed = loader.load_paths([ROOT / "policies" / f"{name}.yaml"])
    resource = parsed.documents[0].resource
    assert isinstance(resource, rolloutpolicy.RolloutPolicy)
    return resource.spec


def _run(policy: str, scenario: str, seeds: range) -> harness.Summary:
    make = functools.partial(policy_runner.PolicyRunner, _policy(policy))
    return harness.run_many(make, scenarios.SCENARIOS[scenario], seeds)


@pytest.mark.parametrize("policy", ["canary-standard", "canary-fast"])
def test_good_canary_is_promoted_within_the_planned_time(policy: str) -> None:
    """A healthy canary reaches 100% and is never rolled back."""
    summary = _run(policy, "good", range(8))
    assert summary.share(harness.Outcome.PROMOTED) == 1.0
    assert max(summary.times_to_promote()) < 15 * 60


@pytest.mark.parametrize("policy", ["canary-standard", "canary-fast"])
def test_broken_canary_is_rolled_back_within_a_minute_and_few_failures(policy: str) -> None:
    """A canary failing every request is caught at 1% weight, in about the scrape delay."""
    summary = _run(policy, "bad-100pct", range(8))
    assert summary.share(harness.Outcome.ROLLED_BACK) == 1.0
    assert max(summary.times_to_rollback()) < 120
    assert summary.failed_requests().mean() < 10


def test_incident_shared_by_both_revisions_is_not_a_regression() -> None:
    """3% errors on both revisions for five minutes: the comparison holds, no rollback."""
    summary = _run("canary-standard", "incident-good", range(8))
    assert summary.share(harness.Outcome.ROLLED_BACK) == 0.0


def test_slow_canary_is_caught_by_the_latency_comparison() -> None:
    """A canary 1.5× slower than stable fails the Mann-Whitney gate."""
    summary = _run("canary-standard", "latency-1.5x", range(4))
    assert summary.share(harness.Outcome.ROLLED_BACK) == 1.0


def test_policies_with_other_providers_are_refused() -> None:
    """Prometheus and web metrics cannot be simulated: check() says which and why."""
    spec = _policy("canary-standard").model_copy(deep=True)
    assert spec.analysis is not None
    spec.analysis.metrics[0].provider = policyspec.Provider(
        prometheus=policyspec.PrometheusProvider(address="http://127.0.0.1:9090", query="up")
    )
    assert policy_runner.check(spec) == [
        "metric 'errors-vs-stable' uses the prometheus provider; the simulator reads only"
        " `local` stats"
    ]
    assert policy_runner.check(_policy("canary-standard")) == []
