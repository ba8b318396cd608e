"""Fixtures every test directory shares.

`gates`: start webhook receivers (`hookgate.HookGate`, real HTTP servers on
127.0.0.1) — `gates(403)`, `gates(200, hang=30.0)` — each closed when the test ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from hookgate import HookGate


@pytest.fixture
def gates() -> Iterator[Callable[..., HookGate]]:
    started: list[HookGate] = []

    def start(status: int = 200, *, hang: float = 0.0) -> HookGate:
        started.append(HookGate(status, hang=hang))
        return started[-1]

    yield start
    for gate in started:
        gate.close()
