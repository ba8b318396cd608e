"""`split.belongs_to`: a revision name is `<service>-` and five or more ASCII digits."""

from __future__ import annotations

import pytest

from rollout.api import split


@pytest.mark.parametrize(
    ("revision", "service", "expected"),
    [
        ("web-00001", "web", True),
        ("web-123456", "web", True),
        ("a.b-00001", "a.b", True),
        ("web-0001", "web", False),
        ("web-00001x", "web", False),
        ("webx-00001", "web", False),
        ("web-00001", "we", False),
        ("web--00001", "web", False),
        ("web-\uff10\uff10\uff10\uff10\uff11", "web", False),
    ],
    ids=[
        "five-digits",
        "six-digits",
        "dotted-service",
        "four-digits",
        "trailing-letter",
        "other-service",
        "prefix-of-service",
        "double-dash",
        "fullwidth-digits",
    ],
)
def test_belongs_to(revision: str, service: str, expected: bool) -> None:
    assert split.belongs_to(revision, service) is expected
