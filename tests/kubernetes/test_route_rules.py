"""Header routes, cookies, mirrors and sticky sessions on the cluster data planes:
every combination built as an HTTPRoute and a VirtualService, each checked against the
emulator's CRD schema (tests/kubernetes/crds), read back to the same rules, and — by
two small evaluators of the data planes' matching (Gateway API: most header matches
first, list order on a tie; Istio: first route that matches) — routing and mirroring
every sample request as our precedence says. Then the combinations refused, and what
the schemas refuse as the real API servers would. Offline: no emulator is started."""

from __future__ import annotations

import copy
import functools
import itertools
import pathlib
import re
from typing import Any

import hypothesis
import pytest
import yaml
from hypothesis import strategies as st
from kubeemu import schema

from rollout.api import matching, route, routing, ruleplan
from rollout.platforms.kubernetes import gateway_api, istio, matchers

CRDS = pathlib.Path(__file__).parent / "crds"
STABLE, CANARY = "web-00001", "web-00002"
Doc = dict[str, Any]


@functools.cache
def validator(file: str) -> schema.SchemaValidator:
    crd = yaml.safe_load((CRDS / file).read_text(encoding="utf-8"))
    return schema.compile_schema(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])


def causes(kind: str, obj: Doc) -> list[str]:
    file = {
        "HTTPRoute": "gateway.networking.k8s.io_httproutes.yaml",
        "VirtualService": "networking.istio.io_virtualservices.yaml",
    }[kind]
    stored = copy.deepcopy(obj)
    validator(file).prune(stored)
    return [c.message for c in validator(file).validate(stored)]


def make_route(
    *,
    canary: int = 0,
    tags: bool = False,
    header_routes: list[Doc] | None = None,
    mirrors: list[Doc] | None = None,
    sticky: bool = False,
    router: str | None = None,
) -> route.Route:
    traffic = [
        {"revisionName": STABLE, "percent": 100 - canary, "tag": "stable" if tags else None},
        {"revisionName": CANARY, "percent": canary, "tag": "canary" if tags else None},
    ]
    spec: Doc = {
        "service": "web",
        "traffic": traffic,
        "routing": {"router": router, "parentRefs": [{"name": "public"}]},
        "headerRoutes": [{"revisionName": CANARY, **h} for h in header_routes or []],
        "mirrors": [{"revisionName": CANARY, **m} for m in mirrors or []],
    }
    if sticky:
        spec["sessionAffinity"] = {
            "cookieName": "rollout-canary",
            "cookieValue": "r1",
            "maxAge": "1h",
            "revisionName": CANARY,
        }
    return route.Route.model_validate(
        {"metadata": {"name": "web", "namespace": "shop", "uid": "uid-route"}, "spec": spec}
    )


BETA = {"name": "beta", "match": [{"header": "X-Beta", "exact": "yes"}]}
QA = {"name": "qa", "match": [{"header": "X-User", "prefix": "qa-"}]}
RE = {"name": "re", "match": [{"header": "X-User", "regex": "bob|al+ce"}]}
COOKIE = {"name": "cookie", "match": [{"cookie": "beta", "exact": "1"}]}
COOKIE_RE = {"name": "cookie-re", "match": [{"cookie": "beta", "regex": "[0-9]+"}]}
BOTH = {
    "name": "both",
    "match": [{"all": [{"header": "X-User", "prefix": "qa-"}, {"cookie": "beta", "exact": "1"}]}],
}
OR = {
    "name": "or",
    "match": [{"header": "X-Beta", "exact": "yes"}, {"cookie": "beta", "exact": "1"}],
}
MIRROR_ALL = {"name": "shadow", "percent": 10}
MIRROR_ON = {"name": "shadow-on", "percent": 50, "match": [{"header": "X-Mirror", "exact": "on"}]}
MIRROR_WIDE = {
    "name": "wide",
    "percent": 20,
    "match": [
        {"all": [{"header": "X-Mirror", "exact": "on"}, {"header": "X-User", "prefix": "qa-"}]}
    ],
}

