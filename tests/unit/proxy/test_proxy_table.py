"""The proxy's target table: weighted choice, pinning, and admin body validation."""

from __future__ import annotations

import collections
import math
import random
from typing import Any

import pytest

from rollout.platforms.local.proxy import table

V1 = "http://127.0.0.1:9001"
V2 = "http://127.0.0.1:9002"
V3 = "http://127.0.0.1:9003"


def _count(tbl: table.Table, n: int, **pins: str) -> collections.Counter[str]:
    rng = random.Random(7)
    counts: collections.Counter[str] = collections.Counter()
    for _ in range(n):
        picked = tbl.pick(rng, **pins)
        name = picked.revision if isinstance(picked, table.Target) else f"miss:{picked.status}"
        counts[name] += 1
    return counts


def _within_binomial(count: int, n: int, p: float, sigmas: float = 5.0) -> bool:
    return abs(count - n * p) <= sigmas * math.sqrt(n * p * (1 - p)) + 1


class TestWeightedChoice:
    @pytest.mark.parametrize(
        "percents",
        [(90, 10), (50, 50), (99, 1), (33, 33, 34), (0, 100)],
        ids=["90-10", "50-50", "99-1", "thirds", "all-to-second"],
    )
    def test_shares_follow_percents(self, percents: tuple[int, ...]) -> None:
        """Over 20 000 picks each revision gets its percent within 5 sigma."""
        urls = [V1, V2, V3]
        tbl = table.Table(tuple(table.Target(f"r{i}", urls[i], p) for i, p in enumerate(percents)))
        n = 20_000
        counts = _count(tbl, n)
        for i, p in enumerate(percents):
            assert _within_binomial(counts[f"r{i}"], n, p / 100), counts

    def test_not_ready_share_goes_to_ready_ones(self) -> None:
        """A target without a URL gets nothing; the others split its share in proportion."""
        tbl = table.Table(
            (
                table.Target("r0", V1, 60),
                table.Target("r1", None, 20),
                table.Target("r2", V3, 20),
            )
        )
        counts = _count(tbl, 20_000)
        assert counts["r1"] == 0
        assert _within_binomial(counts["r0"], 20_000, 0.75)
        assert tbl.shares() == {"r0": 0.75, "r2": 0.25}

    def test_zero_percent_never_takes_unpinned_traffic(self) -> None:
        """A ready 0% target gets no unpinned traffic, even when nothing else is ready."""
        tbl = table.Table((table.Target("r0", None, 100), table.Target("r1", V2, 0)))
        assert _count(tbl, 100) == {"miss:502": 100}

    @pytest.mark.parametrize(
        ("targets", "reason"),
        [
            ((), "no revision is routed for this service"),
            ((table.Target("r0", None, 100),), "no revision with traffic is ready"),
        ],
        ids=["empty", "none-ready"],
    )
    def test_nothing_ready_is_502(self, targets: tuple[table.Target, ...], reason: str) -> None:
        """No ready target with weight: a 502 with the reason."""
        assert table.Table(targets).pick(random.Random(1)) == table.Miss(502, reason)


class TestRetryPick:
    """The one retry of a refused request goes to another revision, by weight."""

    def test_another_ready_revision_by_weight(self) -> None:
        """Excluding r0: r1 and r2 share by their percents; r3 (not ready) and r4 (0%) never."""
        tbl = table.Table(
            (
                table.Target("r0", V1, 50),
                table.Target("r1", V2, 30),
                table.Target("r2", V3, 10),
                table.Target("r3", None, 10),
                table.Target("r4", V1, 0),
            )
        )
        counts = _count(tbl, 20_000, exclude="r0")
        assert set(counts) == {"r1", "r2"}
        assert _within_binomial(counts["r1"], 20_000, 0.75), counts

    def test_no_other_ready_revision_is_502(self) -> None:
        tbl = table.Table((table.Target("r0", V1, 90), table.Target("r1", None, 10)))
        assert tbl.pick(random.Random(1), exclude="r0") == table.Miss(
            502, "no other revision with traffic is ready"
        )


