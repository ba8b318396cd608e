"""Request matching: which requests a header route sends to the canary, which ones a
mirror copies, and the sticky-session cookie — the shapes shared by the policy's steps,
the Route and every data plane.

A `Match` is one of:

    {header: NAME, exact|prefix|regex: VALUE}    the request header NAME
    {cookie: NAME, exact|regex: VALUE}           the cookie NAME of the Cookie header
    {all: [CONDITION, …]}                        every condition holds (AND)

and a list of matches is OR: a request matches the list when it matches any entry.
Header names are RFC 7230 tokens and compared without case; values are compared with
case. `exact` is equality, `prefix` a string prefix, `regex` a *full* match of the
value (as Envoy — hence Istio and most Gateway API implementations — matches). The
regexes must stay inside what RE2 (the cluster data planes' engine) and Python's `re`
(the local proxy's) read alike: no backreferences, lookaround, atomic groups,
possessive repeats or conditionals (`regex_problem` says which one).

`matches(entries, headers, cookies)` is the one evaluation of these rules; the local
proxy and the tests use it.

On the Route (what the data plane applies; written by the Service from its Release):

    headerRoutes:     [{name, match, revisionName}]   matching requests go to revisionName
    mirrors:          [{name, percent, match, revisionName}]
                      a copy of percent% of the (matching, or all when match is empty)
                      requests served by another revision goes to revisionName; the client
                      gets the first answer only
    sessionAffinity:  {cookieName, cookieValue, maxAge, revisionName}
                      a client served by revisionName gets `Set-Cookie: NAME=VALUE;
                      Max-Age=…`; a request carrying it goes to revisionName

Precedence for one request: the `Rollout-Revision` / `Rollout-Tag` pins, then the
header routes in order, then the session cookie, then the weights; a mirror copies a
request that was not sent to the mirror's revision (the first mirror that matches).

Pure data and rules; no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import timedelta

from pydantic import Field, model_validator

from rollout.api import base, durations, problems

__all__ = [
    "MAX_CONDITIONS",
    "MAX_MATCHES",
    "MAX_VALUE",
    "Condition",
    "HeaderRoute",
    "HeaderRouteStep",
    "Match",
    "Mirror",
    "MirrorStep",
    "SessionAffinity",
    "StickySession",
    "conditions_of",
    "header_name_problem",
    "matches",
    "parse_cookies",
    "regex_problem",
]

#: Bounds the cluster data planes impose or that keep a route readable: an HTTPRoute
#: has at most 64 matches per rule and 16 header matches per match; header values at
#: most 4096 characters.
MAX_MATCHES = 16
MAX_CONDITIONS = 16
MAX_VALUE = 4096
MAX_NAME = 256

# RFC 7230 §3.2.6 token: the characters of a header (and RFC 6265 cookie) name.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def header_name_problem(name: str) -> str | None:
    """Why `name` is not an RFC 7230 header name (a token), or None."""
    if not name:
        return "must not be empty"
    if len(name) > MAX_NAME:
        return f"at most {MAX_NAME} characters"
    if not _TOKEN.fullmatch(name):
        return (
            f"{name!r} is not an HTTP header name (RFC 7230 token: letters, digits and"
            " !#$%&'*+-.^_`|~, no spaces or ':')"
        )
    return None


def regex_problem(pattern: str) -> str | None:
    """Why `pattern` is not a regex both RE2 and Python read alike, or None."""
    if any(c in pattern for c in "\r\n\x00"):
        return "must be one line (no line breaks or NUL)"
    try:
        re.compile(pattern)
    except re.error as err:
        return f"is not a valid regular expression: {err}"
    # Constructs RE2 refuses (or reads differently); checked on the text, after
    # Python has accepted the pattern. An escaped `\(` never starts a group.
    unescaped = re.sub(r"\\.", "__", pattern)
    refused = [
        (r"\(\?[=!]", "lookahead (?= / (?!"),
        (r"\(\?<[=!]", "lookbehind (?<= / (?<!"),
        (r"\(\?>", "atomic groups (?>"),
        (r"\(\?\(", "conditionals (?(…)"),
        (r"\(\?P=", "backreferences (?P=name)"),
        (r"[*+?}]\+", "possessive repeats (*+, ++, ?+)"),
    ]
    for construct, what in refused:
        if re.search(construct, unescaped):
            return f"uses {what}, which RE2 (the cluster data planes' engine) does not support"
    if re.search(r"\\[1-9]", pattern.replace("\\\\", "__")):
        return (
            "uses a backreference (\\1…), which RE2 (the cluster data planes' engine)"
            " does not support"
        )
    return None


class Condition(base.ApiModel):
    """One condition on a request: a header or a cookie, compared exactly, by prefix or by
    a full regex match."""

    header: str | None = None
    """The request header to compare (case-insensitive name)."""
    cookie: str | None = None
    """The cookie (of the Cookie header) to compare."""
    exact: str | None = None
    """The value equals this."""
    prefix: str | None = None
    """The value starts with this (headers only)."""
    regex: str | None = None
    """The whole value matches this regular expression (RE2 subset)."""

    @model_validator(mode="after")
    def _rules(self) -> Condition:
        problems.raise_problems("Condition", condition_problems(self))
        return self

    @property
    def name(self) -> str:
        return self.header if self.header is not None else self.cookie or ""

    @property
    def kind(self) -> str:
        """`exact`, `prefix` or `regex`."""
        return (
            "exact" if self.exact is not None else "prefix" if self.prefix is not None else "regex"
        )

    @property
    def value(self) -> str:
        value = (
            self.exact
            if self.exact is not None
            else self.prefix
            if self.prefix is not None
            else self.regex
        )
        return value or ""

    def holds(self, headers: Mapping[str, str], cookies: Mapping[str, str]) -> bool:
        """Whether the request (headers with lower-case names, its cookies) meets this."""
        if self.header is not None:
            got = headers.get(self.header.lower())
        else:
            got = cookies.get(self.cookie or "")
        if got is None:
            return False
        if self.exact is not None:
            return got == self.exact
        if self.prefix is not None:
            return got.startswith(self.prefix)
        return _compiled(self.regex or "").fullmatch(got) is not None

    def describe(self) -> str:
        what = f"header {self.header}" if self.header is not None else f"cookie {self.cookie}"
        op = {"exact": "=", "prefix": "starts with", "regex": "~"}[self.kind]
        return f"{what} {op} {self.value!r}"


def condition_problems(c: Condition) -> list[problems.Problem]:
    found = []
    named = [f for f in ("header", "cookie") if getattr(c, f) is not None]
    if len(named) != 1:
        found.append(
            problems.Problem(
                (), f"give exactly one of header, cookie (got {', '.join(named) or 'none'})"
            )
        )
    compared = [f for f in ("exact", "prefix", "regex") if getattr(c, f) is not None]
    if len(compared) != 1:
        found.append(
            problems.Problem(
                (),
                f"give exactly one of exact, prefix, regex (got {', '.join(compared) or 'none'})",
            )
        )
    if c.cookie is not None and c.prefix is not None:
        found.append(problems.Problem(("prefix",), "a cookie is matched by exact or regex"))
    for field in named:
        if (why := header_name_problem(getattr(c, field))) is not None:
            found.append(problems.Problem((field,), why))
    for field in compared:
        value = getattr(c, field)
        if not value and field != "exact":
            found.append(problems.Problem((field,), "must not be empty"))
        elif len(value) > MAX_VALUE:
            found.append(problems.Problem((field,), f"at most {MAX_VALUE} characters"))
        elif any(ch in value for ch in "\r\n\x00"):
            found.append(problems.Problem((field,), "must be one line (no line breaks or NUL)"))
        elif field == "regex" and (why := regex_problem(value)) is not None:
            found.append(problems.Problem((field,), why))
    return found


class Match(base.ApiModel):
    """A condition (the fields of `Condition`), or `all` of several (AND). The entries of
    a list of matches are OR."""

    header: str | None = None
    """The request header to compare (case-insensitive name)."""
    cookie: str | None = None
    """The cookie (of the Cookie header) to compare."""
    exact: str | None = None
    """The value equals this."""
    prefix: str | None = None
    """The value starts with this (headers only)."""
    regex: str | None = None
    """The whole value matches this regular expression (RE2 subset)."""
    all: list[Condition] | None = Field(default=None, min_length=1, max_length=MAX_CONDITIONS)
    """Every one of these conditions holds (AND); given alone."""

    @model_validator(mode="after")
    def _rules(self) -> Match:
        if self.all is not None:
            given = [
                f
                for f in ("header", "cookie", "exact", "prefix", "regex")
                if getattr(self, f) is not None
            ]
            found = [problems.Problem((f,), "give all, or one condition — not both") for f in given]
        else:
            found = condition_problems(self)  # type: ignore[arg-type]
        problems.raise_problems("Match", found)
        return self

    def conditions(self) -> list[Condition]:
        """The conditions that must all hold."""
        if self.all is not None:
            return list(self.all)
        return [
            Condition.model_construct(
                header=self.header,
                cookie=self.cookie,
                exact=self.exact,
                prefix=self.prefix,
                regex=self.regex,
            )
        ]

    def holds(self, headers: Mapping[str, str], cookies: Mapping[str, str]) -> bool:
        """Whether the request (headers with lower-case names, its cookies) matches."""
        return all(c.holds(headers, cookies) for c in self.conditions())

    def describe(self) -> str:
        return " and ".join(c.describe() for c in self.conditions())


def conditions_of(entries: Sequence[Match]) -> list[list[Condition]]:
    """The list as OR of ANDs: one list of conditions per entry."""
    return [m.conditions() for m in entries]


def matches(
    entries: Sequence[Match], headers: Mapping[str, str], cookies: Mapping[str, str]
) -> bool:
    """Whether a request matches any of `entries` (headers keyed by lower-case name)."""
    return any(m.holds(headers, cookies) for m in entries)


def parse_cookies(header: str | None) -> dict[str, str]:
    """The cookies of a Cookie header (`a=1; b=2`); the first of a repeated name wins."""
    out: dict[str, str] = {}
    for part in (header or "").split(";"):
        name, eq, value = part.strip().partition("=")
        if eq and name and name not in out:
            out[name] = value.strip()
    return out


_CACHE: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    found = _CACHE.get(pattern)
    if found is None:
        if len(_CACHE) > 1024:
            _CACHE.clear()
        found = _CACHE[pattern] = re.compile(pattern)
    return found


def _unique_matches(entries: Sequence[Match], loc: problems.Loc) -> list[problems.Problem]:
    if len(entries) > MAX_MATCHES:
        return [problems.Problem(loc, f"at most {MAX_MATCHES} match entries")]
    return []


# --- the policy's steps ---------------------------------------------------------------


class HeaderRouteStep(base.ApiModel):
    """`setHeaderRoute`: requests matching any entry of `match` go to the canary, whatever
    its weight. A later step with the same name and no `match` removes the route."""

    name: base.Name
    """The route's name: a later step with this name replaces or (without match) removes it."""
    match: list[Match] | None = None
    """The requests that go to the canary: any entry (OR); absent, the route is removed."""

    @model_validator(mode="after")
    def _rules(self) -> HeaderRouteStep:
        found = _unique_matches(self.match or [], ("match",))
        if self.match is not None and not self.match:
            found.append(
                problems.Problem(
                    ("match",), "give at least one entry, or leave match out to remove the route"
                )
            )
        problems.raise_problems("HeaderRouteStep", found)
        return self


