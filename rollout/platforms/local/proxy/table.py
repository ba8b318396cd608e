"""The proxy's target table: which revision gets a request, and the admin body that sets
it.

A `Table` is immutable. The server keeps one per service and swaps it whole on every
`PUT /v1/routes/...`, so a request reads one consistent table and in-flight requests
keep the upstream they picked.

Picking, in order:
1. `Rollout-Revision: <name>` pins to that revision's first target (at any percent,
   0% included); no such target → `Miss` (404); not ready → `Miss` (502).
2. `Rollout-Tag: <tag>` pins to the tagged target, the same way.
3. Otherwise weighted random over the *ready* targets with a percent above 0: a target
   that is not ready (url null) gets no traffic and its share goes to the ready ones in
   proportion. A 0% target never gets unpinned traffic, even when nothing else is ready
   (weight 0 means "no traffic": a blue-green preview must not take production
   requests); no ready target with weight → `Miss` (502).
   `pick(exclude=revision)` picks the same way among the other revisions: the one
   retry of a request whose upstream refused the connection (`forward`).

`choose(rng, headers)` is the whole decision for one request, with the table's
request rules (`rules`: header routes, mirrors, the sticky session): the pins above,
then the first header route the request matches (a pin: its revision not ready →
`Miss` 502, no retry elsewhere), then the session cookie of this release (its
revision not ready → the weights), then the weights; and the mirror, if any, that
gets a copy. A target of the sticky revision carries the `Set-Cookie` its responses
get (`Target.set_cookie`), whichever way the request reached it.

`parse_route` validates the admin body and returns a clear message per problem
(`targets[1].percent: must be an integer between 0 and 100`). A target URL must be
`http://127.0.0.1:PORT`: the proxy forwards only to revision processes on this
machine (that the port belongs to one of our revisions is checked by the server,
against the state dir's run files). Names (namespace, revision) are DNS labels, so a
name can never reach outside the run directory.

Pure: no I/O; the random source is passed in.
"""

from __future__ import annotations

import bisect
import dataclasses
import random
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

from rollout.api import matching, names
from rollout.platforms.local.proxy import rules

__all__ = [
    "Choice",
    "InvalidRoute",
    "Miss",
    "RouteBody",
    "Table",
    "Target",
    "name_problem",
    "parse_route",
    "port_of",
]

LOOPBACK = "127.0.0.1"
REVISION_HEADER = names.REVISION_HEADER
TAG_HEADER = names.TAG_HEADER
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


@dataclasses.dataclass(frozen=True)
class Target:
    revision: str
    url: str | None  # None: not ready, gets no traffic
    percent: int
    tag: str | None = None
    # The sticky session's Set-Cookie, on targets of its revision (set by `Table`).
    set_cookie: str | None = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def ready(self) -> bool:
        return self.url is not None

    def as_json(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "url": self.url,
            "percent": self.percent,
            "tag": self.tag,
            "ready": self.ready,
        }


@dataclasses.dataclass(frozen=True)
class Miss:
    """No target for this request: the HTTP status to answer and why."""

    status: int
    reason: str


@dataclasses.dataclass(frozen=True, slots=True)
class Choice:
    """The decision for one request: where it goes, whether it was pinned (a pin or a
    header route: no retry elsewhere), and the mirror that gets a copy."""

    picked: Target | Miss
    pinned: bool = False
    mirror: matching.Mirror | None = None
    mirror_target: Target | None = None  # the mirror's revision (maybe not ready)


