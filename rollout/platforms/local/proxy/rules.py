"""The request rules of a proxy table beyond the weights: header routes, mirrors and the
sticky session (the Route's `headerRoutes`, `mirrors`, `sessionAffinity`; shapes and
matching in `rollout.api.matching`), parsed from the admin body and evaluated per
request.

Admin body (beside `port` and `targets`; the wire shapes of `matching`):

    headerRoutes:     [{name, match: [Match, …], revisionName}]     names unique
    mirrors:          [{name, percent, match: [Match, …], revisionName}]   names unique
    sessionAffinity:  {cookieName, cookieValue, maxAge, revisionName} | null

Every rule's `revisionName` must be a target of the same body (at 0% if it should get
no weighted traffic): the target gives the revision's URL and readiness. Problems are
reported per field, as `headerRoutes[0].match[1].regex: uses lookahead …`.

What a rule does when its revision is not ready (no URL), decided as an operator
expects:

- a header route is a pin, like `Rollout-Revision`: the request gets a 502 saying so,
  never the stable's answer. An A/B test sends its matched users to the canary on
  purpose; answering them from the stable would silently feed the stable's answers
  to an analysis of "the matched traffic", and hide a dead canary from the people
  testing it. The runtime reports the dead canary; the release rolls back and the
  route is removed. Like a pin, a header-routed request is not retried on another
  revision when its own refuses the connection, and a 502 of the proxy is counted
  with `revision=""` in the metrics.
- the sticky cookie is a preference, not a pin: a request carrying it while its
  revision is not ready follows the weights (the canary's weight goes to the ready
  revisions, as for any request), and keeps its cookie: it is back on the canary as
  soon as the canary serves again. A user must not see errors because the canary they
  once saw restarted.
- a mirror to a revision that is not ready sends no copy (counted as skipped).

`NONE` is the empty set: a table without rules picks by weight alone, at the
speed it did before (one attribute test per request).

Pure: no I/O; the random source is passed in. Called by `table` (parse, pick).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping, Sequence
from typing import Any

import pydantic

from rollout.api import matching

__all__ = ["NONE", "RULE_KEYS", "Rules", "parse_rules"]

RULE_KEYS = ("headerRoutes", "mirrors", "sessionAffinity")
_NO_COOKIES: Mapping[str, str] = {}

_Conditions = tuple[tuple[matching.Condition, ...], ...]  # OR of ANDs


def _compile(entries: Sequence[matching.Match]) -> _Conditions:
    return tuple(tuple(m.conditions()) for m in entries)


def _holds(conditions: _Conditions, headers: Mapping[str, str], cookies: Mapping[str, str]) -> bool:
    """`matching.matches` over conditions compiled once per table."""
    return any(all(c.holds(headers, cookies) for c in entry) for entry in conditions)


def _uses_cookies(entries: Sequence[matching.Match]) -> bool:
    return any(c.cookie is not None for m in entries for c in m.conditions())


@dataclasses.dataclass(frozen=True)
class Rules:
    """The header routes, mirrors and sticky session of one table."""

    header_routes: tuple[matching.HeaderRoute, ...] = ()
    mirrors: tuple[matching.Mirror, ...] = ()
    sticky: matching.StickySession | None = None
    _routes: tuple[tuple[matching.HeaderRoute, _Conditions], ...] = dataclasses.field(
        default=(), init=False, repr=False, compare=False
    )
    _mirrors: tuple[tuple[matching.Mirror, _Conditions], ...] = dataclasses.field(
        default=(), init=False, repr=False, compare=False
    )
    _cookies: bool = dataclasses.field(default=False, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "_routes", tuple((r, _compile(r.match)) for r in self.header_routes)
        )
        object.__setattr__(self, "_mirrors", tuple((m, _compile(m.match)) for m in self.mirrors))
        object.__setattr__(
            self,
            "_cookies",
            self.sticky is not None
            or any(_uses_cookies(r.match) for r in self.header_routes)
            or any(_uses_cookies(m.match) for m in self.mirrors),
        )

    @property
    def empty(self) -> bool:
        return not (self.header_routes or self.mirrors or self.sticky)

    def cookies(self, headers: Mapping[str, str]) -> Mapping[str, str]:
        """The request's cookies, parsed only when a rule reads them."""
        if not self._cookies:
            return _NO_COOKIES
        return matching.parse_cookies(headers.get("cookie"))

    def header_route(
        self, headers: Mapping[str, str], cookies: Mapping[str, str]
    ) -> matching.HeaderRoute | None:
        """The first header route the request matches, or None."""
        for route, conditions in self._routes:
            if _holds(conditions, headers, cookies):
                return route
        return None

    def sticky_revision(self, cookies: Mapping[str, str]) -> str | None:
        """The revision the request's session cookie asks for: only a cookie of this
        release (its value) counts, an earlier release's is ignored."""
        sticky = self.sticky
        if sticky is not None and cookies.get(sticky.cookie_name) == sticky.cookie_value:
            return sticky.revision_name
        return None

    def mirror(
        self,
        rng: random.Random,
        served_by: str,
        headers: Mapping[str, str],
        cookies: Mapping[str, str],
    ) -> matching.Mirror | None:
        """The mirror that copies this request, or None: the first mirror that matches a
        request not sent to its revision, and then only `percent`% of the time."""
        for mirror, conditions in self._mirrors:
            if mirror.revision_name == served_by:
                continue
            if conditions and not _holds(conditions, headers, cookies):
                continue
            return mirror if rng.random() * 100 < mirror.percent else None
        return None

    def set_cookie(self) -> str | None:
        """The Set-Cookie value a response of the sticky revision carries."""
        sticky = self.sticky
        if sticky is None:
            return None
        age = int(sticky.max_age.total_seconds())
        return f"{sticky.cookie_name}={sticky.cookie_value}; Max-Age={age}; Path=/; HttpOnly"

    def as_json(self) -> dict[str, Any]:
        """The rules in the admin body's shape (what GET answers)."""
        return {
            "headerRoutes": [_dump(r) for r in self.header_routes],
            "mirrors": [_dump(m) for m in self.mirrors],
            "sessionAffinity": _dump(self.sticky) if self.sticky is not None else None,
        }


