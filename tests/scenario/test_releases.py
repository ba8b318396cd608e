"""Scenario tests: the controller, reconcilers and engine on the memory store and
platform, with a fake clock. One test per behaviour of the core-reconciler issue."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from rollout.analysis import measurement
from rollout.api import condition, policyspec
from rollout.api.release import Phase
from rollout.platforms import memory
from rollout.release import commands

STEPS = [
    {"setWeight": 20},
    {"analysis": {"duration": "1m"}},
    {"setWeight": 50},
    {"analysis": {"duration": "1m"}},
]
ANALYSIS = {
    "interval": "10s",
    "failureLimit": 0,
    "inconclusiveLimit": 3,
    "metrics": [
        {
            "name": "errors-vs-stable",
            "provider": {"local": {"stat": "errors"}},
            "compare": {"against": "stable", "method": "sequential", "alpha": 0.01},
        },
        {
            "name": "error-rate",
            "provider": {"local": {"stat": "error_rate"}},
            "thresholds": {"max": 0.05},
            "minSamples": 50,
        },
    ],
}


def policy(name: str = "test", steps: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "rollout.dev/v1alpha1",
        "kind": "RolloutPolicy",
        "metadata": {"name": name},
        "spec": {"steps": steps or STEPS, "analysis": ANALYSIS, "progressDeadline": "5m"},
    }


def bad_canary(
    metric: policyspec.Metric, ctx: measurement.MeasureContext
) -> measurement.Measurement:
    """The canary fails 30% of its requests; the stable none."""
    if metric.compare is not None:
        return measurement.Measurement(
            metric=metric.name,
            at=ctx.now,
            until=ctx.now,
            canary=measurement.Counts(100, 30),
            stable=measurement.Counts(400, 0),
        )
    return measurement.Measurement(metric=metric.name, at=ctx.now, value=0.3, samples=100)


def no_data(metric: policyspec.Metric, ctx: measurement.MeasureContext) -> measurement.Measurement:
    """The provider answers, but there is no traffic to judge."""
    if metric.compare is not None:
        return measurement.Measurement(
            metric=metric.name,
            at=ctx.now,
            until=ctx.now,
            canary=measurement.Counts(0, 0),
            stable=measurement.Counts(0, 0),
        )
    return measurement.Measurement(metric=metric.name, at=ctx.now, value=None, samples=0)


def deployed(env, **spec: Any) -> None:
    """web-00001 deployed and stable under the test policy (unless spec overrides)."""
    env.apply(policy())
    env.apply(env.service(**({"policy": "test"} | spec)))
    env.until(lambda: env.split() == {"web-00001": 100}, within=30)


def release_out(env, **spec: Any):
    """Deploy v1, then apply v2: the release web-00002 starts."""
    deployed(env, **spec)
    env.apply(env.service(version="v2", **({"policy": "test"} | spec)))
    env.until(lambda: env.releases(), within=10)
    return env.releases()[0].metadata.name


def phase(env, name: str) -> Phase:
    return env.get_release(name).status.phase


def canary_weight(env, name: str) -> int:
    weights = env.get_release(name).status.weights
    return weights.canary if weights else 0


class TestDeploys:
    def test_first_deploy_creates_revision_and_route_and_takes_all_traffic(self, env):
        """A new service gets revision -00001 and, once ready, 100% without a release."""
        env.apply(policy())
        env.apply(env.service(policy="test"))
        env.advance(0)
        assert env.revisions() == ["web-00001"]
        assert env.split() == {}  # not ready yet: no traffic moves
        env.until(lambda: env.split() == {"web-00001": 100}, within=10)
        svc = env.get_service()
        assert svc.status.stable_revision == "web-00001"
        assert svc.status.latest_ready_revision == "web-00001"
        assert condition.is_true(svc.status.conditions, "Ready")
        assert env.releases() == []
        assert "RevisionCreated" in env.events.reasons("web")

    def test_without_policy_a_new_revision_takes_all_traffic_once_ready(self, env):
        """Knative's immediate rollout: no release, traffic moves when v2 is ready."""
        env.apply(env.service())
        env.until(lambda: env.split() == {"web-00001": 100}, within=10)
        env.apply(env.service(version="v2"))
        env.advance(1)
        assert env.split() == {"web-00001": 100}  # v2 still starting
        env.until(lambda: env.split() == {"web-00002": 100}, within=10)
        assert env.releases() == []
        assert env.get_service().status.stable_revision == "web-00002"

    def test_manual_split_and_tag_are_applied_as_written(self, env):
        """spec.traffic is the manual path: percents and tags go to the router."""
        env.apply(env.service())
        env.until(lambda: env.split() == {"web-00001": 100}, within=10)
        env.apply(env.service(version="v2"))
        env.until(lambda: env.get_service().status.latest_ready_revision == "web-00002", within=10)
        manual = [
            {"revisionName": "web-00001", "percent": 70},
            {"revisionName": "web-00002", "percent": 30, "tag": "next"},
        ]
        env.apply(env.service(version="v2", traffic=manual))
        env.until(lambda: env.split() == {"web-00001": 70, "web-00002": 30}, within=10)
        tags = {t.tag: t.revision_name for t in env.get_service().status.traffic if t.tag}
        assert tags == {"next": "web-00002"}

    def test_manual_split_naming_a_missing_revision_is_reported(self, env):
        """A split naming a revision that does not exist leaves traffic alone and says so."""
        env.apply(env.service())
        env.until(lambda: env.split() == {"web-00001": 100}, within=10)
        manual = [{"revisionName": "web-00009", "percent": 100}]
        env.apply(env.service(traffic=manual))
        env.advance(5)
        assert env.split() == {"web-00001": 100}
        ready = condition.get_condition(env.get_service().status.conditions, "Ready")
        assert ready is not None
        assert ready.reason == "RevisionMissing"
        assert "web-00009" in ready.message


