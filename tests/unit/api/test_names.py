"""Revision and release names: the one parser of revision numbers (it once had two
that disagreed on `web-12`), and the attempt annotation read safely."""

from __future__ import annotations

import pytest

from rollout.api import names


@pytest.mark.parametrize(
    ("name", "number"),
    [
        pytest.param("web-00012", 12, id="five-digits"),
        pytest.param("web-123456", 123456, id="six-digits"),
        pytest.param("web-00001-2", 0, id="release-retry-name"),
        pytest.param("my-svc-00003", 3, id="dashes-in-service"),
        pytest.param("web-0012", 0, id="four-digits-not-a-revision"),
        pytest.param("web-12", 0, id="short-suffix-not-a-revision"),
        pytest.param("web", 0, id="no-number"),
        pytest.param("", 0, id="empty"),
        pytest.param(None, 0, id="none"),
    ],
)
def test_revision_number(name: str | None, number: int) -> None:
    """The counter at the end of a revision name, 0 when there is none."""
    assert names.revision_number(name) == number


@pytest.mark.parametrize(
    ("number", "name"),
    [
        pytest.param(1, "web-00001", id="padded"),
        pytest.param(12345, "web-12345", id="five-digits"),
        pytest.param(123456, "web-123456", id="grows-past-five"),
    ],
)
def test_revision_name(number: int, name: str) -> None:
    """`<service>-NNNNN`, zero-padded to five digits, and round-trips through revision_number."""
    assert names.revision_name("web", number) == name
    assert names.revision_number(name) == number


@pytest.mark.parametrize(
    ("attempt", "name"),
    [
        pytest.param(1, "web-00002", id="first-attempt"),
        pytest.param(2, "web-00002-2", id="retry"),
        pytest.param(10, "web-00002-10", id="tenth"),
    ],
)
def test_release_name(attempt: int, name: str) -> None:
    """The canary's name for its first release, `-N` for later attempts."""
    assert names.release_name("web-00002", attempt) == name


@pytest.mark.parametrize(
    ("annotations", "attempt"),
    [
        pytest.param({}, 1, id="none"),
        pytest.param({names.ATTEMPT_ANNOTATION: "3"}, 3, id="third"),
        pytest.param({names.ATTEMPT_ANNOTATION: "x"}, 1, id="not-a-number"),
        pytest.param({names.ATTEMPT_ANNOTATION: "0"}, 1, id="zero"),
    ],
)
def test_attempt_of(annotations: dict[str, str], attempt: int) -> None:
    """The attempt a release records; 1 when it records none or nonsense (a hand-edited
    annotation never stops the Service reconciler)."""
    assert names.attempt_of(annotations) == attempt
