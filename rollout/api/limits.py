"""How large input may be: a file, a YAML document, one string — and aliases expanded.

Every resource a user applies is stored, and copied: a Service's template into each
of its Revisions, a policy into each Release. A 10 MB env value grew a state
directory to 302 MB. So input is bounded before it is validated, the way Kubernetes
bounds it:

    MAX_FILE_BYTES      3 MiB    the API server's limit on one request body
    MAX_DOCUMENT_BYTES  1.5 MiB  etcd's limit on one request, i.e. one object;
                                 checked as written and once YAML aliases are expanded
    MAX_STRING_BYTES    128 KiB  Linux's limit on one argv or environment string
                                 (MAX_ARG_STRLEN); also below Kubernetes' 256 KiB for
                                 all of an object's annotations together

A document's size "expanded" is the size of its data written as JSON, which is what
the store keeps. YAML aliases let a small text stand for a huge value ("billion
laughs": nine aliases of nine aliases of … a string). PyYAML shares the node of an
alias and the value it constructs, so composing and constructing stay small; the
walk here counts every occurrence and stops as soon as the limit is passed, so its
cost is bounded by the limit, not by the expansion. Pydantic, which would copy the
expanded value, only sees documents that passed.

Strings are also checked for what no field can hold: NUL (no process, header or
path can carry it) and lone surrogates (not encodable as UTF-8, so not storable).

Pure; no I/O. Called by `rollout.api.documents` (data) and `rollout.api.loader`
(file sizes).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rollout.api import base, problems

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "MAX_FILE_BYTES",
    "MAX_STRING_BYTES",
    "Found",
    "data_problems",
    "expanded_problem",
]

MAX_FILE_BYTES = 3 * 1024 * 1024
MAX_DOCUMENT_BYTES = 3 * 512 * 1024
MAX_STRING_BYTES = 128 * 1024
_MAX_REPORTED = 20  # string problems per document; the size walk goes on


def expanded_problem(limit: int) -> problems.Problem:
    return problems.Problem(
        (),
        f"document too large once its YAML aliases are expanded (more than {limit} bytes;"
        f" at most {limit})",
    )


@dataclasses.dataclass
class Found:
    """What the walk found: sizes over a limit (`oversized`: the data must not be
    validated further) and strings no field may hold (`unstorable`: NUL, surrogates)."""

    oversized: list[problems.Problem] = dataclasses.field(default_factory=list)
    unstorable: list[problems.Problem] = dataclasses.field(default_factory=list)


def data_problems(
    data: Any, *, limit: int = MAX_DOCUMENT_BYTES, string_limit: int = MAX_STRING_BYTES
) -> Found:
    """Strings too large or unstorable, at their paths; the whole when over `limit`.

    Sizes are those of the data written as JSON, each alias counted where it is used.
    """
    found = Found()
    reported: set[int] = set()
    size = 0
    stack: list[tuple[Any, problems.Loc]] = [(data, ())]
    while stack:
        value, loc = stack.pop()
        if isinstance(value, str):
            size += _string_size(value, loc, found, reported, string_limit)
        elif isinstance(value, dict):
            size += 2 + 2 * len(value)  # braces, and a colon and a comma per entry
            for key, item in value.items():
                if isinstance(key, str):
                    size += _string_size(key, (*loc, key), found, reported, string_limit)
                else:
                    size += len(str(key)) + 2
                stack.append((item, (*loc, _loc_part(key))))
        elif isinstance(value, list):
            size += 2 + len(value)  # brackets, and a comma per item
            stack.extend((item, (*loc, i)) for i, item in enumerate(value))
        elif value is None or isinstance(value, bool):
            size += 5
        else:  # numbers, timestamps, binary: their text
            size += len(str(value)) if not isinstance(value, bytes) else len(value) * 4 // 3
        if size > limit:
            found.oversized.append(expanded_problem(limit))
            return found
    return found


def _loc_part(key: Any) -> str | int:
    return key if isinstance(key, str | int) and not isinstance(key, bool) else str(key)


def _string_size(
    value: str, loc: problems.Loc, found: Found, reported: set[int], limit: int
) -> int:
    size = base.utf8_size(value)
    if id(value) in reported or len(found.oversized) + len(found.unstorable) >= _MAX_REPORTED:
        return size + 2
    if size > limit:
        reported.add(id(value))
        found.oversized.append(problems.Problem(loc, base.too_large(size, limit)))
    elif "\0" in value:
        reported.add(id(value))
        found.unstorable.append(problems.Problem(loc, str(base.text_problem(value, base.NUL))))
    elif not value.isascii() and _has_surrogate(value):
        reported.add(id(value))
        message = "is not valid Unicode text (a lone surrogate, e.g. from a \\ud800 escape)"
        found.unstorable.append(problems.Problem(loc, message))
    return size + 2


def _has_surrogate(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