@dataclasses.dataclass(frozen=True)
class Table:
    """The targets of one service, with the cumulative weights of the ready ones, and its
    request rules."""

    targets: tuple[Target, ...] = ()
    rules: rules.Rules = rules.NONE
    _weighted: tuple[Target, ...] = dataclasses.field(default=(), init=False, repr=False)
    _cumulative: tuple[int, ...] = dataclasses.field(default=(), init=False, repr=False)

    def __post_init__(self) -> None:
        cookie = self.rules.set_cookie()
        if cookie is not None:
            sticky = self.rules.sticky
            assert sticky is not None
            object.__setattr__(
                self,
                "targets",
                tuple(
                    dataclasses.replace(t, set_cookie=cookie)
                    if t.revision == sticky.revision_name
                    else t
                    for t in self.targets
                ),
            )
        weighted = tuple(t for t in self.targets if t.ready and t.percent > 0)
        cumulative: list[int] = []
        total = 0
        for t in weighted:
            total += t.percent
            cumulative.append(total)
        object.__setattr__(self, "_weighted", weighted)
        object.__setattr__(self, "_cumulative", tuple(cumulative))

    def shares(self) -> dict[str, float]:
        """The effective share (0–1) of unpinned traffic each revision gets."""
        total = self._cumulative[-1] if self._cumulative else 0
        out: dict[str, float] = {}
        for t in self._weighted:
            out[t.revision] = out.get(t.revision, 0.0) + t.percent / total
        return out

    def choose(self, rng: random.Random, headers: Mapping[str, str]) -> Choice:
        """The decision for one request (`headers`: case-insensitive, or keyed by
        lower-case name); see the module docstring for the order."""
        revision = headers.get(REVISION_HEADER)
        tag = headers.get(TAG_HEADER)
        pinned = revision is not None or tag is not None
        if self.rules.empty:
            return Choice(self.pick(rng, revision=revision, tag=tag), pinned)
        cookies = self.rules.cookies(headers)
        picked: Target | Miss | None = None
        if not pinned:
            route = self.rules.header_route(headers, cookies)
            if route is not None:
                pinned = True
                picked = self._pinned(
                    [t for t in self.targets if t.revision == route.revision_name],
                    f"revision {route.revision_name!r} (header route {route.name!r})",
                )
        if picked is None and not pinned:
            sticky = self.rules.sticky_revision(cookies)
            if sticky is not None:
                found = [t for t in self.targets if t.revision == sticky and t.ready]
                picked = found[0] if found else None  # not ready: the weights
        if picked is None:
            picked = self.pick(rng, revision=revision, tag=tag)
        if isinstance(picked, Miss):
            return Choice(picked, pinned)
        mirror = self.rules.mirror(rng, picked.revision, headers, cookies)
        if mirror is None:
            return Choice(picked, pinned)
        target = next(t for t in self.targets if t.revision == mirror.revision_name)
        return Choice(picked, pinned, mirror, target)

    def pick(
        self,
        rng: random.Random,
        *,
        revision: str | None = None,
        tag: str | None = None,
        exclude: str | None = None,
    ) -> Target | Miss:
        """The target for one request (see the module docstring for the rules)."""
        if exclude is not None:
            return self._pick_other(rng, exclude)
        if revision is not None:
            return self._pinned(
                [t for t in self.targets if t.revision == revision], f"revision {revision!r}"
            )
        if tag is not None:
            return self._pinned([t for t in self.targets if t.tag == tag], f"tag {tag!r}")
        if not self._cumulative:
            if not self.targets:
                return Miss(502, "no revision is routed for this service")
            return Miss(502, "no revision with traffic is ready")
        point = rng.random() * self._cumulative[-1]
        index = bisect.bisect_right(self._cumulative, point)
        return self._weighted[min(index, len(self._weighted) - 1)]

    def _pick_other(self, rng: random.Random, exclude: str) -> Target | Miss:
        """Weighted random over the ready weighted targets of other revisions (a rare
        path: a linear scan)."""
        others = [t for t in self._weighted if t.revision != exclude]
        if not others:
            return Miss(502, "no other revision with traffic is ready")
        point = rng.random() * sum(t.percent for t in others)
        for t in others:
            point -= t.percent
            if point < 0:
                return t
        return others[-1]

    def _pinned(self, found: list[Target], what: str) -> Target | Miss:
        if not found:
            known = sorted({t.tag for t in self.targets if t.tag} if "tag" in what else set())
            hint = f" (tags: {', '.join(known)})" if known else ""
            return Miss(404, f"no target for {what} on this service{hint}")
        ready = [t for t in found if t.ready]
        if not ready:
            return Miss(502, f"{what} is not ready")
        return ready[0]


