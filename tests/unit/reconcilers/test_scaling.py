"""The scaling decisions (`rollout.reconcilers.scaling`): routing states, marks, the
replicas a revision is asked for over time, a canary's count for its weight, the
capacity of its ready replicas, and the weight the Route may carry — tables, then
properties (hypothesis): capacity is never below need, and a retired revision never
reaches 0 before its scaleDownDelay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollout.api import meta, names, policyspec, revision, rolloutpolicy, service, split
from rollout.api.revision import RoutingState
from rollout.reconcilers import scaling

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ACTIVE, RESERVE = RoutingState.ACTIVE, RoutingState.RESERVE


def rev(
    name: str = "web-00001",
    *,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    min_replicas: int | None = None,
    replicas: int = 0,
) -> revision.Revision:
    template: dict[str, Any] = {"spec": {"containers": [{"name": "app", "command": ["app"]}]}}
    scaling = {"minReplicas": min_replicas} if min_replicas is not None else None
    return revision.Revision.model_validate(
        {
            "metadata": {
                "name": name,
                "namespace": "prod",
                "labels": {names.SERVICE_LABEL: "web", **(labels or {})},
                "annotations": annotations or {},
            },
            "spec": {"service": "web", "template": template, "scaling": scaling},
            "status": {"replicas": replicas},
        }
    )


def marked(
    state: RoutingState, since: datetime, delay: str = "30s", **kw: Any
) -> revision.Revision:
    annotations = {names.ROUTING_STATE_MODIFIED_ANNOTATION: scaling.format_time(since)}
    if state is RESERVE:
        annotations[names.SCALE_DOWN_DELAY_ANNOTATION] = delay
    annotations.update(kw.pop("annotations", {}))
    return rev(labels={names.ROUTING_STATE_LABEL: state.value}, annotations=annotations, **kw)


# --- which revisions are active ---------------------------------------------------------


def target(name: str, percent: int, tag: str | None = None) -> split.TrafficTarget:
    return split.TrafficTarget(revision_name=name, percent=percent, tag=tag)


@pytest.mark.parametrize(
    ("kwargs", "active"),
    [
        pytest.param(
            {"stable": "a", "routed": [target("a", 100)], "running": (), "pending": None},
            {"a"},
            id="steady-state-only-the-stable",
        ),
        pytest.param(
            {"stable": "a", "routed": [target("a", 100)], "running": ("a", "c"), "pending": "c"},
            {"a", "c"},
            id="running-release-names-both-before-any-weight",
        ),
        pytest.param(
            {"stable": "a", "routed": [target("a", 100), target("c", 0, "canary")],
             "running": (), "pending": None},
            {"a", "c"},
            id="tagged-at-zero-is-reachable-so-active",
        ),
        pytest.param(
            {"stable": "c", "routed": [target("c", 100)], "running": (), "pending": None},
            {"c"},
            id="after-promotion-the-old-stable-is-reserve",
        ),
        pytest.param(
            {"stable": "a", "routed": [target("a", 90), target("b", 10)], "running": (),
             "pending": "c"},
            {"a", "b", "c"},
            id="manual-split-and-latest-to-roll-out",
        ),
        pytest.param(
            {"stable": "a", "routed": [target("a", 100), target("b", 0)], "running": (None, "c"),
             "pending": None},
            {"a", "c"},
            id="untagged-zero-is-not-traffic",
        ),
    ],
)  # fmt: skip
def test_active_revisions(kwargs: dict[str, Any], active: set[str]) -> None:
    """Stable, routed (weight or tag), named by a running release, or to be rolled out."""
    assert scaling.active_revisions(**kwargs) == active


def test_delay_service_wins_over_policy_over_default() -> None:
    """scaleDownDelay: the Service's, else the policy's, else 30 s."""
    svc = service.Service.model_validate(
        {
            "metadata": {"name": "web"},
            "spec": {"template": {"spec": {"containers": [{"name": "a", "command": ["a"]}]}}},
        }
    )
    pol = rolloutpolicy.RolloutPolicy(
        metadata=meta.ObjectMeta(name="p"),
        spec=policyspec.RolloutPolicySpec.model_validate(
            {"steps": [{"setWeight": 5}], "scaleDownDelay": "2m"}
        ),
    )
    assert scaling.scale_down_delay(svc, None) == timedelta(seconds=30)
    assert scaling.scale_down_delay(svc, pol) == timedelta(minutes=2)
    own = svc.model_copy(
        update={"spec": svc.spec.model_copy(update={"scale_down_delay": timedelta(seconds=5)})}
    )
    assert scaling.scale_down_delay(own, pol) == timedelta(seconds=5)


# --- marks ------------------------------------------------------------------------------


def test_marks_set_state_time_and_delay_and_move_the_time_only_on_change() -> None:
    """The modified time is when the state changed; the same state again writes nothing."""
    first = scaling.marks(rev(), RESERVE, now=T0, delay=timedelta(seconds=30))
    assert first is not None
    assert first.labels[names.ROUTING_STATE_LABEL] == "reserve"
    assert first.annotations[names.ROUTING_STATE_MODIFIED_ANNOTATION] == scaling.format_time(T0)
    assert first.annotations[names.SCALE_DOWN_DELAY_ANNOTATION] == "30s"
    again = rev().model_copy(update={"metadata": first})
    later = T0 + timedelta(seconds=10)
    assert scaling.marks(again, RESERVE, now=later, delay=timedelta(seconds=30)) is None
    back = scaling.marks(again, ACTIVE, now=later, delay=timedelta(seconds=30))
    assert back is not None
    assert back.annotations[names.ROUTING_STATE_MODIFIED_ANNOTATION] == scaling.format_time(later)
    assert names.SCALE_DOWN_DELAY_ANNOTATION not in back.annotations


def test_marks_carry_a_matched_canarys_count_and_drop_it_after() -> None:
    with_count = scaling.marks(rev(), ACTIVE, now=T0, delay=timedelta(0), canary=3)
    assert with_count is not None
    assert with_count.annotations[names.CANARY_REPLICAS_ANNOTATION] == "3"
    counted = rev().model_copy(update={"metadata": with_count})
    dropped = scaling.marks(counted, ACTIVE, now=T0, delay=timedelta(0))
    assert dropped is not None
    assert names.CANARY_REPLICAS_ANNOTATION not in dropped.annotations


def test_marks_keep_other_labels_and_annotations() -> None:
    mine = rev(labels={"team": "a"}, annotations={"note": "x"})
    new = scaling.marks(mine, ACTIVE, now=T0, delay=timedelta(seconds=30))
    assert new is not None
    assert new.labels["team"] == "a"
    assert new.annotations["note"] == "x"


# --- replicas over time -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("revision_", "seconds", "replicas", "requeue"),
    [
        pytest.param(rev(min_replicas=3), 0, 3, None, id="unmarked-is-active"),
        pytest.param(marked(ACTIVE, T0, min_replicas=3), 999, 3, None, id="active-full-size"),
        pytest.param(marked(RESERVE, T0, min_replicas=3), 29.9, 3, 0.1, id="reserve-before"),
        pytest.param(marked(RESERVE, T0, min_replicas=3), 30, 0, None, id="reserve-at-delay"),
        pytest.param(marked(RESERVE, T0, "0s"), 0, 0, None, id="zero-delay-at-once"),
        pytest.param(marked(RESERVE, T0, "2m"), 90, 1, 30, id="delay-from-annotation"),
        pytest.param(
            marked(RESERVE, T0, "soon"), 10_000, 1, None, id="unreadable-delay-keeps-running"
        ),
        pytest.param(
            rev(labels={names.ROUTING_STATE_LABEL: "reserve"}), 10_000, 1, None,
            id="no-modified-time-keeps-running",
        ),
        pytest.param(
            marked(ACTIVE, T0, annotations={names.CANARY_REPLICAS_ANNOTATION: "4"},
                   min_replicas=10),
            0, 4, None, id="matched-canary-count",
        ),
        pytest.param(
            marked(ACTIVE, T0, annotations={names.CANARY_REPLICAS_ANNOTATION: "x"},
                   min_replicas=10),
            0, 10, None, id="bad-canary-count-is-full-size",
        ),
    ],
)  # fmt: skip
def test_desired_replicas(
    revision_: revision.Revision, seconds: float, replicas: int, requeue: float | None
) -> None:
    """Active: full size (or the canary's count); reserve: full size until the delay."""
    now = T0 + timedelta(seconds=seconds)
    want = scaling.desired(revision_, now)
    assert want.replicas == replicas
    due = want.requeue(now)
    assert (due.total_seconds() if due is not None else None) == pytest.approx(requeue)


# --- canary sizing and capacity -------------------------------------------------------

MATCH = policyspec.CanaryScale(match_weight=True)


@pytest.mark.parametrize(
    ("weight", "size", "min_replicas", "count"),
    [
        pytest.param(0, 10, 1, 1, id="weight-0-minReplicas"),
        pytest.param(1, 10, 1, 1, id="1pct-of-10"),
        pytest.param(5, 10, 1, 1, id="5pct-of-10"),
        pytest.param(25, 10, 1, 3, id="25pct-of-10-rounds-up"),
        pytest.param(50, 10, 1, 5, id="50pct-of-10"),
        pytest.param(100, 10, 1, 10, id="promotion-full-size"),
        pytest.param(5, 10, 2, 2, id="minReplicas-floor"),
        pytest.param(50, 3, 1, 2, id="50pct-of-3"),
        pytest.param(34, 3, 1, 2, id="34pct-of-3"),
        pytest.param(33, 3, 1, 1, id="33pct-of-3"),
    ],
)
def test_canary_replicas(weight: int, size: int, min_replicas: int, count: int) -> None:
    """max(minReplicas, ceil(S × weight / 100))."""
    scale = policyspec.CanaryScale(match_weight=True, min_replicas=min_replicas)
    assert scaling.canary_replicas(weight, size, scale) == count


@pytest.mark.parametrize(
    ("ready", "size", "room"),
    [(0, 10, 0), (1, 10, 10), (3, 10, 30), (10, 10, 100), (12, 10, 100), (2, 3, 66), (1, 1, 100)],
)
def test_capacity(ready: int, size: int, room: int) -> None:
    """floor(100 × ready / S), at most 100."""
    assert scaling.capacity(ready, size) == room


@pytest.mark.parametrize(
    ("wanted", "room", "current", "routable"),
    [
        pytest.param(25, 30, 5, 25, id="ready-for-it"),
        pytest.param(25, 10, 5, 5, id="not-yet-holds-the-current-weight"),
        pytest.param(25, 0, 5, 0, id="lost-its-replicas-lowered-to-capacity"),
        pytest.param(100, 50, 50, 50, id="promotion-waits-for-full-size"),
        pytest.param(0, 0, 50, 0, id="rollback-always-applies"),
        pytest.param(25, None, 5, 25, id="not-matched-unlimited"),
    ],
)
def test_routable_weight(wanted: int, room: int | None, current: int, routable: int) -> None:
    """The weight moves once the ready replicas can serve it; never above their capacity."""
    assert scaling.routable_weight(wanted, room, current) == routable


def test_canary_standard_on_ten_replicas() -> None:
    """canary-standard's weights on a 10-replica service: 1, 1, 3, 5, then 10 at promotion."""
    counts = [scaling.canary_replicas(w, 10, MATCH) for w in (1, 5, 25, 50, 100)]
    assert counts == [1, 1, 3, 5, 10]


# --- properties ---------------------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(
    size=st.integers(1, 500),
    weight=st.integers(0, 100),
    min_replicas=st.integers(1, 50),
)
def test_a_canary_at_its_count_can_take_its_weight(size: int, weight: int, min_replicas: int):
    """capacity(canary_replicas(w)) ≥ w: the count asked for is always enough."""
    scale = policyspec.CanaryScale(match_weight=True, min_replicas=min_replicas)
    count = scaling.canary_replicas(weight, size, scale)
    assert scaling.capacity(count, size) >= weight
    assert scaling.routable_weight(weight, scaling.capacity(count, size), 0) == weight


