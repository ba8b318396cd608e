"""One writer of `Route.spec` (the Service reconciler, fed by the release's weights),
and one data-plane apply per change: each step of a release reaches the router
once, and so does its end — the final split is not applied a second time when the
release hands the route back to its Service (it was: `{stable 0, canary 100}`, then
`{canary 100}`)."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from test_releases import bad_canary, phase, release_out

from rollout.analysis import measurement
from rollout.api import policyspec
from rollout.api.release import Phase
from rollout.platforms import memory
from rollout.reconcilers import base
from rollout.release import commands
from rollout.store import errors


@pytest.fixture
def route_writers(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The modules that create or update a Route, as the scenario runs."""
    writers: set[str] = set()
    for name in ("create", "update"):
        real = getattr(base, name)

        def spy(ctx: Any, obj: Any, real: Any = real) -> Any:
            if obj.kind == "Route":
                writers.add(sys._getframe(1).f_globals["__name__"])
            return real(ctx, obj)

        monkeypatch.setattr(base, name, spy)
    return writers


def changes(env: Any) -> list[dict[str, int]]:
    """Each split the data plane was given for `web`, in order (a change each)."""
    return [dict(h[2]) for h in env.router.history if h[1] == "web"]


def test_a_promoted_release_applies_each_step_and_its_end_once(
    env: Any, route_writers: set[str]
) -> None:
    name = release_out(env)
    env.until(lambda: phase(env, name) is Phase.SUCCEEDED, within=600)
    env.advance(60)
    assert changes(env) == [
        {},  # the Route is made with the Service, before its first revision is ready
        {"web-00001": 100},
        {"web-00001": 80, "web-00002": 20},
        {"web-00001": 50, "web-00002": 50},
        {"web-00002": 100},
    ]
    assert route_writers == {"rollout.reconcilers.service.reconcile"}


def test_a_rolled_back_release_applies_its_end_once(env: Any, route_writers: set[str]) -> None:
    def script(metric: policyspec.Metric, ctx: measurement.MeasureContext) -> Any:
        """Failing once it serves (as a real canary: no traffic, no errors)."""
        serving = env.router.weight_of("default", "web", "web-00002") > 0
        return (bad_canary if serving else memory.healthy)(metric, ctx)

    env.metrics.script = script
    name = release_out(env)
    env.until(lambda: phase(env, name) is Phase.ROLLED_BACK, within=120)
    env.advance(60)
    assert changes(env) == [
        {},  # the Route is made with the Service, before its first revision is ready
        {"web-00001": 100},
        {"web-00001": 80, "web-00002": 20},
        {"web-00001": 100},
    ]
    assert route_writers == {"rollout.reconcilers.service.reconcile"}


def test_an_abort_mid_release_applies_the_stable_split_once(
    env: Any, route_writers: set[str]
) -> None:
    name = release_out(env)
    env.until(lambda: phase(env, name) is Phase.PROGRESSING, within=30)
    env.patch_release(name, abort=commands.abort(env.get_release(name)).abort)
    env.until(lambda: phase(env, name) is Phase.ABORTED, within=30)
    env.advance(60)
    assert changes(env)[-2:] == [{"web-00001": 80, "web-00002": 20}, {"web-00001": 100}]
    assert route_writers == {"rollout.reconcilers.service.reconcile"}


def test_an_abort_reaches_the_data_plane_while_a_new_revision_cannot_be_created(
    env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Service writes the Route before it creates anything: a store that refuses the
    next revision (a quota, an admission webhook) does not hold up an abort."""
    name = release_out(env)
    env.until(lambda: env.split() == {"web-00001": 80, "web-00002": 20}, within=30)
    real = env.store.create

    def create(obj: Any) -> Any:
        if obj.kind == "Revision":
            raise errors.Invalid("admission webhook denied the request")
        return real(obj)

    monkeypatch.setattr(env.store, "create", create)
    env.apply(env.service(version="v3", policy="test"))  # a revision it cannot create
    env.patch_release(name, abort=commands.abort(env.get_release(name)).abort)
    env.until(lambda: env.split() == {"web-00001": 100}, within=10)
    assert env.revisions() == ["web-00001", "web-00002"]
