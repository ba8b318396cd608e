"""The progress deadline counts from the last progress (issue 19): a canary that was
ready and comes back within the deadline does not fail its release, however long ago
it was created; one that stays away past the deadline does, with a reason that says
for how long and why."""

from __future__ import annotations

from rollout.api import condition
from rollout.api.release import Phase
from rollout.reconcilers import base

GATED = [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}]


def waiting_for_promote(env) -> str:
    """web-00002 released under a policy that waits for `promote` at 20%."""
    env.apply(
        {
            "apiVersion": "rollout.dev/v1alpha1",
            "kind": "RolloutPolicy",
            "metadata": {"name": "gated"},
            "spec": {"steps": GATED, "progressDeadline": "30s"},
        }
    )
    env.apply(env.service(policy="gated", progressDeadline="30s"))
    env.until(lambda: env.split() == {"web-00001": 100}, within=10)
    env.apply(env.service(policy="gated", version="v2", progressDeadline="30s"))
    env.until(lambda: env.releases(), within=10)
    name = env.releases()[0].metadata.name
    env.until(lambda: env.get_release(name).status.phase is Phase.PAUSED, within=30)
    return name


def crash(env, revision: str) -> None:
    """The canary's process dies: not ready, and the runtime says so at once."""
    env.runtime.never_ready.add(revision)
    env.controller.wake(base.Key("Revision", "default", revision))


def back(env, revision: str) -> None:
    env.runtime.never_ready.discard(revision)
    env.controller.wake(base.Key("Revision", "default", revision))


def ready_condition(env, revision: str) -> condition.Condition:
    rev = env.store.get("Revision", "default", revision)
    ready = condition.get_condition(rev.status.conditions, "Ready")
    assert ready is not None
    return ready


class TestProgressDeadlineFromLastProgress:
    def test_a_canary_back_within_the_deadline_keeps_its_release(self, env):
        """Found: one kill -9 of a canary after creation + progressDeadline rolled the
        release back at once (ProgressDeadlineExceeded: not ready after 0:00:15)."""
        name = waiting_for_promote(env)
        env.advance(120)  # long past the revision's creation + 30 s
        crash(env, "web-00002")
        env.advance(1)
        assert ready_condition(env, "web-00002").status is condition.ConditionStatus.UNKNOWN
        back(env, "web-00002")
        env.advance(5)
        rel = env.get_release(name)
        assert rel.status.phase is Phase.PAUSED
        assert rel.status.pause_reason == "promotion"
        assert ready_condition(env, "web-00002").status is condition.ConditionStatus.TRUE
        assert env.split() == {"web-00001": 80, "web-00002": 20}

    def test_a_canary_away_past_the_deadline_fails_its_release_saying_for_how_long(self, env):
        """Not ready for the whole deadline since it was last ready: the release goes,
        and the reason names the deadline in words, not a timedelta."""
        name = waiting_for_promote(env)
        env.advance(120)
        crash(env, "web-00002")
        env.advance(20)
        assert env.get_release(name).status.phase is Phase.PAUSED  # 20 s < 30 s
        waited = env.until(
            lambda: env.get_release(name).status.phase is Phase.ROLLED_BACK, within=30
        )
        assert 8 <= waited <= 12  # 30 s after it stopped being ready, not at once
        failure = env.get_release(name).status.message
        assert "ProgressDeadlineExceeded: not ready for 30s" in failure
        assert "0:00:30" not in failure
