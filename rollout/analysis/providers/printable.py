"""Printable text from the outside world: what a provider says goes into history as is.

A reading's `error` is written into the release's status and history and shown by
`rollout status` / `history`; part of it comes from whoever answered (an HTTP body,
an exception's message). `printable(text)` makes it one safe line: tabs and line
breaks become a space; every other character that is not printable — control
characters and NUL, U+FFFD (what undecodable bytes became), format characters such
as bidi overrides or zero-width spaces, lone surrogates — is written as its Python
escape (`\\x00`, `\\ufffd`, `\\u202e`); the result is capped at `limit` characters
(default `MAX_REASON`) with `…`.

The controller's measurement runner (`rollout.controller.measuring`) applies it to
every reading's error, so no provider needs to remember to; providers may use it for
their own excerpts too. Pure; no I/O.
"""

from __future__ import annotations

__all__ = ["MAX_REASON", "printable"]

MAX_REASON = 400
_SPACE = frozenset("\t\n\r\x0b\x0c")


def printable(text: str, *, limit: int = MAX_REASON) -> str:
    """`text` as one printable line of at most `limit` characters (see the module)."""
    if text.isprintable() and "\ufffd" not in text and len(text) <= limit:
        return text  # the common case, unchanged
    out: list[str] = []
    size = 0
    for ch in text:
        if ch in _SPACE:
            piece = " "
        elif ch.isprintable() and ch != "\ufffd":
            piece = ch
        else:
            piece = ch.encode("unicode_escape", "backslashreplace").decode("ascii")
        size += len(piece)
        if size > limit:
            return "".join(out) + "…"
        out.append(piece)
    return "".join(out)
