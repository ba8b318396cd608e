"""The proxy table's request rules (`rules`, `Table.choose`): header routes, the sticky
session and mirrors in their precedence, what a rule does when its revision is not
ready, and the admin body's validation of them."""

from __future__ import annotations

import asyncio
import collections
import math
import pathlib
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import test_utils
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from rollout.platforms.local.proxy import server, table

V1 = "http://127.0.0.1:9001"
V2 = "http://127.0.0.1:9002"
COOKIE = "rollout-canary"


def _headers(**values: str) -> CIMultiDict[str]:
    """Request headers (`x_user="a"` → `X-User: a`)."""
    return CIMultiDict({k.replace("_", "-"): v for k, v in values.items()})


def _body(
    canary: int = 0,
    *,
    canary_url: str | None = V2,
    stable_url: str | None = V1,
    **rules: Any,
) -> dict[str, Any]:
    return {
        "port": None,
        "targets": [
            {"revision": "web-1", "url": stable_url, "percent": 100 - canary, "tag": "stable"},
            {"revision": "web-2", "url": canary_url, "percent": canary, "tag": "canary"},
        ],
        **rules,
    }


BETA = {"name": "beta", "match": [{"header": "X-User", "exact": "beta"}], "revisionName": "web-2"}
STICKY = {"cookieName": COOKIE, "cookieValue": "rel-7", "maxAge": "1h", "revisionName": "web-2"}


def _mirror(percent: int = 100, **extra: Any) -> dict[str, Any]:
    return {"name": "shadow", "percent": percent, "revisionName": "web-2", **extra}


def _table(canary: int = 0, **kwargs: Any) -> table.Table:
    return table.parse_route(_body(canary, **kwargs)).table


def _served(tbl: table.Table, headers: CIMultiDict[str], rng: random.Random) -> str:
    picked = tbl.choose(rng, headers).picked
    return picked.revision if isinstance(picked, table.Target) else f"miss:{picked.status}"


def _within_binomial(count: int, n: int, p: float, sigmas: float = 5.0) -> bool:
    return abs(count - n * p) <= sigmas * math.sqrt(n * p * (1 - p)) + 1