CASES = {
    "header-exact": {"header_routes": [BETA]},
    "header-prefix": {"header_routes": [QA]},
    "header-regex": {"header_routes": [RE]},
    "cookie-exact": {"header_routes": [COOKIE]},
    "cookie-regex": {"header_routes": [COOKIE_RE]},
    "all-header-and-cookie": {"header_routes": [BOTH]},
    "or-entries": {"header_routes": [OR]},
    "two-routes-in-order": {"header_routes": [QA, RE]},
    "mirror-every-request": {"mirrors": [MIRROR_ALL]},
    "mirror-with-match": {"mirrors": [MIRROR_ON]},
    "mirrors-two-with-match": {"mirrors": [MIRROR_ON, MIRROR_WIDE]},
    "mirror-with-match-then-every": {"mirrors": [MIRROR_ON, MIRROR_ALL]},
    "sticky": {"sticky": True, "canary": 10},
    "sticky-and-header": {"sticky": True, "canary": 10, "header_routes": [BOTH]},
    "tags-and-header-routes": {"tags": True, "header_routes": [BOTH, BETA]},
    "tags-and-mirror": {"tags": True, "mirrors": [MIRROR_ON]},
    "tags-all-of-them": {
        "tags": True,
        "header_routes": [BOTH, OR],
        "mirrors": [MIRROR_WIDE, MIRROR_ALL],
        "sticky": True,
    },
    "all-of-them-at-weight": {
        "canary": 0,
        "header_routes": [QA, COOKIE],
        "mirrors": [MIRROR_ON],
        "sticky": True,
    },
}


def route_of(case: str, router: str) -> route.Route:
    return make_route(router=router, **CASES[case])  # type: ignore[arg-type]


# ---- build, schema, read-back --------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_httproute_fits_the_schema_and_reads_back(case: str) -> None:
    """The HTTPRoute passes the CRD's schema and CEL rules; read back, it holds the
    route's split, header routes, mirrors and sticky session."""
    rt = route_of(case, "gateway-api")
    obj = gateway_api.build(rt)
    assert causes("HTTPRoute", obj) == []
    assert (
        routing.route_limits(
            rt.spec.routing,
            rt.spec.traffic,
            (),
            header_routes=rt.spec.header_routes,
            mirrors=rt.spec.mirrors,
            sticky=rt.spec.session_affinity,
        )
        == []
    )
    held = gateway_api.rules(obj)
    assert ruleplan.rules_key(
        held.header_routes, held.mirrors, held.session_affinity
    ) == ruleplan.rules_key(rt.spec.header_routes, rt.spec.mirrors, rt.spec.session_affinity)
    assert [(t.revision_name, t.percent, t.tag) for t in gateway_api.applied(obj)] == [
        (t.revision_name, t.percent, t.tag) for t in rt.spec.traffic if t.percent or t.tag
    ]


@pytest.mark.parametrize("case", CASES)
def test_virtualservice_fits_the_schema_and_reads_back(case: str) -> None:
    """The VirtualService passes the CRD's schema; read back, it holds the route's split
    and rules."""
    rt = route_of(case, "istio")
    obj = istio.build(rt)
    assert causes("VirtualService", obj) == []
    held = istio.rules(obj)
    assert ruleplan.rules_key(
        held.header_routes, held.mirrors, held.session_affinity
    ) == ruleplan.rules_key(rt.spec.header_routes, rt.spec.mirrors, rt.spec.session_affinity)
    assert [(t.revision_name, t.percent, t.tag) for t in istio.applied(obj)] == [
        (t.revision_name, t.percent, t.tag) for t in rt.spec.traffic if t.percent or t.tag
    ]


