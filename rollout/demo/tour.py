"""The demo tour: real processes, the real proxy, real load, a real release.

`run(scenarios, …)` in a state dir of its own: takes the state dir's controller lock
(`statelock`: a demo on the state dir of a running controller would fight it; `Tour`
raises `statelock.Held`), starts the local platform (proxy and process runtime) and a
controller in this process; applies the demo policy and the
demo service (v1, `python -m rollout.demo.app`); drives `LOAD_RPS` requests a second
through the proxy with the load generator; then, per scenario, applies a new version
and follows its release to the end:

    bad     v2 fails 20% of its requests → rolled back by the error comparison
    good    the new version is healthy → promoted to 100%
    flaky   the new version is slower (45 ms against 20 ms) → rolled back on latency

Each scenario ends in a `Summary` — its phase, the requests sent during the release,
those the canary served and those it failed (the proxy's own counts), and how long it
took. Everything it started (controller threads, processes, the proxy, the load) is
stopped at the end, also on Ctrl-C.

Called by `rollout demo`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import pathlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from rollout import clock as clocks
from rollout.api import documents, kinds, release, route, service
from rollout.api.release import Phase
from rollout.controller import manager
from rollout.platforms import local
from rollout.platforms.local import loadgen, statelock
from rollout.reconcilers import base
from rollout.store import errors, port, sqlite
from rollout.views import status as status_view

__all__ = ["EXPECTED", "LOAD_RPS", "SCENARIOS", "Summary", "Tour"]

LOAD_RPS = 20.0
NAME = "demo"

POLICY = {
    "apiVersion": "rollout.dev/v1alpha1",
    "kind": "RolloutPolicy",
    "metadata": {"name": "demo"},
    "spec": {
        "steps": [
            {"setWeight": 10},
            {"analysis": {"duration": "20s"}},
            {"setWeight": 50},
            {"analysis": {"duration": "15s"}},
        ],
        "analysis": {
            "interval": "2s",
            "failureLimit": 0,
            "inconclusiveLimit": 30,
            "metrics": [
                {
                    "name": "errors-vs-stable",
                    "provider": {"local": {"stat": "errors"}},
                    "compare": {
                        "against": "stable",
                        "method": "sequential",
                        "alpha": 0.01,
                        "maxRatio": 2,
                    },
                },
                {
                    "name": "latency-vs-stable",
                    "provider": {"local": {"stat": "latency_p50"}},
                    "window": "20s",
                    "interval": "5s",
                    "compare": {
                        "against": "stable",
                        "method": "mann-whitney",
                        "alpha": 0.001,
                        "maxRatio": 1.2,
                    },
                    "minSamples": 30,
                    "failureLimit": 1,
                },
            ],
        },
        "progressDeadline": "2m",
    },
}

# scenario → (env of the new version, the phase its release should end in)
SCENARIOS: dict[str, dict[str, str]] = {
    "bad": {"ERROR_RATE": "0.2", "DELAY_MS": "20"},
    "good": {"ERROR_RATE": "0", "DELAY_MS": "20"},
    "flaky": {"ERROR_RATE": "0", "DELAY_MS": "45"},
}
EXPECTED = {"bad": Phase.ROLLED_BACK, "good": Phase.SUCCEEDED, "flaky": Phase.ROLLED_BACK}


@dataclasses.dataclass(frozen=True)
class Summary:
    scenario: str
    release: str
    phase: str
    total: int
    canary: int
    canary_failed: int
    duration_s: float

    @property
    def as_expected(self) -> bool:
        return self.phase == EXPECTED[self.scenario].value

    def as_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "release": self.release,
            "phase": self.phase,
            "requests": {
                "total": self.total,
                "canary": self.canary,
                "canaryFailed": self.canary_failed,
            },
            "durationS": round(self.duration_s, 1),
        }


def _resource(data: dict[str, Any]) -> kinds.Resource:
    obj, problems = documents.validate_data(data)
    assert obj is not None, problems
    return obj


def _service(version: str, env: dict[str, str]) -> kinds.Resource:
    variables = [{"name": "VERSION", "value": version}]
    variables += [{"name": k, "value": v} for k, v in env.items()]
    return _resource(
        {
            "apiVersion": "rollout.dev/v1alpha1",
            "kind": "Service",
            "metadata": {"name": NAME},
            "spec": {
                "policy": "demo",
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "app",
                                "command": [sys.executable, "-m", "rollout.demo.app"],
                                "env": variables,
                                "readinessProbe": {
                                    "httpGet": {"path": "/healthz", "port": 8080},
                                    "periodSeconds": 1,
                                },
                            }
                        ]
                    }
                },
            },
        }
    )


View = Callable[[service.Service, release.Release | None, route.Route | None, str], None]


class Tour:
    """The demo's world; use as a context manager so that everything stops."""

    def __init__(self, state_dir: pathlib.Path) -> None:
        self.state_dir = state_dir
        self.lock = statelock.acquire(state_dir, command="rollout demo")
        self.clock = clocks.WallClock()
        self.store: port.Store = sqlite.SqliteStore(state_dir / "state.db", now=self.clock.now)
        self.stop = threading.Event()
        self.controller: manager.Controller | None = None
        self.local = local.start(
            state_dir, port_of=lambda ns, svc: None, on_change=self._changed, on_route=self._reapply
        )
        self.controller = manager.Controller(self.store, self.local.platform, self.clock)
        self._threads: list[threading.Thread] = []
        self._load_loop: asyncio.AbstractEventLoop | None = None
        self._load_stop: asyncio.Event | None = None

    def _changed(self, namespace: str, name: str) -> None:
        if self.controller is not None:
            self.controller.wake(base.Key("Revision", namespace, name))

    def _reapply(self, namespace: str, name: str) -> None:
        if self.controller is not None:
            self.controller.wake(base.Key("Route", namespace, name))

    def __enter__(self) -> Tour:
        assert self.controller is not None
        thread = threading.Thread(target=self.controller.run, args=(self.stop,), daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_load()
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self.local.stop()
        self.store.close()
        self.lock.release()

    # --- steps ------------------------------------------------------------------------

    def apply(self, obj: kinds.Resource) -> None:
        key = port.key_of(obj)
        try:
            current = self.store.get(*key)
        except errors.NotFound:
            self.store.create(obj)
            return
        self.store.update(obj.model_copy(update={"metadata": current.metadata}))

    def deploy_v1(self, *, timeout: float = 60) -> str:
        """The policy and v1; returns the service URL once v1 takes the traffic."""
        self.apply(_resource(POLICY))
        self.apply(_service("v1", SCENARIOS["good"]))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            svc = self._service()
            if svc is not None and svc.status.stable_revision and svc.status.url:
                return svc.status.url
            time.sleep(0.2)
        raise RuntimeError(f"v1 did not start within {timeout:.0f} s; see {self.state_dir}/logs")

    def start_load(self, url: str, rps: float = LOAD_RPS) -> None:
        ready = threading.Event()

        def drive() -> None:
            loop = asyncio.new_event_loop()
            self._load_loop = loop
            self._load_stop = asyncio.Event()
            ready.set()
            loop.run_until_complete(
                loadgen.run_open(url, rps=rps, duration=3600, stop=self._load_stop)
            )
            loop.close()

        thread = threading.Thread(target=drive, name="demo-load", daemon=True)
        thread.start()
        self._threads.append(thread)
        ready.wait(timeout=10)

    def stop_load(self) -> None:
        loop, stop = self._load_loop, self._load_stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)

    def roll_out(self, scenario: str, version: str, *, view: View, timeout: float = 180) -> Summary:
        """Apply `version` with the scenario's behaviour; follow its release to the end."""
        started = time.time()
        self.apply(_service(version, SCENARIOS[scenario]))
        deadline = time.monotonic() + timeout
        rel: release.Release | None = None
        while time.monotonic() < deadline:
            svc, rel, rt = self._state()
            # Shown once the controller has seen this version (its release is then the
            # current one), so a scenario does not begin with the previous one's end.
            if svc is not None and svc.status.observed_generation == svc.metadata.generation:
                view(svc, rel, rt, scenario)
            if svc is not None and rel is not None and status_view.outcome(svc, rel) is not None:
                break
            time.sleep(0.25)
        if rel is None:
            raise RuntimeError(f"no release started within {timeout:.0f} s")
        return self._summary(scenario, rel, started)

    # --- reading ----------------------------------------------------------------------

    def _service(self) -> service.Service | None:
        try:
            svc = self.store.get("Service", "default", NAME)
        except errors.NotFound:
            return None
        return svc if isinstance(svc, service.Service) else None

    def _state(self) -> tuple[service.Service | None, release.Release | None, route.Route | None]:
        svc = self._service()
        rel = rt = None
        if svc is not None and svc.status.current_release:
            with contextlib.suppress(errors.NotFound):
                found = self.store.get("Release", "default", svc.status.current_release)
                rel = found if isinstance(found, release.Release) else None
        with contextlib.suppress(errors.NotFound):
            found_route = self.store.get("Route", "default", NAME)
            rt = found_route if isinstance(found_route, route.Route) else None
        return svc, rel, rt

    def _summary(self, scenario: str, rel: release.Release, started: float) -> Summary:
        until = time.time() + 1
        client = self.local.proxy
        total = 0
        for target in (rel.spec.stable_revision, rel.spec.canary_revision):
            if target is not None:
                total += client.stats("default", NAME, target, since=started, until=until).requests
        canary = client.stats("default", NAME, rel.spec.canary_revision, since=started, until=until)
        finished = rel.status.finished_at.timestamp() if rel.status.finished_at else time.time()
        return Summary(
            scenario=scenario,
            release=rel.metadata.name,
            phase=rel.status.phase.value,
            total=total,
            canary=canary.requests,
            canary_failed=canary.errors,
            duration_s=finished - started,
        )


@contextlib.contextmanager
def tour(state_dir: pathlib.Path) -> Iterator[Tour]:
    with Tour(state_dir) as t:
        yield t
