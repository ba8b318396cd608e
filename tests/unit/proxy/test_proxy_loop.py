"""The proxy process's event loop: uvloop's when it is installed, asyncio's otherwise."""

from __future__ import annotations

import asyncio
import sys
import types

import pytest

from rollout.platforms.local.proxy import server


def test_without_uvloop_asyncio_default_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """uvloop not importable: no factory (asyncio.Runner's default loop)."""
    monkeypatch.setitem(sys.modules, "uvloop", None)
    assert server.loop_factory() is None


def test_with_uvloop_its_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """uvloop importable: its new_event_loop is the factory."""
    fake = types.ModuleType("uvloop")
    fake.new_event_loop = asyncio.new_event_loop  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "uvloop", fake)
    assert server.loop_factory() is asyncio.new_event_loop
