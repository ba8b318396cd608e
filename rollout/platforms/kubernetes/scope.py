"""Which namespaces the controller serves, and the names it is given: checked once.

`rollout install --watch-namespaces a,b` and `rollout controller --platform kubernetes
--watch-namespaces a,b` take the same list (`parse_namespaces`); an empty list means
every namespace. Every name the install command puts into a manifest is checked here
first (`check_namespace`, `check_secret_name`), so that a bad one is one line and exit
2 instead of a manifest the API server refuses (or, worse, one that means something
else). The messages name the value, never guess at what was meant.

Pure; no I/O. Called by `manifests`, the `install` and `controller` commands, the
store (`KubernetesStore(namespaces=…)`) and the Secret reader.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rollout.api import base

__all__ = [
    "ScopeError",
    "check_namespace",
    "check_secret_name",
    "describe",
    "is_subdomain",
    "parse_namespaces",
]

_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


class ScopeError(ValueError):
    """A name that cannot be a Kubernetes name; the message is one line."""


def check_namespace(value: str) -> str:
    """`value` when it can name a namespace (a DNS-1123 label), else `ScopeError`."""
    if len(value) > 63 or not base.DNS1123_LABEL.fullmatch(value):
        raise ScopeError(
            f"{value!r} is not a namespace name (a DNS-1123 label: at most 63 lowercase"
            " letters, digits and '-', starting and ending with a letter or digit)"
        )
    return value


def is_subdomain(value: str) -> bool:
    """Whether `value` is a DNS-1123 subdomain (Secret names, label key prefixes)."""
    return len(value) <= 253 and _SUBDOMAIN.fullmatch(value) is not None


def check_secret_name(value: str) -> str:
    """`value` when it can name a Secret (a DNS-1123 subdomain), else `ScopeError`."""
    if not is_subdomain(value):
        raise ScopeError(
            f"{value!r} is not a Secret name (a DNS-1123 subdomain: at most 253 lowercase"
            " letters, digits, '-' and '.')"
        )
    return value


def parse_namespaces(values: Iterable[str]) -> tuple[str, ...]:
    """Namespaces from comma-separated lists (`"a,b"`, or one option given twice), each
    checked, in the order first given, without repeats; () for none."""
    out: list[str] = []
    for text in values:
        for part in text.split(","):
            name = check_namespace(part.strip())
            if name not in out:
                out.append(name)
    return tuple(out)


def describe(namespaces: tuple[str, ...] | None) -> str:
    """For messages: `namespaces a, b` or `every namespace`."""
    return f"namespaces {', '.join(namespaces)}" if namespaces else "every namespace"