class MirrorStep(base.ApiModel):
    """`setMirror`: a copy of `percent`% of the (matching) requests goes to the canary; the
    client gets the stable's answer; the canary's answers are measured. A later step with
    the same name and `percent: 0` removes the mirror."""

    name: base.Name
    """The mirror's name: a later step with this name replaces or (percent 0) removes it."""
    percent: base.Percent
    """The share of the (matching) requests copied to the canary, 0 to 100 (0 removes)."""
    match: list[Match] | None = None
    """The requests to copy from: any entry (OR); absent, all requests."""

    @model_validator(mode="after")
    def _rules(self) -> MirrorStep:
        found = _unique_matches(self.match or [], ("match",))
        if self.match is not None and not self.match:
            found.append(
                problems.Problem(
                    ("match",), "give at least one entry, or leave match out to mirror all requests"
                )
            )
        problems.raise_problems("MirrorStep", found)
        return self


class SessionAffinity(base.ApiModel):
    """On the policy: a client routed to the canary gets a cookie and stays on the canary
    while the release runs (weights only grow); on rollback it goes back to the stable."""

    cookie_name: str = "rollout-canary"
    """The cookie that keeps a client on the canary."""
    max_age: durations.PositiveDuration = timedelta(days=1)
    """How long the cookie lasts in the client (its Max-Age)."""

    @model_validator(mode="after")
    def _rules(self) -> SessionAffinity:
        if (why := header_name_problem(self.cookie_name)) is not None:
            problems.raise_problems(
                "SessionAffinity",
                [problems.Problem(("cookieName",), why.replace("HTTP header", "cookie"))],
            )
        return self


