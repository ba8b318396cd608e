"""The scenario tests' fixture: `env`, a fresh `scenarioenv.Env` (the real controller
and reconcilers on the memory store and platform, with a fake clock), whose read
cache is checked against the store at the end of each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from scenarioenv import Env


@pytest.fixture
def env() -> Iterator[Env]:
    environment = Env()
    yield environment
    environment.check_cache()