# A release's life as the Service reconciler sees it: at each look, the weight the
# release asks for (steps up, then 100 or 0) and the canary's ready replicas, which
# lag behind the count asked for and may drop (pods lost).
_looks = st.lists(
    st.tuples(st.integers(0, 100), st.integers(0, 3), st.booleans()), min_size=1, max_size=40
)


@settings(max_examples=300, deadline=None)
@given(size=st.integers(1, 40), min_replicas=st.integers(1, 5), looks=_looks)
def test_the_canary_never_carries_more_than_its_ready_replicas_serve(
    size: int, min_replicas: int, looks: list[tuple[int, int, bool]]
) -> None:
    """Under matchWeight, at every look the Route's canary weight is at most what its
    ready replicas serve at the stable's load per replica (capacity never below need),
    and once they reach the count asked for the weight is the one asked for."""
    scale = policyspec.CanaryScale(match_weight=True, min_replicas=min_replicas)
    ready, current, wanted = 0, 0, 0
    for raise_by, lag, lose in looks:
        wanted = min(100, wanted + raise_by)
        asked = scaling.canary_replicas(wanted, size, scale)
        # the replicas move towards the count asked for, `lag` looks behind, or drop
        ready = max(0, ready - 1) if lose else min(asked, ready + (asked if lag == 0 else 1))
        room = scaling.capacity(ready, size)
        current = scaling.routable_weight(wanted, room, current)
        assert current <= room, (wanted, ready, room, current)
        assert current * size <= ready * 100  # the same, without the floor
        if ready >= asked:
            assert current == wanted