NONE = Rules()


def _dump(model: pydantic.BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def _where(prefix: str, loc: tuple[int | str, ...]) -> str:
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _model(cls: type[pydantic.BaseModel], where: str, raw: Any, problems: list[str]) -> Any | None:
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be an object")
        return None
    try:
        return cls.model_validate(raw)
    except pydantic.ValidationError as exc:
        for err in exc.errors():
            problems.append(f"{_where(where, err['loc'])}: {err['msg']}")
        return None


def _listed(
    cls: type[pydantic.BaseModel], key: str, raw: Any, problems: list[str]
) -> list[Any] | None:
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.append(f"{key}: must be a list")
        return None
    if len(raw) > matching.MAX_MATCHES:
        problems.append(f"{key}: at most {matching.MAX_MATCHES} entries")
        return None
    before = len(problems)
    found: list[Any] = [_model(cls, f"{key}[{i}]", item, problems) for i, item in enumerate(raw)]
    if len(problems) > before:
        return None
    seen: set[str] = set()
    for i, item in enumerate(found):
        if item.name in seen:
            problems.append(f"{key}[{i}].name: duplicate name {item.name!r}")
        seen.add(item.name)
    return found


def parse_rules(body: dict[str, Any], revisions: set[str], problems: list[str]) -> Rules:
    """The rules of an admin body whose targets name `revisions`; every problem is added
    to `problems` (the rules returned then mean nothing)."""
    routes = _listed(matching.HeaderRoute, "headerRoutes", body.get("headerRoutes"), problems)
    mirrors = _listed(matching.Mirror, "mirrors", body.get("mirrors"), problems)
    sticky = None
    if body.get("sessionAffinity") is not None:
        sticky = _model(
            matching.StickySession, "sessionAffinity", body["sessionAffinity"], problems
        )
        if sticky is not None and (why := matching.header_name_problem(sticky.cookie_name)):
            problems.append(
                f"sessionAffinity.cookieName: {why.replace('an HTTP header', 'a cookie')}"
            )
    named: list[tuple[str, Any]] = [
        *((f"headerRoutes[{i}]", r) for i, r in enumerate(routes or [])),
        *((f"mirrors[{i}]", m) for i, m in enumerate(mirrors or [])),
        *([("sessionAffinity", sticky)] if sticky is not None else []),
    ]
    for where, rule in named:
        if rule.revision_name not in revisions:
            problems.append(
                f"{where}.revisionName: {rule.revision_name!r} is not a target of this route"
                " (add it as a target, at percent 0 for no weighted traffic: its URL and"
                " readiness come from there)"
            )
    return Rules(
        header_routes=tuple(routes or ()),
        mirrors=tuple(mirrors or ()),
        sticky=sticky,
    )
