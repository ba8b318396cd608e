"""Scenario tests of issue 17's scaling: retired revisions go to 0 replicas after
scaleDownDelay (never before), `retry` of a scaled-down canary brings it back ready
before any traffic moves to it, and a canary under `canaryScale: {matchWeight: true}`
follows its weight, scaled up before each weight moves to it. The controller and
reconcilers on the memory store and platform, with a fake clock."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import pytest
from test_releases import bad_canary, phase, policy, release_out

from rollout.api import condition, revision
from rollout.api.release import Phase
from rollout.platforms import memory, ports
from rollout.release import commands


def rev(env: Any, name: str) -> revision.Revision:
    obj = env.store.get("Revision", "default", name)
    assert isinstance(obj, revision.Revision)
    return obj


def replicas(env: Any, name: str) -> int:
    return int(env.runtime.replicas_of("default", name))


def active_reason(env: Any, name: str) -> str | None:
    active = rev(env, name).status.active_condition()
    return active.reason if active is not None else None


def finished(env: Any, name: str) -> datetime:
    at = env.get_release(name).status.finished_at
    assert at is not None
    return at


def sized(data: dict[str, Any], min_replicas: int) -> dict[str, Any]:
    data["spec"]["scaling"] = {"minReplicas": min_replicas}
    return data


class TestRetiredRevisions:
    def test_the_replaced_stable_goes_to_zero_after_the_delay_not_before(self, env):
        """After a promotion, the old stable keeps running for scaleDownDelay, then 0:
        Active False ScaledToZero, Ready kept, the Service Ready."""
        name = release_out(env, scaleDownDelay="20s")
        env.until(lambda: phase(env, name) is Phase.SUCCEEDED, within=600)
        end = finished(env, name)
        assert active_reason(env, "web-00001") == "Reserve"
        env.advance(20 - (env.clock.now() - end).total_seconds() - 0.5)
        assert replicas(env, "web-00001") == 1  # 0.5 s before its time: still running
        env.advance(0.5)
        assert replicas(env, "web-00001") == 0
        old = rev(env, "web-00001")
        assert old.status.desired_replicas == 0
        assert old.status.replicas == 0
        assert active_reason(env, "web-00001") == "ScaledToZero"
        assert old.status.ready  # healthy, scaled down by decision: not a failure
        assert "ScaledToZero" in env.events.reasons("web-00001")
        assert replicas(env, "web-00002") == 1
        svc = env.get_service()
        assert condition.is_true(svc.status.conditions, "Ready")
        assert env.split() == {"web-00002": 100}

    def test_a_rolled_back_canary_goes_to_zero_and_the_service_stays_ready(self, env):
        env.metrics.script = bad_canary
        name = release_out(env, scaleDownDelay="10s")
        env.until(lambda: phase(env, name) is Phase.ROLLED_BACK, within=120)
        env.until(lambda: replicas(env, "web-00002") == 0, within=11)
        assert replicas(env, "web-00001") == 1
        svc = env.get_service()
        assert svc.status.latest_created_revision == "web-00002"
        assert condition.is_true(svc.status.conditions, "Ready")
        assert condition.is_true(svc.status.conditions, "RevisionsReady")

    @pytest.mark.parametrize(
        ("service_delay", "policy_delay", "seconds"),
        [
            pytest.param(None, None, 30, id="default-30s"),
            pytest.param(None, "45s", 45, id="policy"),
            pytest.param("5s", "45s", 5, id="service-wins"),
        ],
    )
    def test_the_delay_in_force(self, env, service_delay, policy_delay, seconds):
        """The Service's scaleDownDelay wins over the policy's; 30 s without either."""
        data = policy()
        if policy_delay is not None:
            data["spec"]["scaleDownDelay"] = policy_delay
        env.apply(data)
        spec = {"scaleDownDelay": service_delay} if service_delay else {}
        env.apply(env.service(policy="test", **spec))
        env.until(lambda: env.split() == {"web-00001": 100}, within=30)
        env.apply(env.service(version="v2", policy="test", **spec))
        env.until(lambda: env.releases(), within=10)
        name = env.releases()[0].metadata.name
        env.until(lambda: phase(env, name) is Phase.SUCCEEDED, within=600)
        end = finished(env, name)
        env.until(lambda: replicas(env, "web-00001") == 0, within=seconds + 1, step=0.25)
        assert env.clock.now() - end == pytest.approx(
            timedelta(seconds=seconds), abs=timedelta(seconds=0.26)
        )

    def test_the_decision_is_persisted_before_the_runtime_acts(self, env):
        """When the runtime is asked for 0 replicas, the stored revision already says it
        is scaled to zero: a release reading it meanwhile never takes it as serving."""
        seen: list[tuple[int, bool]] = []
        ensure = env.runtime.ensure

        def spy(r: revision.Revision, *, replicas: int) -> ports.RuntimeState:
            if replicas == 0:
                stored = rev(env, r.metadata.name)
                seen.append((stored.status.desired_replicas or 0, stored.status.serving()))
            return ensure(r, replicas=replicas)

        env.runtime.ensure = spy
        name = release_out(env, scaleDownDelay="5s")
        env.until(lambda: phase(env, name) is Phase.SUCCEEDED, within=600)
        env.until(lambda: replicas(env, "web-00001") == 0, within=6)
        assert seen
        assert all(s == (0, False) for s in seen)


class TestRetry:
    def rolled_back(self, env: Any, delay: str) -> str:
        env.metrics.script = bad_canary
        name = release_out(env, scaleDownDelay=delay)
        env.until(lambda: phase(env, name) is Phase.ROLLED_BACK, within=120)
        env.metrics.script = memory.healthy
        return name

    def retry(self, env: Any, name: str) -> str:
        spec = commands.retry(env.get_release(name), now=env.clock.now(), by="t")
        env.patch_release(name, retry=spec.retry)
        env.until(lambda: len(env.releases()) == 2, within=10)
        return f"{name}-2"

    def test_retry_of_a_scaled_down_canary_brings_it_back_before_any_traffic(self, env):
        """The canary, at 0 after its rollback, is scaled up by the retry; no weight goes
        to it before its replicas are ready; then the release runs as usual."""
        name = self.rolled_back(env, "5s")
        env.until(lambda: replicas(env, "web-00002") == 0, within=6)
        env.runtime.ready_after = timedelta(seconds=15)  # a slow start shows the wait
        asked = env.clock.now()
        again = self.retry(env, name)
        env.advance(10)
        assert replicas(env, "web-00002") == 1  # asked again …
        assert active_reason(env, "web-00002") == "Activating"
        assert phase(env, again) is Phase.PENDING  # … and waited for
        assert env.split() == {"web-00001": 100}
        env.until(lambda: phase(env, again) is Phase.SUCCEEDED, within=600)
        up = next(
            at
            for at, key, n in env.runtime.scale_log
            if key == ("default", "web-00002") and n > 0 and at >= asked
        )
        first_weight = min(
            at for at, svc, split in env.router.history
            if at >= asked and dict(split).get("web-00002", 0) > 0
        )  # fmt: skip
        assert first_weight >= up + env.runtime.ready_after
        assert "Activating" in env.events.reasons("web-00002")
        assert env.split() == {"web-00002": 100}

    def test_retry_within_the_delay_keeps_the_canary_running(self, env):
        """Marked active again before its time: never scaled down."""
        name = self.rolled_back(env, "30s")
        env.advance(10)
        again = self.retry(env, name)
        env.until(lambda: phase(env, again) is Phase.SUCCEEDED, within=600)
        stops = [n for _, key, n in env.runtime.scale_log if key == ("default", "web-00002")]
        assert 0 not in stops


def matched_policy(steps: list[dict[str, Any]]) -> dict[str, Any]:
    data = policy(steps=steps)
    data["spec"].pop("analysis")
    data["spec"]["canaryScale"] = {"matchWeight": True, "minReplicas": 1}
    return data


STEPPED: list[dict[str, Any]] = [
    {"setWeight": 5},
    {"pause": {"duration": "10s"}},
    {"setWeight": 25},
    {"pause": {"duration": "10s"}},
    {"setWeight": 50},
    {"pause": {"duration": "10s"}},
]


class TestCanaryScale:
    def test_the_canary_follows_its_weight_and_is_scaled_before_traffic_moves(self, env):
        """On a 10-replica service: 1 canary replica at 5%, 3 at 25%, 5 at 50%, 10 before
        it takes 100%; every split the router applies is within what the canary's ready
        replicas serve; the old stable keeps its 10 until the release ended."""
        env.runtime.ready_after = timedelta(seconds=4)
        applied: list[tuple[int, int, int]] = []  # (canary %, canary ready, stable asked)
        apply = env.router.apply

        def spy(rt):
            canary = sum(t.percent for t in rt.spec.traffic if t.revision_name == "web-00002")
            ready = env.runtime.ready_replicas_of("default", "web-00002")
            applied.append((canary, ready, replicas(env, "web-00001")))
            return apply(rt)

        env.router.apply = spy
        env.apply(matched_policy(STEPPED))
        env.apply(sized(env.service(policy="test", scaleDownDelay="10s"), 10))
        env.until(lambda: env.split() == {"web-00001": 100}, within=30)
        env.apply(sized(env.service(version="v2", policy="test", scaleDownDelay="10s"), 10))
        env.until(lambda: env.releases(), within=10)
        name = env.releases()[0].metadata.name
        env.until(lambda: phase(env, name) is Phase.SUCCEEDED, within=600)
        asked = [n for _, key, n in env.runtime.scale_log if key == ("default", "web-00002")]
        assert asked == [1, 3, 5, 10]
        for canary, ready, stable in applied:
            assert canary * 10 <= ready * 100, applied  # capacity never below need
            assert stable == 10, applied  # the stable keeps its size during the release
        weights = [c for c, _, _ in applied]
        assert {5, 25, 50, 100} <= set(weights)
        assert weights == sorted(weights)
        env.until(lambda: replicas(env, "web-00001") == 0, within=11)
        assert replicas(env, "web-00002") == 10
        marks = rev(env, "web-00002").metadata.annotations
        assert "rollout.dev/canary-replicas" not in marks  # stable now: its own size

    def test_the_release_waits_at_a_weight_until_the_canary_can_serve_it(self, env):
        """The step's weight reaches the Route only once enough replicas are ready."""
        env.runtime.ready_after = timedelta(seconds=30)
        env.apply(matched_policy([{"setWeight": 5}, {"setWeight": 50}]))
        env.apply(sized(env.service(policy="test"), 4))
        env.until(lambda: env.split() == {"web-00001": 100}, within=60)
        env.apply(sized(env.service(version="v2", policy="test"), 4))
        env.until(lambda: env.releases(), within=10)
        name = env.releases()[0].metadata.name
        env.until(lambda: env.split().get("web-00002") == 5, within=60)
        # 50% asks for 2 of 4 replicas: the weight waits for the second one
        env.until(lambda: replicas(env, "web-00002") == 2, within=10)
        grown = env.clock.now()
        env.advance(29)
        assert env.split() == {"web-00001": 95, "web-00002": 5}
        assert env.get_release(name).status.weights.canary == 50
        env.until(lambda: env.split().get("web-00002") == 50, within=5)
        assert env.clock.now() - grown >= timedelta(seconds=30)
        env.until(lambda: phase(env, name) is Phase.SUCCEEDED, within=120)
        assert math.isclose(replicas(env, "web-00002"), 4)