_changes = st.lists(
    st.tuples(st.floats(0.001, 120.0), st.sampled_from([ACTIVE, RESERVE])), max_size=12
)


@settings(max_examples=300, deadline=None)
@given(
    delay=st.floats(0.0, 90.0),
    changes=_changes,
    looks=st.lists(st.floats(0.0, 600.0), min_size=1, max_size=20),
)
def test_a_retired_revision_never_reaches_zero_before_its_delay(
    delay: float, changes: list[tuple[float, RoutingState]], looks: list[float]
) -> None:
    """Marks written at each routing change (through their annotations, as stored),
    read at any later time: 0 replicas only after the revision has been in reserve,
    without interruption, for at least scaleDownDelay."""
    pause = timedelta(milliseconds=round(delay * 1000))
    current = rev()
    history: list[tuple[datetime, RoutingState]] = []
    at = T0
    for gap, state in changes:
        at += timedelta(seconds=gap)
        new = scaling.marks(current, state, now=at, delay=pause)
        if new is not None:
            current = current.model_copy(update={"metadata": new})
        history.append((at, state))
    for offset in looks:
        now = at + timedelta(seconds=offset)
        if scaling.desired(current, now).replicas != 0:
            continue
        # the last switch to reserve (history ends in reserve) was at least `pause` ago
        assert history
        assert history[-1][1] is RESERVE
        since = next(
            t
            for i, (t, s) in reversed(list(enumerate(history)))
            if s is RESERVE and (i == 0 or history[i - 1][1] is ACTIVE)
        )
        assert now - since >= pause