class TestHeaderRoutes:
    @settings(max_examples=200, deadline=None)
    @given(
        canary=st.integers(0, 100),
        seed=st.integers(0, 2**32),
        value=st.sampled_from(["beta", "beta-2", "betamax"]),
    )
    def test_a_matching_request_always_reaches_its_revision(
        self, canary: int, seed: int, value: str
    ) -> None:
        """Whatever the weights, a request matching a header route goes to its revision."""
        route = {"name": "beta", "match": [{"header": "X-User", "prefix": "beta"}]}
        tbl = _table(canary, headerRoutes=[{**route, "revisionName": "web-2"}])
        choice = tbl.choose(random.Random(seed), _headers(x_user=value))
        assert isinstance(choice.picked, table.Target)
        assert choice.picked.revision == "web-2"
        assert choice.pinned  # no retry elsewhere

    @pytest.mark.parametrize("canary", [0, 10, 50], ids=["weight-0", "weight-10", "weight-50"])
    def test_other_requests_follow_the_weights(self, canary: int) -> None:
        """Requests that match no route split by weight, within 5 binomial sigmas."""
        tbl = _table(canary, headerRoutes=[BETA])
        rng = random.Random(3)
        n = 5000
        counts = collections.Counter(_served(tbl, _headers(x_user="alpha"), rng) for _ in range(n))
        assert set(counts) <= {"web-1", "web-2"}
        assert _within_binomial(counts["web-2"], n, canary / 100), counts

    @pytest.mark.parametrize(
        ("match", "headers", "hit"),
        [
            ([{"header": "x-user", "exact": "beta"}], {"X-USER": "beta"}, True),
            ([{"header": "X-User", "exact": "beta"}], {"X-User": "Beta"}, False),
            ([{"header": "X-User", "regex": "b[a-z]+"}], {"X-User": "beta"}, True),
            ([{"header": "X-User", "regex": "b[a-z]+"}], {"X-User": "beta1"}, False),
            ([{"cookie": "group", "exact": "b"}], {"Cookie": "a=1; group=b"}, True),
            ([{"cookie": "group", "exact": "b"}], {"Cookie": "group=c"}, False),
            (
                [{"header": "X-A", "exact": "1"}, {"header": "X-B", "exact": "1"}],
                {"X-B": "1"},
                True,
            ),
            (
                [{"all": [{"header": "X-A", "exact": "1"}, {"header": "X-B", "exact": "1"}]}],
                {"X-B": "1"},
                False,
            ),
            (
                [{"all": [{"header": "X-A", "exact": "1"}, {"cookie": "c", "regex": "[0-9]+"}]}],
                {"X-A": "1", "Cookie": "c=42"},
                True,
            ),
        ],
        ids=[
            "name-any-case",
            "value-with-case",
            "regex-full",
            "regex-not-partial",
            "cookie",
            "cookie-other-value",
            "entries-or",
            "all-and",
            "all-header-and-cookie",
        ],
    )
    def test_matching(self, match: list[Any], headers: dict[str, str], hit: bool) -> None:
        """Names without case, values with; entries OR, `all` AND; regexes match whole."""
        tbl = _table(0, headerRoutes=[{"name": "r", "match": match, "revisionName": "web-2"}])
        served = _served(tbl, CIMultiDict(headers), random.Random(1))
        assert served == ("web-2" if hit else "web-1")

    def test_pins_come_first(self) -> None:
        """Rollout-Revision / Rollout-Tag win over a header route."""
        tbl = _table(0, headerRoutes=[BETA])
        rng = random.Random(1)
        assert _served(tbl, _headers(x_user="beta", rollout_revision="web-1"), rng) == "web-1"
        assert _served(tbl, _headers(x_user="beta", rollout_tag="stable"), rng) == "web-1"

    def test_the_first_matching_route_wins(self) -> None:
        """Routes are tried in order."""
        first = {**BETA, "name": "first", "revisionName": "web-1"}
        tbl = _table(0, headerRoutes=[first, BETA])
        assert _served(tbl, _headers(x_user="beta"), random.Random(1)) == "web-1"

    def test_a_route_to_a_revision_not_ready_is_a_502_never_the_stable(self) -> None:
        """A header route is a pin: its revision not ready → 502 saying so."""
        tbl = _table(0, canary_url=None, headerRoutes=[BETA])
        choice = tbl.choose(random.Random(1), _headers(x_user="beta"))
        assert choice.picked == table.Miss(
            502, "revision 'web-2' (header route 'beta') is not ready"
        )
        assert choice.pinned

    def test_a_table_without_rules_reads_no_cookie(self) -> None:
        """No rules: the weights and pins alone, as before."""
        tbl = _table(0)
        assert tbl.rules.empty
        assert tbl.rules.cookies(_headers(cookie=f"{COOKIE}=rel-7")) == {}
        assert _served(tbl, _headers(cookie=f"{COOKIE}=rel-7"), random.Random(1)) == "web-1"