class TestCanary:
    def test_healthy_canary_goes_step_by_step_to_100(self, env):
        """20% → 50% → 100%, each weight applied before the next, then Succeeded."""
        name = release_out(env)
        env.until(lambda: phase(env, name) is Phase.SUCCEEDED, within=600)
        seen = [dict(h[2]) for h in env.router.history if h[1] == "web"]
        canary = [s.get("web-00002", 0) for s in seen]
        assert canary == sorted(canary)  # never backwards
        assert {20, 50, 100} <= set(canary)
        assert env.split() == {"web-00002": 100}
        svc = env.get_service()
        assert svc.status.stable_revision == "web-00002"
        assert svc.status.current_release == name

    def test_bad_canary_is_rolled_back_by_analysis(self, env):
        """A failing comparison rolls back: all traffic on the stable at once."""
        env.metrics.script = bad_canary
        name = release_out(env)
        env.until(lambda: phase(env, name) is Phase.ROLLED_BACK, within=120)
        assert env.split() == {"web-00001": 100}
        rel = env.get_release(name)
        assert rel.status.weights is not None
        assert rel.status.weights.canary == 0
        assert any(m.verdict == "Failed" for m in rel.status.analysis)
        assert env.get_service().status.stable_revision == "web-00001"
        env.advance(60)  # no new release for the same canary
        assert [r.metadata.name for r in env.releases()] == [name]

    def test_inconclusive_data_pauses_instead_of_rolling_back(self, env):
        """No traffic to judge: after inconclusiveLimit the release waits for a human."""
        env.metrics.script = no_data
        name = release_out(env)
        env.until(lambda: phase(env, name) is Phase.PAUSED, within=300)
        rel = env.get_release(name)
        assert rel.status.pause_reason == "inconclusive"
        assert canary_weight(env, name) == 20  # held, not rolled back
        env.advance(120)
        assert phase(env, name) is Phase.PAUSED

    def test_new_revision_supersedes_running_release(self, env):
        """v3 while v2 is released: v2's traffic goes back, then a release to v3 starts."""
        name = release_out(env)
        env.until(lambda: canary_weight(env, name) == 20, within=30)
        env.apply(env.service(policy="test", version="v3"))
        env.until(lambda: phase(env, name) is Phase.SUPERSEDED, within=30)
        env.until(lambda: len(env.releases()) == 2, within=30)
        second = next(r for r in env.releases() if r.metadata.name != name)
        assert second.spec.stable_revision == "web-00001"
        assert second.spec.canary_revision == "web-00003"
        env.until(lambda: phase(env, second.metadata.name) is Phase.SUCCEEDED, within=600)
        assert env.split() == {"web-00003": 100}

    def test_canary_never_ready_fails_at_the_deadline(self, env):
        """A canary that never passes its probe: Failed after progressDeadline, no traffic."""
        deployed(env)
        env.runtime.never_ready.add("web-00002")
        env.apply(env.service(policy="test", version="v2"))
        env.until(lambda: env.releases(), within=10)
        name = env.releases()[0].metadata.name
        env.until(lambda: phase(env, name) is Phase.FAILED, within=400)
        assert env.split() == {"web-00001": 100}
        rev = env.store.get("Revision", "default", "web-00002")
        ready = condition.get_condition(rev.status.conditions, "Ready")
        assert ready is not None
        assert ready.status is condition.ConditionStatus.UNKNOWN or ready.reason in (
            "ProbeFailing",
            "ProgressDeadlineExceeded",
        )

    def test_a_canary_getting_ready_wakes_its_release_without_polls(self, env):
        """A release waiting 30 s for its canary is decided when the canary gets ready,
        not every 2 s meanwhile; it then moves the first step's weight at once."""
        deployed(env)
        env.runtime.ready_after = timedelta(seconds=30)
        env.apply(env.service(policy="test", version="v2"))
        env.until(lambda: env.releases(), within=10)
        name = env.releases()[0].metadata.name
        registry = env.controller.metrics.registry

        def decisions() -> float:
            return registry.get_sample_value("rollout_reconciles_total", {"kind": "Release"})

        before = decisions()
        waited = env.until(lambda: canary_weight(env, name) == 20, within=60, step=0.5)
        assert 29 <= waited <= 31
        # woken by the canary's readiness, then by the split applied (before: 15 polls)
        assert decisions() - before <= 3

    def test_readiness_deadline_without_policy_keeps_old_revision(self, env):
        """No policy: a revision not ready within progressDeadline is marked and gets nothing."""
        env.apply(env.service(progressDeadline="30s"))
        env.until(lambda: env.split() == {"web-00001": 100}, within=10)
        env.runtime.never_ready.add("web-00002")
        env.apply(env.service(version="v2", progressDeadline="30s"))
        env.advance(40)
        rev = env.store.get("Revision", "default", "web-00002")
        ready = condition.get_condition(rev.status.conditions, "Ready")
        assert ready is not None
        assert ready.reason == "ProgressDeadlineExceeded"
        assert env.split() == {"web-00001": 100}
        svc_ready = condition.get_condition(env.get_service().status.conditions, "RevisionsReady")
        assert svc_ready is not None
        assert svc_ready.reason == "ProgressDeadlineExceeded"


