"""End to end on the local platform (issue 20): an A/B test — the canary at weight 0,
a header route sending it the matching requests, analysis on what it served — with
real revision processes, the real proxy and real load (the harness: `localenv`). A
bad canary is rolled back on the matched traffic alone, before any weight moved, and
no other request ever reached it; a good one is promoted. The proxy holds the header
route while the release runs and drops it at the end.

Every process started here is stopped by its PID (`localenv`).
"""

from __future__ import annotations

import pytest
from localenv import Load, Local

AB = """\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata: {name: ab}
spec:
  steps:
    - setHeaderRoute: {name: beta, match: [{header: X-Beta, exact: "1"}]}
    - analysis: {duration: 8s}
    - setHeaderRoute: {name: beta}
    - setWeight: 50
    - pause: {duration: 2s}
  analysis:
    interval: 1s
    failureLimit: 0
    inconclusiveLimit: 60
    metrics:
      - name: error-rate
        provider: {local: {stat: error_rate}}
        thresholds: {max: 0.05}
        window: 5s
        minSamples: 20
"""


def _header_routes(local: Local) -> list[str]:
    table = local.proxy_table()
    return [r.name for r in table.header_routes] if table is not None else []


@pytest.mark.parametrize(
    ("error_rate", "phase"), [(0.5, "RolledBack"), (0.0, "Succeeded")], ids=["bad", "good"]
)
def test_an_ab_test_judges_the_canary_on_the_matched_traffic(
    local: Local, error_rate: float, phase: str
) -> None:
    """Matched requests reach the canary at weight 0; the others never do while the
    header route holds; analysis decides on what the canary served."""
    local.start()
    local.apply(AB, "ab")
    local.service("ab", "v1")
    local.wait_serving()
    everyone = Load(local.url(), rps=30)
    beta = Load(local.url(), rps=30, headers={"X-Beta": "1"})
    try:
        local.service("ab", "v2", error_rate=error_rate)
        local.wait_for(
            lambda: _header_routes(local) == ["beta"],
            within=60,
            what="the proxy holding the header route",
        )
        table = local.proxy_table()
        assert table is not None
        canary = next(t for t in table.targets if t.revision.endswith("00002"))
        assert canary.percent == 0
        local.wait_for(lambda: local.phase() == phase, within=90, what=f"release {phase}")
        local.wait_for(
            lambda: _header_routes(local) == [], within=30, what="the header route dropped"
        )
    finally:
        everyone_result, beta_result = everyone.stop(), beta.stop()
    # The canary answered matched requests: at least the analysis' minSamples.
    assert beta_result.by_revision.get(canary.revision, 0) >= 20, beta_result.summary()
    if phase == "RolledBack":  # and only those: weight 0 until it was rolled back
        assert everyone_result.by_revision.get(canary.revision, 0) == 0, everyone_result.summary()
        assert beta_result.failed > 0  # the bad canary answered the matched requests
        assert everyone_result.failed == 0, everyone_result.summary()  # nobody else saw it
    else:
        assert beta_result.failed == 0, beta_result.summary()
        assert everyone_result.failed == 0, everyone_result.summary()