def test_httproute_shapes_of_each_rule() -> None:
    """A prefix is an anchored escaped regex, a cookie a Cookie-header regex, a mirror a
    RequestMirror filter with percent on its rule, the sticky canary's backendRefs add
    Set-Cookie; a header route goes first among the rules that are not tags."""
    rt = make_route(
        canary=10,
        header_routes=[{"name": "qa", "match": [{"header": "X-User", "prefix": "a.b"}]}],
        mirrors=[],
        sticky=True,
    )
    rules = gateway_api.build(rt)["spec"]["rules"]
    assert rules[0]["matches"][0]["headers"] == [
        {"type": "RegularExpression", "name": "x-user", "value": r"^a\.b.*$"}
    ]
    assert rules[1]["matches"][0]["headers"] == [
        {
            "type": "RegularExpression",
            "name": "Cookie",
            "value": r"^(?:.*;\s*)?rollout-canary=r1(?:\s*;.*)?$",
        }
    ]
    canary_ref = rules[-1]["backendRefs"][1]
    assert canary_ref["filters"] == [
        {
            "type": "ResponseHeaderModifier",
            "responseHeaderModifier": {
                "add": [{"name": "Set-Cookie", "value": "rollout-canary=r1; Max-Age=3600; Path=/"}]
            },
        }
    ]
    assert "filters" not in rules[-1]["backendRefs"][0]
    mirrored = gateway_api.build(make_route(mirrors=[MIRROR_ON]))["spec"]["rules"]
    assert mirrored[0]["filters"] == [
        {
            "type": "RequestMirror",
            "requestMirror": {
                "backendRef": {"group": "", "kind": "Service", "name": CANARY, "port": 80},
                "percent": 50,
            },
        }
    ]
    assert [r["weight"] for r in mirrored[0]["backendRefs"]] == [100]


def test_virtualservice_shapes_of_each_route() -> None:
    """Istio takes prefix and regex as they are, a cookie as a regex on `cookie`, a mirror
    as `mirror` + `mirrorPercentage`, the sticky cookie as `headers.response.add` on the
    canary's destination."""
    rt = make_route(canary=10, header_routes=[QA], mirrors=[], sticky=True)
    http = istio.build(rt)["spec"]["http"]
    assert [h["name"] for h in http] == ["header-qa", "sticky", "weighted"]
    assert http[0]["match"] == [{"headers": {"x-user": {"prefix": "qa-"}}}]
    assert http[1]["match"] == [
        {"headers": {"cookie": {"regex": r"^(?:.*;\s*)?rollout-canary=r1(?:\s*;.*)?$"}}}
    ]
    assert http[2]["route"][1]["headers"] == {
        "response": {"add": {"set-cookie": "rollout-canary=r1; Max-Age=3600; Path=/"}}
    }
    mirrored = istio.build(make_route(mirrors=[MIRROR_ALL]))["spec"]["http"]
    assert mirrored[-1]["mirror"] == {
        "host": f"{CANARY}.shop.svc.cluster.local",
        "port": {"number": 80},
    }
    assert mirrored[-1]["mirrorPercentage"] == {"value": 10.0}


# ---- the data planes' matching, evaluated ------------------------------------------


def request_pool() -> list[dict[str, str]]:
    """Sample requests (lower-case header names) meeting and missing every condition."""
    choices = {
        "rollout-tag": [None, "stable", "canary"],
        "x-user": [None, "qa-1", "bob", "alllce"],
        "x-beta": [None, "yes"],
        "x-mirror": [None, "on"],
        "cookie": [
            None,
            "beta=1",
            "rollout-canary=r1",
            "a=2; beta=1; rollout-canary=r1",
            "xbeta=1",
        ],
    }
    out = []
    for values in itertools.product(*choices.values()):
        out.append({k: v for k, v in zip(choices, values, strict=True) if v is not None})
    return out


def ours(rt: route.Route, headers: dict[str, str]) -> tuple[str, tuple[str, int] | None]:
    """Where our precedence sends a request ("weighted": by the weights) and what copies it."""
    cookies = matching.parse_cookies(headers.get("cookie"))
    dest = "weighted"
    tag = headers.get("rollout-tag")
    pinned = next((t.revision_name for t in rt.spec.traffic if t.tag and t.tag == tag), None)
    sticky = rt.spec.session_affinity
    if pinned is not None:
        dest = pinned
    elif hr := next(
        (h for h in rt.spec.header_routes if matching.matches(h.match, headers, cookies)), None
    ):
        dest = hr.revision_name
    elif sticky is not None and cookies.get(sticky.cookie_name) == sticky.cookie_value:
        dest = sticky.revision_name
    for m in rt.spec.mirrors:
        if m.percent and (not m.match or matching.matches(m.match, headers, cookies)):
            if m.revision_name == dest:
                return dest, None
            return dest, (m.revision_name, m.percent)
    return dest, None


