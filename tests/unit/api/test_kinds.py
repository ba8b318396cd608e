"""The kind registry resolves every name a user may type for a kind."""

from __future__ import annotations

import pytest

from rollout.api import kinds


@pytest.mark.parametrize(
    ("typed", "kind"),
    [
        ("Service", "Service"),
        ("services", "Service"),
        ("rsvc", "Service"),
        ("RREV", "Revision"),
        ("rroute", "Route"),
        ("rolloutpolicies", "RolloutPolicy"),
        ("rpol", "RolloutPolicy"),
        ("release", "Release"),
        ("rrel", "Release"),
    ],
)
def test_lookup_by_kind_plural_singular_or_short_name(typed: str, kind: str) -> None:
    """Kind, plural, singular and short names, in any case, find the kind."""
    found = kinds.lookup(typed)
    assert found is not None
    assert found.kind == kind


def test_lookup_of_an_unknown_name_is_none() -> None:
    """A name of no kind finds nothing."""
    assert kinds.lookup("deployments") is None
