"""The Route's Ready and its request rules: `ruleplan.rules_key` is what is compared
(wanted with read back), and `route.traffic_ready` is False, TrafficNotApplied, when the
router holds other rules."""

from __future__ import annotations

from typing import Any

import pytest

from rollout.api import matching, route, ruleplan, split
from rollout.platforms import ports


def hr(name: str, *match: dict[str, Any], rev: str = "web-00002") -> matching.HeaderRoute:
    return matching.HeaderRoute.model_validate(
        {"name": name, "match": list(match), "revisionName": rev}
    )


def mirror(name: str, percent: int, *match: dict[str, Any]) -> matching.Mirror:
    return matching.Mirror.model_validate(
        {"name": name, "percent": percent, "match": list(match), "revisionName": "web-00002"}
    )


A = {"header": "X-A", "exact": "1"}
B = {"cookie": "b", "regex": "[0-9]+"}


@pytest.mark.parametrize(
    ("wanted", "held", "same"),
    [
        pytest.param(
            ([hr("h", A)], []),
            ([hr("h", {"header": "x-a", "exact": "1"})], []),
            True,
            id="header-name-case",
        ),
        pytest.param(
            ([hr("h", A, {"all": [A, B]})], []), ([hr("h", A)], []), True, id="implied-entry"
        ),
        pytest.param(([hr("h", A, B)], []), ([hr("h", B, A)], []), True, id="entries-any-order"),
        pytest.param(
            ([hr("h", A), hr("g", B)], []), ([hr("g", B), hr("h", A)], []), False, id="route-order"
        ),
        pytest.param(([], [mirror("m", 0)]), ([], []), True, id="mirror-at-0-is-none"),
        pytest.param(([], [mirror("m", 10)]), ([], [mirror("m", 20)]), False, id="mirror-percent"),
        pytest.param(([hr("h", A, rev="web-00003")], []), ([hr("h", A)], []), False, id="revision"),
    ],
)
def test_rules_key(wanted: Any, held: Any, same: bool) -> None:
    """Compared as the data planes hold them: names without case, matches as sets —
    by the key, and by the Route's Ready (`Rules.difference`)."""
    assert (ruleplan.rules_key(*wanted, None) == ruleplan.rules_key(*held, None)) is same
    held_rules = route.Rules.of(ports.AppliedRoute([], header_routes=held[0], mirrors=held[1]))
    asked = route.Rules.of(ports.AppliedRoute([], header_routes=wanted[0], mirrors=wanted[1]))
    assert (asked.difference(held_rules) is None) is same


def test_ready_is_false_while_the_router_holds_other_rules() -> None:
    """The split is applied and served, but the rules are not: TrafficNotApplied."""
    wanted = [split.TrafficTarget(revision_name="web-00001", percent=100)]
    applied = [split.TrafficStatus(revision_name="web-00001", percent=100, ready=True)]
    assert route.traffic_ready(wanted, applied) == (True, "TrafficApplied", "")
    rules = route.Rules(mirrors=(mirror("m", 10),))
    ok, reason, message = route.traffic_ready(
        wanted, applied, wanted_rules=rules, applied_rules=route.Rules()
    )
    assert (ok, reason) == (False, "TrafficNotApplied")
    assert "mirror m is not applied" in message