class InvalidRoute(ValueError):
    """The admin body is not a valid route; the message lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclasses.dataclass(frozen=True)
class RouteBody:
    """A validated `PUT /v1/routes/...` body."""

    port: int | None
    table: Table


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def name_problem(name: Any) -> str | None:
    """Why `name` is not a DNS label (a namespace or revision name), or None."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        return "must be a DNS label (lower-case letters, digits and '-', at most 63)"
    return None


def port_of(url: str) -> int:
    """The port of a URL `_url_problem` accepted."""
    port = urllib.parse.urlsplit(url).port
    assert port is not None
    return port


def _url_problem(url: Any) -> str | None:
    if url is None:
        return None
    if not isinstance(url, str):
        return "must be a string or null"
    expected = "must be http://127.0.0.1:PORT (the proxy forwards to local revisions only)"
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or parts.netloc.rpartition(":")[0] != LOOPBACK:
        return expected
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return "must have no path, query or fragment"
    try:
        port = parts.port
    except ValueError:
        return "has an invalid port"
    if port is None or port == 0:
        return expected
    return None


TARGET_KEYS = {"revision", "url", "percent", "tag"}


def _target(i: int, raw: Any, problems: list[str]) -> Target | None:
    where = f"targets[{i}]"
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be an object")
        return None
    before = len(problems)
    for key in sorted(set(raw) - TARGET_KEYS):
        problems.append(f"{where}.{key}: unknown field (known: {', '.join(sorted(TARGET_KEYS))})")
    revision: Any = raw.get("revision")
    if (problem := name_problem(revision)) is not None:
        problems.append(f"{where}.revision: {problem}")
    if "url" not in raw:
        problems.append(f"{where}.url: required (null when the revision is not ready)")
    url: Any = raw.get("url")
    if (problem := _url_problem(url)) is not None:
        problems.append(f"{where}.url: {problem}")
    percent: Any = raw.get("percent")
    if not _is_int(percent) or not 0 <= percent <= 100:
        problems.append(f"{where}.percent: must be an integer between 0 and 100")
    tag: Any = raw.get("tag")
    if tag is not None and (not isinstance(tag, str) or not tag):
        problems.append(f"{where}.tag: must be a non-empty string or null")
    if len(problems) > before:
        return None
    return Target(revision=revision, url=url.rstrip("/") if url else None, percent=percent, tag=tag)


def parse_route(body: Any) -> RouteBody:
    """Validate a route body; raise `InvalidRoute` listing every problem."""
    if not isinstance(body, dict):
        raise InvalidRoute(["body: must be a JSON object with port and targets"])
    known = {"port", "targets", *rules.RULE_KEYS}
    problems = [
        f"{key}: unknown field (known: {', '.join(sorted(known))})"
        for key in sorted(set(body) - known)
    ]
    port = body.get("port")
    if port is not None and (not _is_int(port) or not 0 <= port <= 65535):
        problems.append("port: must be an integer between 0 and 65535, or null for a free port")
    raw_targets = body.get("targets")
    targets: list[Target] = []
    if not isinstance(raw_targets, list):
        problems.append("targets: required, a list of {revision, url, percent, tag}")
    else:
        for i, raw in enumerate(raw_targets):
            target = _target(i, raw, problems)
            if target is not None:
                targets.append(target)
        if len(targets) == len(raw_targets):  # every target valid: check them together
            total = sum(t.percent for t in targets)
            if targets and total != 100:
                problems.append(f"targets: percents must sum to 100 (they sum to {total})")
            seen: set[str] = set()
            for i, t in enumerate(targets):
                if t.tag is not None and t.tag in seen:
                    problems.append(f"targets[{i}].tag: duplicate tag {t.tag!r}")
                seen.add(t.tag or "")
    found = rules.parse_rules(body, {t.revision for t in targets}, problems)
    if problems:
        raise InvalidRoute(problems)
    return RouteBody(port=port or None, table=Table(tuple(targets), found))