# --- on the Route: what the data plane applies ----------------------------------------


class HeaderRoute(base.ApiModel):
    """Requests matching any entry go to `revisionName`."""

    name: base.Name
    """The name of the policy step's route."""
    match: list[Match] = Field(min_length=1, max_length=MAX_MATCHES)
    """The requests that go to the revision: any entry (OR)."""
    revision_name: str
    """The revision matching requests go to."""


class Mirror(base.ApiModel):
    """A copy of `percent`% of the matching requests (all when `match` is empty) served
    by another revision goes to `revisionName`."""

    name: base.Name
    """The name of the policy step's mirror."""
    percent: base.Percent
    """The share of the matching requests copied, 1 to 100."""
    match: list[Match] = Field(default_factory=list, max_length=MAX_MATCHES)
    """The requests to copy from: any entry (OR); empty, all requests."""
    revision_name: str
    """The revision that gets the copies."""


class StickySession(base.ApiModel):
    """A client served by `revisionName` gets the cookie; a request carrying it goes to
    `revisionName`."""

    cookie_name: str
    """The cookie's name."""
    cookie_value: str = Field(pattern=r"^[A-Za-z0-9._-]{1,128}$")
    """The cookie's value: names this release, so that a cookie of an earlier release never
    pins a later canary."""
    max_age: durations.PositiveDuration
    """The cookie's Max-Age."""
    revision_name: str
    """The revision the cookie keeps a client on."""