def _gw_header_holds(h: Doc, headers: dict[str, str]) -> bool:
    got = headers.get(h["name"].lower())
    if got is None:
        return False
    if h.get("type", "Exact") == "Exact":
        return bool(got == h["value"])
    return re.fullmatch(h["value"], got) is not None


def gateway(obj: Doc, headers: dict[str, str]) -> tuple[str, tuple[str, int] | None]:
    """Gateway API: of the matches a request meets, the most header matches win; then
    the earlier rule."""
    best: tuple[int, int] | None = None
    for i, rule in enumerate(obj["spec"]["rules"]):
        for m in rule["matches"]:
            if all(_gw_header_holds(h, headers) for h in m.get("headers", [])):
                key = (-len(m.get("headers", [])), i)
                best = key if best is None or key < best else best
    assert best is not None
    rule = obj["spec"]["rules"][best[1]]
    role = ruleplan.parse_label(_label(obj, best[1]))[0]
    dest = "weighted" if role in ("mirror", "weighted") else rule["backendRefs"][0]["name"]
    mirror = next(
        (
            (f["requestMirror"]["backendRef"]["name"], f["requestMirror"]["percent"])
            for f in rule.get("filters", [])
            if f["type"] == "RequestMirror"
        ),
        None,
    )
    return dest, mirror


def _label(obj: Doc, i: int) -> str:
    return str(obj["metadata"]["annotations"][gateway_api.RULES_ANNOTATION].split(",")[i])


def _istio_holds(said: Doc, got: str | None) -> bool:
    if got is None:
        return False
    if "exact" in said:
        return bool(got == said["exact"])
    if "prefix" in said:
        return got.startswith(said["prefix"])
    return re.fullmatch(said["regex"], got) is not None


def istio_route(obj: Doc, headers: dict[str, str]) -> tuple[str, tuple[str, int] | None]:
    """Istio: the first route with a match the request meets (no match: every request)."""
    for http in obj["spec"]["http"]:
        matches = http.get("match") or [{}]
        if any(
            all(_istio_holds(v, headers.get(k)) for k, v in (m.get("headers") or {}).items())
            for m in matches
        ):
            role = ruleplan.parse_label(http["name"])[0]
            dest = (
                http["route"][0]["destination"]["host"].split(".")[0]
                if role not in ("mirror", "weighted")
                else "weighted"
            )
            mirror = None
            if "mirror" in http:
                mirror = (
                    http["mirror"]["host"].split(".")[0],
                    round(http["mirrorPercentage"]["value"]),
                )
            return dest, mirror
    raise AssertionError("no route matched")


@pytest.mark.parametrize("case", CASES)
def test_gateway_api_routes_every_request_as_our_precedence(case: str) -> None:
    """For every sample request, the HTTPRoute (ranked as Gateway API ranks matches)
    sends it where our precedence does and copies it to the same mirror."""
    rt = route_of(case, "gateway-api")
    obj = gateway_api.build(rt)
    for headers in request_pool():
        assert gateway(obj, headers) == ours(rt, headers), headers


@pytest.mark.parametrize("case", CASES)
def test_istio_routes_every_request_as_our_precedence(case: str) -> None:
    """For every sample request, the VirtualService (first match wins) sends it where our
    precedence does and copies it to the same mirror."""
    rt = route_of(case, "istio")
    obj = istio.build(rt)
    for headers in request_pool():
        assert istio_route(obj, headers) == ours(rt, headers), headers


# ---- refused -------------------------------------------------------------------------

