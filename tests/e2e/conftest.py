"""End-to-end fixtures: `local`, a state dir with the local platform's harness
(`localenv.Local`: a controller process and the CLI; whatever a test started is
stopped by its PID at the end). The real Prometheus server fixtures
(`prometheus_binary`, `start_prometheus`) are shared with the Kubernetes tests, in
tests/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from localenv import Local


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Local]:
    """A local-platform harness in this test's own directory, cleaned up after it."""
    env = Local(tmp_path)
    try:
        yield env
    finally:
        env.cleanup()