class TestCommands:
    def test_pause_holds_and_resume_continues(self, env):
        name = release_out(env)
        env.until(lambda: canary_weight(env, name) == 20, within=30)
        env.write_spec(name, commands.pause(env.get_release(name)))
        env.advance(1)
        assert phase(env, name) is Phase.PAUSED
        env.advance(300)
        assert phase(env, name) is Phase.PAUSED
        assert canary_weight(env, name) == 20
        spec = commands.resume(env.get_release(name), now=env.clock.now(), by="tester")
        env.write_spec(name, spec)
        env.until(lambda: phase(env, name) is Phase.SUCCEEDED, within=600)

    def test_promote_twice_from_the_same_step_advances_exactly_one_step(self, env):
        """Two promotes computed from the same status: one step, never two."""
        gate = [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}]
        env.apply(policy("gated", gate))
        env.apply(env.service(policy="gated"))
        env.until(lambda: env.split() == {"web-00001": 100}, within=10)
        env.apply(env.service(policy="gated", version="v2"))
        env.until(lambda: env.releases(), within=10)
        name = env.releases()[0].metadata.name
        env.until(lambda: phase(env, name) is Phase.PAUSED, within=30)
        seen = env.get_release(name)
        step = seen.status.step_index
        first = commands.promote(seen, full=False, now=env.clock.now(), by="a")
        env.patch_release(name, promote=first.promote)
        env.advance(1)
        env.clock.advance(timedelta(seconds=1))
        second = commands.promote(seen, full=False, now=env.clock.now(), by="b")
        env.patch_release(name, promote=second.promote)
        env.advance(30)
        rel = env.get_release(name)
        assert rel.status.step_index == step + 2  # setWeight 50 done, waiting at the next pause
        assert canary_weight(env, name) == 50
        assert phase(env, name) is Phase.PAUSED
        assert any(h.event == "PromoteIgnored" for h in rel.status.history)

    def test_promote_full_goes_to_100_at_once(self, env):
        name = release_out(env)
        env.until(lambda: canary_weight(env, name) == 20, within=30)
        spec = commands.promote(env.get_release(name), full=True, now=env.clock.now(), by="t")
        env.patch_release(name, promote=spec.promote)
        env.until(lambda: phase(env, name) is Phase.SUCCEEDED, within=30)
        assert env.split() == {"web-00002": 100}
        assert any(h.by == "t" for h in env.get_release(name).status.history)

    def test_abort_puts_all_traffic_on_stable_at_once(self, env):
        name = release_out(env)
        env.until(lambda: canary_weight(env, name) == 20, within=30)
        env.patch_release(name, abort=commands.abort(env.get_release(name)).abort)
        env.advance(3)
        assert env.split() == {"web-00001": 100}
        assert phase(env, name) is Phase.ABORTED
        with pytest.raises(commands.AlreadyDone, match="already aborted"):
            commands.abort(env.get_release(name))

    def test_retry_after_rollback_runs_a_new_release(self, env):
        env.metrics.script = bad_canary
        name = release_out(env)
        env.until(lambda: phase(env, name) is Phase.ROLLED_BACK, within=120)
        env.metrics.script = memory.healthy
        spec = commands.retry(env.get_release(name), now=env.clock.now(), by="t")
        env.patch_release(name, retry=spec.retry)
        env.until(lambda: len(env.releases()) == 2, within=10)
        again = next(r for r in env.releases() if r.metadata.name != name)
        assert again.metadata.name == f"{name}-2"
        assert again.spec.canary_revision == "web-00002"
        env.until(lambda: phase(env, again.metadata.name) is Phase.SUCCEEDED, within=600)
        assert env.split() == {"web-00002": 100}

    def test_undo_releases_an_earlier_template(self, env):
        name = release_out(env)
        env.until(lambda: phase(env, name) is Phase.SUCCEEDED, within=600)
        svc = env.get_service()
        revs = [env.store.get("Revision", "default", n) for n in env.revisions()]
        spec = commands.undo(svc, revs, to_revision="web-00001")
        env.store.update(svc.model_copy(update={"spec": spec}))
        env.until(lambda: len(env.releases()) == 2, within=10)
        back = next(r for r in env.releases() if r.metadata.name != name)
        assert (back.spec.stable_revision, back.spec.canary_revision) == ("web-00002", "web-00003")
        env.until(lambda: phase(env, back.metadata.name) is Phase.SUCCEEDED, within=600)
        rev3 = env.store.get("Revision", "default", "web-00003")
        rev1 = env.store.get("Revision", "default", "web-00001")
        assert rev3.spec.template == rev1.spec.template
        assert env.split() == {"web-00003": 100}


class TestGarbageCollection:
    def test_old_revisions_beyond_the_limit_are_deleted(self, env):
        """Keep the stable, the latest and `revisionHistoryLimit` others; runtimes stop."""
        env.apply(env.service(revisionHistoryLimit=1))
        for i in range(1, 6):
            env.apply(env.service(version=f"v{i}", revisionHistoryLimit=1))
            env.until(lambda i=i: env.split() == {f"web-{i:05d}": 100}, within=10)
        env.advance(5)
        assert env.revisions() == ["web-00004", "web-00005"]
        assert ("default", "web-00001") in env.runtime.removed
        assert "RevisionCollected" in env.events.reasons("web")
