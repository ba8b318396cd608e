"""Our request conditions as the cluster data planes' header matches, and back: the
RE2 regexes that stand for a header prefix, a header regex (Gateway API) and a cookie
(both routers), and the sticky session's Set-Cookie value.

    header exact V        Gateway: Exact V (V empty: RegularExpression ^(?:)$)
                          Istio: {exact: V}
    header prefix P       Gateway: RegularExpression ^<P escaped>.*$ (the Gateway API
                          has Exact and RegularExpression only)   Istio: {prefix: P}
    header regex R        Gateway: RegularExpression ^(?:R)$      Istio: {regex: R}
    cookie N exact V      the Cookie header, RegularExpression / {regex: …}:
                          ^(?:.*;\\s*)?<N escaped>=<V escaped>(?:\\s*;.*)?$
    cookie N regex R      the same with (?:R) in place of the escaped value

Decisions:
- Escaping is RE2-safe: only the 14 characters that are special in both RE2 and
  Python (`\\ . + * ? ( ) | [ ] { } ^ $`) get a backslash — RE2 reads `\\` before any
  punctuation as the character itself, and every other character stands for itself
  in both. No `\\Q…\\E` (Python lacks it).
- Gateway API leaves the regex dialect and whether it must match the whole value to
  the implementation (Envoy matches the whole value; others search): every regex we
  write is anchored `^…$`, so both readings agree. Istio's regexes are whole-value
  RE2 (Envoy's), written as given.
- Limits of the cookie regex, documented rather than hidden: it finds `N=` at the
  start of the header or after a `;`, so a cookie named `xN` is never taken for `N`;
  HTTP/2 clients may send several `cookie` headers, which Envoy joins with `; `
  before matching (other proxies may match the first only); when a name is sent
  twice the regex accepts either value (our local proxy takes the first); and a
  cookie *regex* that can match `;` (e.g. `.*`) may read on into the following
  cookies — anchor it to the value's characters (`[^;]*`) to be exact.

Pure; no I/O. Called by `gateway_api.py` and `istio.py`.
"""

from __future__ import annotations

import re
from datetime import timedelta

from rollout.api import matching, ruleplan

__all__ = [
    "COOKIE_HEADER",
    "cookie_regex",
    "escape",
    "header_regex",
    "parse_cookie_regex",
    "parse_header_regex",
    "parse_set_cookie",
    "set_cookie",
    "unescape",
]

COOKIE_HEADER = "Cookie"
_SPECIAL = set("\\.+*?()|[]{}^$")
_COOKIE_START = r"^(?:.*;\s*)?"
_COOKIE_END = r"(?:\s*;.*)?$"


def escape(text: str) -> str:
    """`text` as an RE2 (and Python) regex matching exactly it."""
    return "".join("\\" + ch if ch in _SPECIAL else ch for ch in text)


def unescape(pattern: str) -> str | None:
    """The literal an `escape`d pattern stands for; None when it is not one."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= len(pattern) or pattern[i + 1] not in _SPECIAL:
                return None
            out.append(pattern[i + 1])
            i += 2
            continue
        if ch in _SPECIAL:
            return None
        out.append(ch)
        i += 1
    return "".join(out)


def header_regex(kind: str, value: str) -> str:
    """A Gateway API RegularExpression for a header `prefix`, `regex` or empty `exact`."""
    if kind == "prefix":
        return f"^{escape(value)}.*$"
    return f"^(?:{value})$"  # a regex, or the empty exact value


def parse_header_regex(pattern: str) -> tuple[str, str]:
    """(kind, value) of a Gateway API header RegularExpression `header_regex` wrote;
    anything else is read as the regex it is."""
    if pattern.startswith("^(?:") and pattern.endswith(")$"):
        inner = pattern[4:-2]
        return ("exact", "") if inner == "" else ("regex", inner)
    if pattern.startswith("^") and pattern.endswith(".*$"):
        literal = unescape(pattern[1:-3])
        if literal:
            return "prefix", literal
    return "regex", pattern


def cookie_regex(name: str, kind: str, value: str) -> str:
    """The Cookie header regex that holds when cookie `name` is `value` (exact) or
    matches `value` (regex)."""
    body = escape(value) if kind == "exact" else f"(?:{value})"
    return f"{_COOKIE_START}{escape(name)}={body}{_COOKIE_END}"


_COOKIE = re.compile(
    re.escape(_COOKIE_START) + r"(?P<name>[^=]+)=(?P<body>.*)" + re.escape(_COOKIE_END) + r"\Z"
)


def parse_cookie_regex(pattern: str) -> ruleplan.Cond | None:
    """The cookie condition a Cookie header regex `cookie_regex` wrote; None for another."""
    found = _COOKIE.match(pattern)
    if found is None:
        return None
    name = unescape(found["name"])
    if not name or matching.header_name_problem(name) is not None:
        return None
    body = found["body"]
    if body.startswith("(?:") and body.endswith(")"):
        return ruleplan.Cond(True, name, "regex", body[3:-1])
    literal = unescape(body)
    return None if literal is None else ruleplan.Cond(True, name, "exact", literal)


def set_cookie(sticky: matching.StickySession) -> str:
    """The Set-Cookie value that keeps a client on the sticky revision."""
    seconds = int(sticky.max_age.total_seconds())
    return f"{sticky.cookie_name}={sticky.cookie_value}; Max-Age={seconds}; Path=/"


_SET_COOKIE = re.compile(r"(?P<name>[^=;\s]+)=(?P<value>[^;]*); Max-Age=(?P<age>\d+); Path=/\Z")


def parse_set_cookie(value: str) -> tuple[str, str, timedelta] | None:
    """(name, value, Max-Age) of a Set-Cookie value `set_cookie` wrote; None otherwise."""
    found = _SET_COOKIE.match(value)
    if found is None:
        return None
    return found["name"], found["value"], timedelta(seconds=int(found["age"]))