class TestStickySession:
    def test_the_cookie_of_this_release_reaches_its_revision(self) -> None:
        """NAME=VALUE → the sticky revision, at weight 0 too."""
        tbl = _table(0, sessionAffinity=STICKY)
        assert _served(tbl, _headers(cookie=f"a=1; {COOKIE}=rel-7"), random.Random(1)) == "web-2"

    def test_an_earlier_releases_cookie_is_ignored(self) -> None:
        """Another value (an earlier release's) follows the weights."""
        tbl = _table(0, sessionAffinity=STICKY)
        assert _served(tbl, _headers(cookie=f"{COOKIE}=rel-6"), random.Random(1)) == "web-1"

    def test_without_session_affinity_the_cookie_is_ignored(self) -> None:
        """Rollback: the route drops sessionAffinity, cookie holders follow the weights."""
        tbl = _table(0)
        assert _served(tbl, _headers(cookie=f"{COOKIE}=rel-7"), random.Random(1)) == "web-1"

    def test_a_cookie_to_a_revision_not_ready_follows_the_weights(self) -> None:
        """A sticky client whose canary died is served, not failed."""
        tbl = _table(20, canary_url=None, sessionAffinity=STICKY)
        choice = tbl.choose(random.Random(1), _headers(cookie=f"{COOKIE}=rel-7"))
        assert isinstance(choice.picked, table.Target)
        assert choice.picked.revision == "web-1"
        assert not choice.pinned

    def test_targets_of_the_sticky_revision_carry_the_set_cookie(self) -> None:
        """Only the sticky revision's answers set the cookie."""
        tbl = _table(50, sessionAffinity=STICKY)
        by_revision = {t.revision: t.set_cookie for t in tbl.targets}
        assert by_revision == {
            "web-1": None,
            "web-2": f"{COOKIE}=rel-7; Max-Age=3600; Path=/; HttpOnly",
        }

    def test_header_routes_come_before_the_cookie(self) -> None:
        """A matching header route wins over the session cookie."""
        stable_route = {**BETA, "revisionName": "web-1"}
        tbl = _table(0, headerRoutes=[stable_route], sessionAffinity=STICKY)
        headers = _headers(x_user="beta", cookie=f"{COOKIE}=rel-7")
        assert _served(tbl, headers, random.Random(1)) == "web-1"

    @settings(max_examples=100, deadline=None)
    @given(
        steps=st.lists(st.integers(0, 100), min_size=1, max_size=12),
        seed=st.integers(0, 2**32),
    )
    def test_a_client_on_the_canary_stays_while_weights_grow(
        self, steps: list[int], seed: int
    ) -> None:
        """Weights only grow: once a client got the cookie it is never sent to the stable."""
        rng = random.Random(seed)
        jar: dict[str, str] = {}
        seen_canary = False
        for canary in sorted(steps):
            tbl = _table(canary, sessionAffinity=STICKY)
            for _ in range(5):
                cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
                picked = tbl.choose(rng, _headers(cookie=cookie)).picked
                assert isinstance(picked, table.Target)
                if seen_canary:
                    assert picked.revision == "web-2", (canary, jar)
                if picked.set_cookie is not None:
                    name, _, rest = picked.set_cookie.partition("=")
                    jar[name] = rest.split(";")[0]
                    seen_canary = True


