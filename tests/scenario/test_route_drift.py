"""A router that finds its data plane changed by someone else restores it and says
so: the Route's `status.lastDrift` records when and what, and a `DriftCorrected`
warning event is recorded on the Route."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from rollout.api import route
from rollout.platforms import ports


def test_a_restored_split_is_recorded_in_the_route_status_and_an_event(
    env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    env.apply(env.service())
    env.until(lambda: env.split() == {"web-00001": 100}, within=10)
    real_apply = env.router.apply
    drift = "httproutes/web was changed outside rollout (it routed web-00001=10%); restored"

    def drifting(rt: route.Route) -> ports.AppliedRoute:
        return dataclasses.replace(real_apply(rt), drift=drift)

    monkeypatch.setattr(env.router, "apply", drifting)
    env.advance(5 * 60 + 1)  # the Route's resync
    rt = env.store.get("Route", "default", "web")
    assert isinstance(rt, route.Route)
    assert rt.status.last_drift is not None
    assert rt.status.last_drift.message == drift
    assert rt.status.last_drift.corrected_at <= env.clock.now()
    assert "DriftCorrected" in env.events.reasons("web")
