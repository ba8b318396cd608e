"""Which share of a simulated service's requests the canary serves or sees, given the
Route's weights and request rules — what lets a weight-0 A/B test or a shadow get
canary readings in a rehearsal (`rollout controller --platform sim`).

The simulator has no headers, so the rules are modelled by shares of the requests:

- a header route: a fixed `MATCH_SHARE` (5 %) of the requests carries the header or
  cookie that matches *any* header route (however many there are, the same 5 %);
  they go to the canary whatever its weight, the rest follow the weights;
- a mirror: of the requests the canary did not serve, `percent`% of those it copies —
  all of them, or the `MATCH_SHARE` that matches when it has `match` — are copied to
  the canary (several mirrors: the largest share; a request is copied once), and the
  copies count as canary requests in its metrics;
- a sticky session changes no share: it only keeps clients where the weights sent them.

`canary_share` is that sum as the share of the arrivals the world draws for the canary
(`World.advance`'s weight). The world draws one request per arrival, so a mirrored
copy is drawn from the stable's arrivals: the stable's count is short by the copies (a
rehearsal's approximation; the ratios the analysis compares are unchanged).

Pure; no I/O. Used by `rollout.platforms.sim`.
"""

from __future__ import annotations

from collections.abc import Sequence

from rollout.api import matching

__all__ = ["MATCH_SHARE", "canary_share"]

MATCH_SHARE = 0.05


def canary_share(
    weight: float,
    header_routes: Sequence[matching.HeaderRoute] = (),
    mirrors: Sequence[matching.Mirror] = (),
    *,
    match_share: float = MATCH_SHARE,
) -> float:
    """The share (0..1) of the requests the canary gets at `weight` percent, with these
    header routes (served) and mirrors (copied)."""
    served = weight / 100
    if header_routes:
        served += (1 - served) * match_share
    copied = max(
        ((m.percent / 100) * (match_share if m.match else 1.0) for m in mirrors), default=0.0
    )
    return min(1.0, served + (1 - served) * copied)
