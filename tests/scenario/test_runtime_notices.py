"""What a runtime says about a revision besides readiness (its notices, such as the
local platform's IgnoredOnLocal) becomes a True condition of the Revision and one
warning Event, however many times the revision is reconciled."""

from __future__ import annotations

import dataclasses

from scenarioenv import Env

from rollout.api import condition, revision
from rollout.controller import manager
from rollout.platforms import memory, ports

NOTICE = ports.RevisionNotice(
    type="IgnoredOnLocal", reason="NotHonouredLocally", message="volumes, nodeSelector"
)


class Noting:
    """The memory runtime, with a notice on every revision."""

    def __init__(self, inner: memory.MemoryRuntime) -> None:
        self.inner = inner

    def ensure(self, rev: revision.Revision, *, replicas: int) -> ports.RuntimeState:
        return dataclasses.replace(self.inner.ensure(rev, replicas=replicas), notices=(NOTICE,))

    def remove(self, namespace: str, name: str) -> None:
        self.inner.remove(namespace, name)


def test_a_notice_is_a_condition_and_one_warning_event(env: Env) -> None:
    env.platform = dataclasses.replace(env.platform, runtime=Noting(env.runtime))
    env.controller = manager.Controller(env.store, env.platform, env.clock)
    assert env.controller.cache is not None
    env.controller.cache.guard = True  # as the harness has it: reconcilers share no object
    env.apply(env.service())
    env.advance(30)  # ready after 2 s, reconciled many times while starting
    rev = env.store.get("Revision", "default", "web-00001")
    assert isinstance(rev, revision.Revision)
    assert rev.status.ready
    found = condition.get_condition(rev.status.conditions, "IgnoredOnLocal")
    assert found is not None
    assert (found.status, found.reason, found.message) == (
        condition.ConditionStatus.TRUE,
        "NotHonouredLocally",
        "volumes, nodeSelector",
    )
    noticed = [e for e in env.events.events if e.reason == "IgnoredOnLocal"]
    assert [(e.name, e.message, e.warning) for e in noticed] == [
        ("web-00001", "volumes, nodeSelector", True)
    ]