REFUSED = {
    "mirror-to-a-revision-with-weight": (
        {"canary": 10, "mirrors": [MIRROR_ALL]},
        ("gateway-api", "istio"),
        "which also gets weight",
    ),
    "two-conditions-on-one-header": (
        {
            "header_routes": [
                {
                    "name": "twice",
                    "match": [
                        {
                            "all": [
                                {"header": "X-A", "prefix": "a"},
                                {"header": "x-a", "regex": "a.*b"},
                            ]
                        }
                    ],
                }
            ]
        },
        ("gateway-api", "istio"),
        "tests header x-a twice",
    ),
    "two-cookies-in-one-match": (
        {
            "header_routes": [
                {
                    "name": "cookies",
                    "match": [
                        {"all": [{"cookie": "a", "exact": "1"}, {"cookie": "b", "exact": "2"}]}
                    ],
                }
            ]
        },
        ("gateway-api", "istio"),
        "tests cookies twice",
    ),
    "mirror-after-a-mirror-of-everything": (
        {"mirrors": [MIRROR_ALL, MIRROR_ON]},
        ("gateway-api", "istio"),
        "never be the first mirror that matches",
    ),
    "a-wider-mirror-outranks-a-cookie-route": (
        {
            "header_routes": [COOKIE],
            "mirrors": [
                {
                    "name": "wide",
                    "percent": 10,
                    "match": [
                        {
                            "all": [
                                {"cookie": "group", "exact": "a"},
                                {"header": "X-A", "exact": "1"},
                            ]
                        }
                    ],
                }
            ],
        },
        ("gateway-api",),
        "would outrank the header-cookie rule",
    ),
    "a-cookie-regex-longer-than-a-header-match-holds": (
        {"header_routes": [{"name": "long", "match": [{"cookie": "c", "exact": "." * 2100}]}]},
        ("gateway-api",),
        "characters as an HTTPRoute header match",
    ),
    "more-rules-than-an-httproute-holds": (
        {
            "header_routes": [
                {"name": f"r{i}", "match": [{"header": f"X-R{i}", "exact": "1"}]} for i in range(16)
            ]
        },
        ("gateway-api",),
        "an HTTPRoute holds at most 16",
    ),
}


@pytest.mark.parametrize(("route_fields", "routers", "said"), REFUSED.values(), ids=REFUSED.keys())
def test_combinations_a_router_cannot_express_are_refused(
    route_fields: Doc, routers: tuple[str, ...], said: str
) -> None:
    """route_limits names what the router cannot express; the builder refuses to write a
    partial route; the other router (where it can) builds it."""
    for router in ("gateway-api", "istio"):
        rt = make_route(router=router, **route_fields)
        found = routing.route_limits(
            rt.spec.routing,
            rt.spec.traffic,
            ("spec",),
            header_routes=rt.spec.header_routes,
            mirrors=rt.spec.mirrors,
            sticky=rt.spec.session_affinity,
        )
        module = gateway_api if router == "gateway-api" else istio
        if router in routers:
            assert found
            assert any(said in p.message for p in found), found
            assert all(p.message.startswith(f"{router}: ") for p in found)
            with pytest.raises(ValueError, match=re.escape(said)):
                module.build(rt)
        else:
            assert found == []
            assert causes("VirtualService", istio.build(rt)) == []


# ---- the schemas refuse what the API servers refuse --------------------------------


def _mirror_rule(**mirror: Any) -> Doc:
    obj = gateway_api.build(make_route(mirrors=[MIRROR_ON]))
    obj["spec"]["rules"][0]["filters"][0]["requestMirror"].update(mirror)
    return obj