class TestPinning:
    TBL = table.Table(
        (
            table.Target("web-00001", V1, 100),
            table.Target("web-00002", V2, 0, tag="preview"),
            table.Target("web-00003", None, 0, tag="cold"),
        )
    )

    @pytest.mark.parametrize(
        ("pins", "expected"),
        [
            ({"tag": "preview"}, "web-00002"),
            ({"revision": "web-00002"}, "web-00002"),
            ({"revision": "web-00001"}, "web-00001"),
            ({"revision": "web-00001", "tag": "preview"}, "web-00001"),
        ],
        ids=["tag-at-0pct", "revision-at-0pct", "revision", "revision-beats-tag"],
    )
    def test_pin_reaches_the_target(self, pins: dict[str, str], expected: str) -> None:
        """Pinned requests all go to the pinned target, whatever its percent."""
        assert _count(self.TBL, 200, **pins) == {expected: 200}

    @pytest.mark.parametrize(
        ("pins", "status", "words"),
        [
            ({"tag": "nope"}, 404, "no target for tag 'nope' on this service (tags: cold, pre"),
            ({"revision": "web-09999"}, 404, "no target for revision 'web-09999'"),
            ({"tag": "cold"}, 502, "tag 'cold' is not ready"),
        ],
        ids=["unknown-tag", "unknown-revision", "tag-not-ready"],
    )
    def test_pin_misses(self, pins: dict[str, str], status: int, words: str) -> None:
        """A pin to nothing is 404; to a target that is not ready, 502."""
        miss = self.TBL.pick(random.Random(1), **pins)
        assert isinstance(miss, table.Miss)
        assert miss.status == status
        assert words in miss.reason


def _body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "port": None,
        "targets": [
            {"revision": "web-00001", "url": V1, "percent": 90, "tag": None},
            {"revision": "web-00002", "url": None, "percent": 10, "tag": "canary"},
        ],
    }
    body.update(overrides)
    return body


class TestParseRoute:
    def test_valid_body(self) -> None:
        """A valid body gives its port and table (URLs without a trailing slash)."""
        parsed = table.parse_route(_body(port=8080))
        assert parsed.port == 8080
        assert [t.revision for t in parsed.table.targets] == ["web-00001", "web-00002"]
        assert parsed.table.targets[1] == table.Target("web-00002", None, 10, "canary")

    def test_port_zero_means_free(self) -> None:
        """Port 0 and null both ask for a free port."""
        assert table.parse_route(_body(port=0)).port is None

    def test_empty_targets_allowed(self) -> None:
        """No targets: a route that answers 502."""
        assert table.parse_route({"port": None, "targets": []}).table.targets == ()

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            ([], "body: must be a JSON object"),
            (_body(port="80"), "port: must be an integer between 0 and 65535"),
            (_body(port=70000), "port: must be an integer between 0 and 65535"),
            (_body(port=True), "port: must be an integer"),
            (_body(extra=1), "extra: unknown field"),
            ({"port": None}, "targets: required"),
            (_body(targets=[1]), "targets[0]: must be an object"),
            (
                _body(targets=[{"revision": "", "url": V1, "percent": 100}]),
                "targets[0].revision: must be a DNS label",
            ),
            (
                _body(targets=[{"revision": "a", "percent": 100}]),
                "targets[0].url: required (null when the revision is not ready)",
            ),
            (
                _body(targets=[{"revision": "a", "url": "https://x", "percent": 100}]),
                "targets[0].url: must be http://127.0.0.1:PORT",
            ),
            (
                _body(targets=[{"revision": "a", "url": V1 + "/path", "percent": 100}]),
                "targets[0].url: must have no path",
            ),
            (
                _body(targets=[{"revision": "a", "url": V1, "percent": 101}]),
                "targets[0].percent: must be an integer between 0 and 100",
            ),
            (
                _body(targets=[{"revision": "a", "url": V1, "percent": 50.0}]),
                "targets[0].percent: must be an integer",
            ),
            (
                _body(targets=[{"revision": "a", "url": V1, "percent": 100, "weight": 1}]),
                "targets[0].weight: unknown field",
            ),
            (
                _body(targets=[{"revision": "a", "url": V1, "percent": 90}]),
                "targets: percents must sum to 100 (they sum to 90)",
            ),
            (
                _body(
                    targets=[
                        {"revision": "a", "url": V1, "percent": 50, "tag": "t"},
                        {"revision": "b", "url": V2, "percent": 50, "tag": "t"},
                    ]
                ),
                "targets[1].tag: duplicate tag 't'",
            ),
        ],
        ids=[
            "not-object",
            "port-string",
            "port-range",
            "port-bool",
            "unknown-field",
            "no-targets",
            "target-not-object",
            "empty-revision",
            "url-missing",
            "url-https",
            "url-path",
            "percent-range",
            "percent-float",
            "target-unknown-field",
            "sum",
            "duplicate-tag",
        ],
    )
    def test_invalid_body_says_why(self, body: Any, message: str) -> None:
        """Each problem is named with where it is."""
        with pytest.raises(table.InvalidRoute) as caught:
            table.parse_route(body)
        assert message in str(caught.value)

    def test_every_problem_is_listed(self) -> None:
        """Several problems come back together."""
        with pytest.raises(table.InvalidRoute) as caught:
            table.parse_route({"port": -1, "targets": [{"revision": 1, "url": 2, "percent": -1}]})
        assert len(caught.value.problems) == 4
