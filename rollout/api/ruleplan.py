"""The request rules of a Route as the cluster data planes hold them: one ordered list
of rules (each: OR of AND-ed conditions → one revision or the weighted split, perhaps
mirroring), the same for Gateway API and Istio, and what they cannot express.

    for each tag, header route, then the sticky cookie (in our precedence order):
        one rule "S ∧ M" per mirror M that copies what S sends elsewhere (M's revision
        is not S's) and may match the same requests — S's revision, copying to M
        then S itself (copying to the first mirror of every request, if one applies)
    for each mirror with a match:  its matches → the weighted split, copying to it
    the catch-all:                 every request → the weighted split, copying to the
                                   first mirror of every request (if any)

Istio takes http routes in order, first match wins: this list *is* our precedence
(`matching`'s docstring), nothing more is needed. Gateway API does not take rules in
order: among the matches of one HTTPRoute that a request meets (all with path `/` here)
the one with the most header matches wins, list order only breaking ties. So for the
`gateway-api` router every pair of entries (e of an earlier rule, f of a later one)
that may match the same request, with f testing more headers than e (and the rules
sending the request to different places or mirroring it differently), gets a *boost*:
the earlier rule also matches e ∧ f (a match with the headers of both: as many as f or
more, so the earlier rule wins the tie by list order). e ∧ f matches a subset of what e
matches, so the rule's requests are unchanged; only the overlap is decided our way.
Read-back drops such implied entries (`minimal`).

Refused (`problems`, with the reason; the router reports them as the Route's Ready
False, `rollout validate` through `routing.route_limits`), on both routers:
- two conditions of one entry on the same header (a cookie condition tests the Cookie
  header): an HTTPRoute match and an Istio match hold one condition per header name;
- a mirror whose revision carries weight: both data planes copy every request of the
  rule the mirror is on, also those the weights send to the mirror's revision — which
  our rule never copies;
- a mirror after a mirror of every request (it would never be the first that matches);
on `gateway-api` only:
- a boost that cannot be written (the two entries test one header with different
  conditions that may both hold) — the gateway would rank them by header count, not
  by our precedence — and the HTTPRoute's limits: 16 rules, 64 matches per rule, 128
  matches in all, 16 headers per match, 16 backendRefs per rule, 4096 characters per
  header match value as written (escaped and anchored: `gateway_length`).

Whether two entries "may match the same request" is decided conservatively: they
cannot only when one header (or cookie) is compared in both in ways that exclude each
other (two different exact values, an exact value outside a prefix or a regex, two
prefixes neither of which starts the other); otherwise they may.

Pure; no I/O. Called by `routing.route_limits` and by the Kubernetes routers
(`rollout.platforms.kubernetes.gateway_api`, `istio`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Literal

from rollout.api import matching, names, split

__all__ = [
    "MAX_HEADERS",
    "MAX_MATCHES_PER_RULE",
    "MAX_MATCHES_TOTAL",
    "Cond",
    "Entry",
    "Plan",
    "PlannedRule",
    "cond_of",
    "condition_of",
    "entries_of",
    "gateway_length",
    "limits",
    "match_of",
    "minimal",
    "parse_label",
    "plan",
    "rules_key",
]

MAX_MATCHES_PER_RULE = 64  # HTTPRoute: matches per rule
MAX_MATCHES_TOTAL = 128  # HTTPRoute: matches across all rules (a CEL rule of the CRD)
MAX_HEADERS = 16  # HTTPRoute: header matches per match
MAX_RULES = 16
MAX_BACKENDS = 16
MAX_HEADER_VALUE = 4096  # HTTPRoute: a header match's value
_RE2_SPECIAL = frozenset("\\.+*?()|[]{}^$")  # what `matchers.escape` puts a backslash before

Kind = Literal["exact", "prefix", "regex"]
Role = Literal["tag", "header", "sticky", "mirror", "weighted"]


@dataclasses.dataclass(frozen=True, order=True)
class Cond:
    """One condition, hashable: `cookie` False for a header (name lower-cased)."""

    cookie: bool
    name: str
    kind: Kind
    value: str

    @property
    def slot(self) -> str:
        """The request header it tests (lower case): a cookie tests `cookie`."""
        return "cookie" if self.cookie else self.name


Entry = tuple[Cond, ...]  # AND, sorted


def cond_of(c: matching.Condition) -> Cond:
    if c.header is not None:
        return Cond(False, c.header.lower(), c.kind, c.value)  # type: ignore[arg-type]
    return Cond(True, c.cookie or "", c.kind, c.value)  # type: ignore[arg-type]


def condition_of(c: Cond) -> matching.Condition:
    field = "cookie" if c.cookie else "header"
    return matching.Condition.model_validate({field: c.name, c.kind: c.value})


def entries_of(match: Sequence[matching.Match]) -> list[Entry]:
    return [tuple(sorted({cond_of(c) for c in m.conditions()})) for m in match]


@dataclasses.dataclass
class PlannedRule:
    """One rule: requests meeting any entry (none: every request) go to `revision`
    (None: the weighted split); `mirror` copies them (its percent) to its revision."""

    role: Role
    name: str  # the tag, header route or mirror name; "" for sticky and weighted
    entries: list[Entry]
    revision: str | None
    mirror: matching.Mirror | None = None
    combo: bool = False  # copies for `mirror` what the rule of the same name sends elsewhere
    boosts: list[Entry] = dataclasses.field(default_factory=list)

    @property
    def label(self) -> str:
        """How read-back knows the rule: `header-beta`, `sticky`, `mirror-shadow`, with
        `+mirror-M` when it copies every request to mirror M (`weighted+mirror-all`) or
        `+copy-M` when it is the "S ∧ M" rule (`parse_label` reads it)."""
        own = f"{self.role}-{self.name}" if self.name else self.role
        if self.mirror is not None and self.role != "mirror":
            own += f"+{'copy' if self.combo else 'mirror'}-{self.mirror.name}"
        return own

    def all_entries(self) -> list[Entry]:
        return [*self.entries, *self.boosts]


@dataclasses.dataclass
class Plan:
    rules: list[PlannedRule]
    problems: list[str]


def plan(
    traffic: Sequence[split.TrafficTarget],
    header_routes: Sequence[matching.HeaderRoute],
    mirrors: Sequence[matching.Mirror],
    sticky: matching.StickySession | None,
    *,
    by_specificity: bool,
) -> Plan:
    """The ordered rules of a Route; `by_specificity`: the data plane ranks matches by
    header count (Gateway API), so boost earlier rules where needed."""
    problems: list[str] = []
    weighted = {t.revision_name for t in traffic if t.percent > 0}
    active: list[matching.Mirror] = []
    for m in mirrors:
        if m.percent <= 0:
            continue
        if m.revision_name in weighted:
            problems.append(
                f"mirror {m.name!r} copies requests to {m.revision_name}, which also gets"
                " weight: the data plane would copy the requests the weights send to"
                f" {m.revision_name} too (we never copy a request to the revision serving"
                " it); end the mirror (percent 0) before that revision gets weight"
            )
        shadowed = next((a for a in active if not a.match), None)
        if shadowed is not None:
            problems.append(
                f"mirror {m.name!r} follows mirror {shadowed.name!r}, which copies every"
                " request: it would never be the first mirror that matches; remove one"
            )
            continue
        active.append(m)
    singles: list[tuple[Role, str, list[Entry], str]] = [
        ("tag", t.tag, [(Cond(False, names.TAG_HEADER.lower(), "exact", t.tag),)], t.revision_name)
        for t in traffic
        if t.tag
    ]
    singles += [("header", h.name, entries_of(h.match), h.revision_name) for h in header_routes]
    if sticky is not None:
        cookie: Entry = (Cond(True, sticky.cookie_name, "exact", sticky.cookie_value),)
        singles.append(("sticky", "", [cookie], sticky.revision_name))
    rules: list[PlannedRule] = []
    for role, name, entries, revision in singles:
        for entry in entries:
            problems += _entry_problems(entry, f"{role} {name!r}" if name else role)
        own_mirror: matching.Mirror | None = None
        for m in active:
            if m.revision_name == revision:
                continue
            if not m.match:
                own_mirror = m
                break
            both = _conjunction(entries, entries_of(m.match))
            if isinstance(both, str):
                problems.append(
                    f"{role} {name!r} and mirror {m.name!r}: {both}; the copies of the requests"
                    f" both match cannot be expressed"
                )
            elif both:
                rules.append(PlannedRule(role, name, both, revision, mirror=m, combo=True))
        rules.append(PlannedRule(role, name, entries, revision, mirror=own_mirror))
    for m in active:
        if m.match:
            for entry in entries_of(m.match):
                problems += _entry_problems(entry, f"mirror {m.name!r}")
            rules.append(PlannedRule("mirror", m.name, entries_of(m.match), None, mirror=m))
    catch_all = next((m for m in active if not m.match), None)
    rules.append(PlannedRule("weighted", "", [()], None, mirror=catch_all))
    if by_specificity and not problems:
        problems += _boost(rules)
    return Plan(rules, problems)


def _entry_problems(entry: Entry, who: str) -> list[str]:
    seen: dict[str, Cond] = {}
    found = []
    for c in entry:
        if c.slot in seen:
            other = seen[c.slot]
            what = "cookies" if c.cookie and other.cookie else f"header {c.slot}"
            found.append(
                f"{who}: one match tests {what} twice ({_show(other)}, {_show(c)}); a"
                " Gateway API or Istio match holds one condition per header (cookies are"
                " all in the Cookie header) — split it, or keep one condition"
            )
        seen[c.slot] = c
    return found


def _show(c: Cond) -> str:
    return f"{'cookie' if c.cookie else 'header'} {c.name} {c.kind} {c.value!r}"


def _disjoint(a: Cond, b: Cond) -> bool:
    """Whether two conditions on the same header/cookie can never both hold."""
    if (a.cookie, a.name) != (b.cookie, b.name):
        return False
    kinds = {a.kind, b.kind}
    if kinds == {"exact"}:
        return a.value != b.value
    if kinds == {"prefix"}:
        return not (a.value.startswith(b.value) or b.value.startswith(a.value))
    if kinds == {"exact", "prefix"}:
        exact, prefix = (a, b) if a.kind == "exact" else (b, a)
        return not exact.value.startswith(prefix.value)
    if kinds == {"exact", "regex"}:
        exact, regex = (a, b) if a.kind == "exact" else (b, a)
        return re.fullmatch(regex.value, exact.value) is None
    return False


def _union(e: Entry, f: Entry) -> Entry | str | None:
    """e ∧ f as one entry; None when they cannot both hold; a reason when it cannot be
    written (two different conditions on one header)."""
    out = set(e)
    for c in f:
        for d in e:
            if _disjoint(c, d):
                return None
    for c in f:
        clash = next((d for d in out if d.slot == c.slot and d != c), None)
        if clash is not None:
            return f"both test header {c.slot} ({_show(clash)}; {_show(c)})"
        out.add(c)
    return tuple(sorted(out))


def _conjunction(es: list[Entry], fs: list[Entry]) -> list[Entry] | str:
    """The entries of (OR es) ∧ (OR fs), leaving out pairs that never both hold."""
    out: list[Entry] = []
    for e in es:
        for f in fs:
            u = _union(e, f)
            if isinstance(u, str):
                return u
            if u is not None and u not in out:
                out.append(u)
    return out


def _boost(rules: list[PlannedRule]) -> list[str]:
    """Add to each earlier rule the union of its entry with a later, more specific
    entry it may share requests with, until nothing changes (see the docstring)."""
    changed = True
    while changed:
        changed = False
        for i, earlier in enumerate(rules):
            for later in rules[i + 1 :]:
                if _same_outcome(earlier, later):  # either may win: the request fares alike
                    continue
                for e in earlier.all_entries():
                    for f in later.all_entries():
                        if len(f) <= len(e):
                            continue
                        u = _union(e, f)
                        if u is None or u in earlier.all_entries():
                            continue
                        if isinstance(u, str):
                            return [
                                f"on Gateway API the {later.label} rule would outrank the"
                                f" {earlier.label} rule (more header matches) for requests"
                                f" meeting both, and no match can say otherwise: {u}"
                            ]
                        if len(u) > MAX_HEADERS or sum(len(r.all_entries()) for r in rules) > (
                            MAX_MATCHES_TOTAL
                        ):
                            return [
                                f"on Gateway API keeping the {earlier.label} rule ahead of the"
                                f" {later.label} rule needs more matches than an HTTPRoute"
                                " holds"
                            ]
                        earlier.boosts.append(u)
                        changed = True
    return []


def _same_outcome(a: PlannedRule, b: PlannedRule) -> bool:
    """Whether two rules send a request to the same place and copy it alike."""
    mirror = (a.mirror.name if a.mirror else None) == (b.mirror.name if b.mirror else None)
    return a.revision is not None and a.revision == b.revision and mirror


def parse_label(label: str) -> tuple[str, str, str | None, bool]:
    """(role, name, the mirror's name or None, whether an "S ∧ M" rule) of a
    `PlannedRule.label`."""
    own, _, mirror = label.partition("+")
    role, _, name = own.partition("-")
    kind, _, mirror_name = mirror.partition("-")
    return role, name, mirror_name or None, kind == "copy"


def rules_key(
    header_routes: Sequence[matching.HeaderRoute],
    mirrors: Sequence[matching.Mirror],
    sticky: matching.StickySession | None,
) -> tuple[object, ...]:
    """The request rules as compared (wanted with applied): header names in lower case,
    each list of matches minimal and sorted, mirrors at 0% left out."""

    def match_key(match: Sequence[matching.Match]) -> tuple[Entry, ...]:
        return tuple(sorted(minimal(entries_of(match))))

    return (
        tuple((h.name, h.revision_name, match_key(h.match)) for h in header_routes),
        tuple(
            (m.name, m.percent, m.revision_name, match_key(m.match))
            for m in mirrors
            if m.percent > 0
        ),
        None
        if sticky is None
        else (sticky.cookie_name, sticky.cookie_value, sticky.max_age, sticky.revision_name),
    )


def match_of(entry: Entry) -> matching.Match:
    """One entry as a `Match` (a condition, or `all` of them)."""
    if len(entry) == 1:
        return matching.Match.model_validate(condition_of(entry[0]).model_dump(exclude_none=True))
    return matching.Match(all=[condition_of(c) for c in entry])


def gateway_length(c: Cond) -> int:
    """The length of the HTTPRoute header match value `matchers` writes for `c`."""

    def escaped(text: str) -> int:
        return len(text) + sum(ch in _RE2_SPECIAL for ch in text)

    if c.cookie:  # ^(?:.*;\s*)?NAME=VALUE(?:\s*;.*)?$
        body = escaped(c.value) if c.kind == "exact" else len(c.value) + 4
        return 24 + escaped(c.name) + 1 + body
    if c.kind == "exact" and c.value:
        return len(c.value)
    if c.kind == "prefix":  # ^PREFIX.*$
        return escaped(c.value) + 4
    return len(c.value) + 6  # ^(?:REGEX)$


def minimal(entries: Sequence[Entry]) -> list[Entry]:
    """The entries without those another entry implies (a superset of its conditions):
    what a rule matches, written once — boosts read back as nothing."""
    out: list[Entry] = []
    for i, e in enumerate(entries):
        if e in entries[:i] or any(set(f) < set(e) for f in entries):
            continue
        out.append(e)
    return out


def limits(rules: Sequence[PlannedRule], backends: int) -> list[str]:
    """The HTTPRoute's limits on the planned rules (`backends`: weighted backendRefs)."""
    found = []
    if len(rules) > MAX_RULES:
        found.append(
            f"{len(rules)} rules (a tag, header route, sticky cookie or mirror with a match"
            " is one each, a mirror copying what another rule sends elsewhere one more, plus"
            f" the weighted rule): an HTTPRoute holds at most {MAX_RULES}"
        )
    for r in rules:
        if len(r.all_entries()) > MAX_MATCHES_PER_RULE:
            found.append(
                f"the {r.label} rule needs {len(r.all_entries())} matches: an HTTPRoute rule"
                f" holds at most {MAX_MATCHES_PER_RULE}"
            )
        wide = max((len(e) for e in r.all_entries()), default=0)
        if wide > MAX_HEADERS:
            found.append(
                f"the {r.label} rule needs a match of {wide} headers: an HTTPRoute match"
                f" holds at most {MAX_HEADERS}"
            )
    long = sorted(
        {
            c
            for r in rules
            for e in r.all_entries()
            for c in e
            if gateway_length(c) > (MAX_HEADER_VALUE)
        }
    )
    for c in long:
        found.append(
            f"the {'cookie' if c.cookie else 'header'} {c.name} condition is"
            f" {gateway_length(c)} characters as an HTTPRoute header match (escaped,"
            f" anchored): at most {MAX_HEADER_VALUE}"
        )
    total = sum(len(r.all_entries()) for r in rules)
    if total > MAX_MATCHES_TOTAL:
        found.append(f"{total} matches in all: an HTTPRoute holds at most {MAX_MATCHES_TOTAL}")
    if backends > MAX_BACKENDS:
        found.append(
            f"{backends} targets with traffic: an HTTPRoute rule has at most"
            f" {MAX_BACKENDS} backendRefs (one per target with a percent above 0)"
        )
    return found