class TestMirrors:
    def test_every_request_served_elsewhere_is_copied_at_100(self) -> None:
        """100 %: every request the stable serves names the mirror and its target."""
        tbl = _table(0, mirrors=[_mirror()])
        choice = tbl.choose(random.Random(1), _headers())
        assert choice.mirror is not None
        assert choice.mirror.name == "shadow"
        assert choice.mirror_target is not None
        assert choice.mirror_target.url == V2

    def test_a_request_served_by_the_mirrors_revision_is_not_copied(self) -> None:
        """The canary's own requests are not sent to it twice."""
        tbl = _table(100, mirrors=[_mirror()])
        assert tbl.choose(random.Random(1), _headers()).mirror is None

    def test_a_percent_is_a_share_of_the_requests(self) -> None:
        """10 %: within 5 binomial sigmas over 10 000 requests."""
        tbl = _table(0, mirrors=[_mirror(10)])
        rng = random.Random(5)
        n = 10_000
        copied = sum(tbl.choose(rng, _headers()).mirror is not None for _ in range(n))
        assert _within_binomial(copied, n, 0.1), copied

    def test_only_matching_requests_are_copied(self) -> None:
        """With match, the others are not copied."""
        tbl = _table(0, mirrors=[_mirror(match=[{"header": "X-User", "exact": "beta"}])])
        rng = random.Random(1)
        assert tbl.choose(rng, _headers(x_user="beta")).mirror is not None
        assert tbl.choose(rng, _headers(x_user="alpha")).mirror is None

    def test_the_first_matching_mirror_only(self) -> None:
        """Two mirrors match: the first one copies."""
        second = {**_mirror(), "name": "second"}
        tbl = _table(0, mirrors=[_mirror(), second])
        choice = tbl.choose(random.Random(1), _headers())
        assert choice.mirror is not None
        assert choice.mirror.name == "shadow"

    def test_a_miss_is_not_copied(self) -> None:
        """No primary (nothing ready): no copy."""
        tbl = _table(0, stable_url=None, mirrors=[_mirror()])
        choice = tbl.choose(random.Random(1), _headers())
        assert isinstance(choice.picked, table.Miss)
        assert choice.mirror is None

    def test_a_header_routed_request_is_copied_when_not_sent_to_the_mirror(self) -> None:
        """Mirrors apply after routing: a request routed to the canary is not copied."""
        tbl = _table(0, headerRoutes=[BETA], mirrors=[_mirror()])
        rng = random.Random(1)
        assert tbl.choose(rng, _headers(x_user="beta")).mirror is None
        assert tbl.choose(rng, _headers(x_user="alpha")).mirror is not None


class TestParseRules:
    def test_rules_round_trip(self) -> None:
        """A valid body's rules come back in the same shape (what GET answers)."""
        routes = [BETA]
        mirrors = [_mirror(10, match=[{"cookie": "group", "regex": "[ab]"}])]
        tbl = _table(10, headerRoutes=routes, mirrors=mirrors, sessionAffinity=STICKY)
        assert tbl.rules.as_json() == {
            "headerRoutes": routes,
            "mirrors": mirrors,
            "sessionAffinity": STICKY,
        }

    def test_no_rules(self) -> None:
        """Absent, null or empty: no rules."""
        for body in (
            _body(),
            _body(headerRoutes=None, mirrors=None, sessionAffinity=None),
            _body(headerRoutes=[], mirrors=[]),
        ):
            parsed = table.parse_route(body).table.rules
            assert parsed.empty
            assert parsed.as_json() == {"headerRoutes": [], "mirrors": [], "sessionAffinity": None}

    @pytest.mark.parametrize(
        ("rules", "message"),
        [
            ({"headerRoutes": {}}, "headerRoutes: must be a list"),
            ({"headerRoutes": [1]}, "headerRoutes[0]: must be an object"),
            (
                {"headerRoutes": [{**BETA, "match": [{"header": "X User", "exact": "a"}]}]},
                "headerRoutes[0].match[0].header: 'X User' is not an HTTP header name",
            ),
            (
                {"headerRoutes": [{**BETA, "match": [{"header": "X", "regex": "(?=a)"}]}]},
                "headerRoutes[0].match[0].regex: uses lookahead",
            ),
            (
                {"headerRoutes": [{**BETA, "match": [{"header": "X", "regex": "(a"}]}]},
                "headerRoutes[0].match[0].regex: is not a valid regular expression",
            ),
            (
                {"headerRoutes": [{**BETA, "match": [{"cookie": "c", "prefix": "a"}]}]},
                "headerRoutes[0].match[0].prefix: a cookie is matched by exact or regex",
            ),
            ({"headerRoutes": [{**BETA, "match": []}]}, "headerRoutes[0].match: List should"),
            ({"headerRoutes": [{**BETA, "weight": 1}]}, "headerRoutes[0].weight: Extra inputs"),
            ({"headerRoutes": [BETA, BETA]}, "headerRoutes[1].name: duplicate name 'beta'"),
            (
                {"headerRoutes": [{**BETA, "revisionName": "web-9"}]},
                "headerRoutes[0].revisionName: 'web-9' is not a target of this route",
            ),
            ({"mirrors": [_mirror(101)]}, "mirrors[0].percent:"),
            ({"mirrors": [_mirror(), _mirror()]}, "mirrors[1].name: duplicate name 'shadow'"),
            (
                {"mirrors": [{**_mirror(), "revisionName": "web-9"}]},
                "mirrors[0].revisionName: 'web-9' is not a target",
            ),
            (
                {"sessionAffinity": {**STICKY, "cookieValue": "a b"}},
                "sessionAffinity.cookieValue: String should match pattern",
            ),
            (
                {"sessionAffinity": {**STICKY, "cookieName": "a;b"}},
                "sessionAffinity.cookieName: 'a;b' is not a",
            ),
            ({"sessionAffinity": {**STICKY, "maxAge": "soon"}}, "sessionAffinity.maxAge:"),
            ({"sessionAffinity": []}, "sessionAffinity: must be an object"),
            ({"rules": []}, "rules: unknown field (known: headerRoutes, mirrors, port,"),
        ],
        ids=[
            "routes-not-list",
            "route-not-object",
            "header-name",
            "regex-re2",
            "regex-invalid",
            "cookie-prefix",
            "match-empty",
            "route-unknown-field",
            "duplicate-route",
            "route-revision-not-target",
            "mirror-percent",
            "duplicate-mirror",
            "mirror-revision-not-target",
            "cookie-value",
            "cookie-name",
            "max-age",
            "sticky-not-object",
            "unknown-top-level",
        ],
    )
    def test_invalid_rules_say_where_and_why(self, rules: dict[str, Any], message: str) -> None:
        """Each problem is named with its field path."""
        with pytest.raises(table.InvalidRoute) as caught:
            table.parse_route(_body(**rules))
        assert message in str(caught.value)


TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROUTE = "/v1/routes/default/web"


def _admin(check: Callable[[test_utils.TestClient[Any, Any]], Awaitable[None]]) -> None:
    """Run `check` against a fresh proxy's admin app (targets without URLs only)."""

    async def main() -> None:
        proxy = server.ProxyServer(state_dir=pathlib.Path("/nonexistent"), token=TOKEN)
        await proxy.start()
        try:
            async with test_utils.TestClient(test_utils.TestServer(proxy.admin_app())) as http:
                await check(http)
        finally:
            await proxy.close()

    asyncio.run(main())


class TestAdminBody:
    def test_put_takes_the_rules_and_get_reads_them_back(self) -> None:
        """The admin API applies the rules and answers them; a bad rule is a 400 naming
        the field, and changes nothing."""
        body = _body(0, canary_url=None, stable_url=None)
        body["targets"][0]["percent"] = 100
        rules = {
            "headerRoutes": [BETA],
            "mirrors": [_mirror(5, match=[])],
            "sessionAffinity": STICKY,
        }

        async def check(http: test_utils.TestClient[Any, Any]) -> None:
            route = ROUTE
            put = await http.put(route, json={**body, **rules}, headers=AUTH)
            assert put.status == 201
            applied = await put.json()
            assert {k: applied[k] for k in rules} == rules
            assert await (await http.get(route)).json() == applied
            bad = {**rules, "mirrors": [_mirror(5, match=[{"header": "X", "regex": "(a)\\1"}])]}
            refused = await http.put(route, json={**body, **bad}, headers=AUTH)
            assert refused.status == 400
            assert (
                "mirrors[0].match[0].regex: uses a backreference" in (await refused.json())["error"]
            )
            assert await (await http.get(route)).json() == applied
            plain = await http.put(route, json=body, headers=AUTH)
            assert {k: (await plain.json())[k] for k in rules} == {
                "headerRoutes": [],
                "mirrors": [],
                "sessionAffinity": None,
            }

        _admin(check)
