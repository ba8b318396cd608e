"""The scenario harness, `Env`: the real controller and reconcilers on the memory store
and the memory platform, with a fake clock that the test moves.

`env.advance(seconds)` runs every reconcile that falls due on the way, in time
order, so a ten-minute release takes milliseconds. The `env` fixture is in this
directory's conftest; tests that build their own import `Env` from here (`from
scenarioenv import Env`: a module name of its own, where `from conftest import …`
could find another directory's conftest).
"""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from rollout import clock as clocks
from rollout.api import documents, release, revision, service
from rollout.controller import manager
from rollout.platforms import memory
from rollout.store import errors, objects
from rollout.store import memory as memory_store

ROOT = Path(__file__).resolve().parents[2]


def _load(path: str) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / path).read_text())
    assert isinstance(data, dict)
    return data


class Env:
    def __init__(self) -> None:
        self.clock = clocks.FakeClock()
        self.store = memory_store.MemoryStore(now=self.clock.now)
        self.platform = memory.make(self.clock)
        self.controller = manager.Controller(self.store, self.platform, self.clock)
        assert self.controller.cache is not None
        self.controller.cache.guard = True  # reconcilers must not change shared objects

    # --- typed platform parts ---
    @property
    def runtime(self) -> memory.MemoryRuntime:
        assert isinstance(self.platform.runtime, memory.MemoryRuntime)
        return self.platform.runtime

    @property
    def router(self) -> memory.MemoryRouter:
        assert isinstance(self.platform.router, memory.MemoryRouter)
        return self.platform.router

    @property
    def metrics(self) -> memory.ScriptedMetrics:
        assert isinstance(self.platform.metrics, memory.ScriptedMetrics)
        return self.platform.metrics

    @property
    def events(self) -> memory.MemoryEvents:
        assert isinstance(self.platform.events, memory.MemoryEvents)
        return self.platform.events

    # --- writing, as a user would ---
    def apply(self, data: dict[str, Any]) -> None:
        obj, problems = documents.validate_data(copy.deepcopy(data))
        assert obj is not None, problems
        try:
            current = self.store.get(obj.kind, "default", obj.metadata.name)
        except errors.NotFound:
            self.store.create(obj)
            return
        self.store.update(obj.model_copy(update={"metadata": current.metadata}))

    def policy(self, name: str, **changes: Any) -> dict[str, Any]:
        data = _load(f"policies/{name}.yaml")
        data["spec"].update(changes)
        return data

    def service(self, name: str = "web", *, version: str = "v1", **spec: Any) -> dict[str, Any]:
        return {
            "apiVersion": "rollout.dev/v1alpha1",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "app",
                                "command": ["app"],
                                "env": [{"name": "VERSION", "value": version}],
                            }
                        ]
                    }
                },
                **spec,
            },
        }

    # --- time ---
    def advance(self, seconds: float) -> None:
        target = self.clock.now() + timedelta(seconds=seconds)
        self.controller.run_until_idle()
        while True:
            due = self.controller.next_due()
            if due is None or due > target:
                self.clock.set(target)
                self.controller.run_until_idle()
                return
            if due > self.clock.now():
                self.clock.set(due)
            self.controller.run_until_idle()

    def until(self, predicate: Any, *, within: float, step: float = 1.0) -> float:
        """Advance until `predicate()` holds; the seconds it took. Fails at `within`."""
        waited = 0.0
        while not predicate():
            if waited >= within:
                pytest.fail(f"condition not met within {within} s of simulated time")
            self.advance(step)
            waited += step
        return waited

    # --- reading ---
    def get_service(self, name: str = "web") -> service.Service:
        obj = self.store.get("Service", "default", name)
        assert isinstance(obj, service.Service)
        return obj

    def get_release(self, name: str) -> release.Release:
        obj = self.store.get("Release", "default", name)
        assert isinstance(obj, release.Release)
        return obj

    def releases(self, svc: str = "web") -> list[release.Release]:
        items = self.store.list("Release", "default", labels={"rollout.dev/service": svc}).items
        return [r for r in items if isinstance(r, release.Release)]

    def revisions(self, svc: str = "web") -> list[str]:
        items = self.store.list("Revision", "default", labels={"rollout.dev/service": svc}).items
        return [r.metadata.name for r in items if isinstance(r, revision.Revision)]

    def split(self, svc: str = "web") -> dict[str, int]:
        """What the router applies: revision → percent (non-zero only)."""
        return {
            t.revision_name: t.percent
            for t in self.router.applied.get(("default", svc), [])
            if t.percent
        }

    def check_cache(self) -> None:
        """No reconciler changed an object it shares with the controller's read cache, and
        the cache holds what the store holds once the watch has delivered everything."""
        cached = self.controller.cache
        assert cached is not None
        for kind in manager.KINDS:
            self.controller.pump(kind, 0)
        assert cached.check() == []
        assert cached.pinned() == 0
        for kind in manager.KINDS:
            held = [objects.dumps(o) for o in cached.peek_list(kind)]
            assert held == [objects.dumps(o) for o in self.store.list(kind).items], kind

    def patch_release(self, name: str, **spec: Any) -> None:
        rel = self.get_release(name)
        self.store.update(rel.model_copy(update={"spec": rel.spec.model_copy(update=spec)}))

    def write_spec(self, name: str, spec: release.ReleaseSpec) -> None:
        """Write a command's spec, as the CLI does (conditional on what was read)."""
        rel = self.get_release(name)
        self.store.update(rel.model_copy(update={"spec": spec}))