SCHEMA_REFUSES = {
    "percent-above-100": (lambda: _mirror_rule(percent=101), "HTTPRoute", "100"),
    "percent-and-fraction": (
        lambda: _mirror_rule(fraction={"numerator": 1, "denominator": 10}),
        "HTTPRoute",
        "percent or fraction, not both",
    ),
    "fraction-above-one": (
        lambda: _mirror_rule(percent=None, fraction={"numerator": 11, "denominator": 10}),
        "HTTPRoute",
        "numerator is at most its denominator",
    ),
    "header-match-prefix-type": (
        lambda: _edit_rule(lambda r: r["matches"][0]["headers"][0].update(type="Prefix")),
        "HTTPRoute",
        "supported values",
    ),
    "two-response-header-modifiers": (
        lambda: _edit_sticky(lambda ref: ref["filters"].append(copy.deepcopy(ref["filters"][0]))),
        "HTTPRoute",
        "at most one ResponseHeaderModifier filter",
    ),
    "modifier-of-another-type": (
        lambda: _edit_sticky(lambda ref: ref["filters"][0].update(type="RequestHeaderModifier")),
        "HTTPRoute",
        "responseHeaderModifier is given exactly when",
    ),
    "more-than-128-matches": (
        lambda: _edit_all(
            lambda rules: [r.update(matches=[copy.deepcopy(r["matches"][0])] * 60) for r in rules]
        ),
        "HTTPRoute",
        "at most 128 matches",
    ),
    "istio-mirror-percentage-above-100": (
        lambda: _edit_vs(lambda http: http[-1].update(mirrorPercentage={"value": 150.0})),
        "VirtualService",
        "150",
    ),
}


def _edit_rule(edit: Any) -> Doc:
    obj = gateway_api.build(make_route(header_routes=[BETA]))
    edit(obj["spec"]["rules"][0])
    return obj


def _edit_sticky(edit: Any) -> Doc:
    obj = gateway_api.build(make_route(canary=10, sticky=True))
    edit(obj["spec"]["rules"][-1]["backendRefs"][1])
    return obj


def _edit_all(edit: Any) -> Doc:
    obj = gateway_api.build(make_route(header_routes=[BETA, QA, RE]))
    edit(obj["spec"]["rules"])
    return obj


def _edit_vs(edit: Any) -> Doc:
    obj = istio.build(make_route(mirrors=[MIRROR_ALL]))
    edit(obj["spec"]["http"])
    return obj


@pytest.mark.parametrize(
    ("make", "kind", "said"), SCHEMA_REFUSES.values(), ids=SCHEMA_REFUSES.keys()
)
def test_the_schemas_refuse_what_the_api_servers_refuse(make: Any, kind: str, said: str) -> None:
    """Edited past the upstream limits, the objects are refused by the emulator's CRDs."""
    found = causes(kind, make())
    assert any(said in c for c in found), found


# ---- the matchers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["a.b", "x+y*z?", "(a|b)", "[x]{2}", "^$", "back\\slash", "qa-#&~!%'`", "ünï"]
)
def test_escaped_text_matches_only_itself(text: str) -> None:
    """escape/unescape round-trip; the escaped pattern matches the text and nothing longer."""
    pattern = matchers.escape(text)
    assert matchers.unescape(pattern) == text
    assert re.fullmatch(pattern, text)
    assert not re.fullmatch(pattern, text + "x")
    assert matching.regex_problem(pattern) is None


@pytest.mark.parametrize(
    ("cookie", "header", "holds"),
    [
        pytest.param(("beta", "exact", "1"), "beta=1", True, id="alone"),
        pytest.param(("beta", "exact", "1"), "a=2; beta=1; c=3", True, id="among-others"),
        pytest.param(("beta", "exact", "1"), "a=2;beta=1", True, id="no-space"),
        pytest.param(("beta", "exact", "1"), "xbeta=1", False, id="longer-name"),
        pytest.param(("beta", "exact", "1"), "beta=10", False, id="longer-value"),
        pytest.param(("a.b", "exact", "1"), "axb=1", False, id="dot-in-name-escaped"),
        pytest.param(("beta", "regex", "[0-9]+"), "beta=42; z=1", True, id="regex"),
        pytest.param(("beta", "regex", "[0-9]+"), "beta=4x", False, id="regex-whole-value"),
    ],
)
def test_cookie_regex(cookie: tuple[str, str, str], header: str, holds: bool) -> None:
    """The Cookie header regex finds the cookie by name and value, and reads back."""
    pattern = matchers.cookie_regex(*cookie)
    assert (re.fullmatch(pattern, header) is not None) is holds
    assert (re.search(pattern, header) is not None) is holds  # anchored: search agrees
    assert matchers.parse_cookie_regex(pattern) == ruleplan.Cond(True, *cookie)  # type: ignore[arg-type]


# ---- any combination: refused, or routed as our precedence says ---------------------

_VALUES = ["1", "12", "2"]
_CONDITION = st.one_of(
    st.builds(
        lambda h, kind, v: {"header": h, kind: v if kind != "regex" else f"{v}[0-9]*"},
        st.sampled_from(["X-A", "X-B"]),
        st.sampled_from(["exact", "prefix", "regex"]),
        st.sampled_from(_VALUES),
    ),
    st.builds(
        lambda c, v: {"cookie": c, "exact": v},
        st.sampled_from(["c1", "c2"]),
        st.sampled_from(_VALUES),
    ),
)
_ENTRY = st.one_of(
    _CONDITION, st.lists(_CONDITION, min_size=2, max_size=3).map(lambda cs: {"all": cs})
)
_MATCH = st.lists(_ENTRY, min_size=1, max_size=2)


@st.composite
def _routes(draw: st.DrawFn) -> Doc:
    header_routes = [
        {"name": f"h{i}", "match": m} for i, m in enumerate(draw(st.lists(_MATCH, max_size=2)))
    ]
    mirrors = [
        {"name": f"m{i}", "percent": 10 * (i + 1), **({"match": m} if m else {})}
        for i, m in enumerate(draw(st.lists(st.one_of(st.none(), _MATCH), max_size=2)))
    ]
    return {
        "tags": draw(st.booleans()),
        "sticky": draw(st.booleans()),
        "header_routes": header_routes,
        "mirrors": mirrors,
    }


def _small_pool() -> list[dict[str, str]]:
    choices = {
        "rollout-tag": [None, "stable", "canary"],
        "x-a": [None, "1", "12", "2"],
        "x-b": [None, "1", "2"],
        "cookie": [None, "c1=1", "c2=12", "c1=1; c2=1", "c1=2; rollout-canary=r1"],
    }
    return [
        {k: v for k, v in zip(choices, values, strict=True) if v is not None}
        for values in itertools.product(*choices.values())
    ]


@hypothesis.settings(max_examples=150, deadline=None)
@hypothesis.given(fields=_routes())
def test_any_combination_is_refused_or_routed_as_our_precedence(fields: Doc) -> None:
    """Random header routes, mirrors, tags and sticky sessions: each router either
    refuses the route, or routes and mirrors every sample request as we would."""
    try:
        make_route(**fields)
    except ValueError:  # e.g. a condition the models refuse: not the routers' concern
        hypothesis.reject()
    for router, module, evaluate in (
        ("gateway-api", gateway_api, gateway),
        ("istio", istio, istio_route),
    ):
        rt = make_route(router=router, **fields)
        try:
            obj = module.build(rt)
        except ValueError:
            continue
        if router == "gateway-api":
            assert causes("HTTPRoute", obj) == []
        for headers in _small_pool():
            assert evaluate(obj, headers) == ours(rt, headers), (router, headers)


@pytest.mark.parametrize(
    "cond",
    [
        ruleplan.Cond(True, "c.x", "exact", "a+b (c)"),
        ruleplan.Cond(True, "c", "regex", "[0-9]+"),
        ruleplan.Cond(False, "x-a", "exact", "v"),
        ruleplan.Cond(False, "x-a", "exact", ""),
        ruleplan.Cond(False, "x-a", "prefix", "a.b$"),
        ruleplan.Cond(False, "x-a", "regex", "a|b"),
    ],
    ids=repr,
)
def test_the_plan_counts_header_values_as_the_builder_writes_them(cond: ruleplan.Cond) -> None:
    """ruleplan.gateway_length (the limit route_limits checks) is the written length."""
    written = gateway_api.header_match(cond)["value"]
    assert ruleplan.gateway_length(cond) == len(written), written
