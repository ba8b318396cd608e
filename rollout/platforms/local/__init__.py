"""The local platform: revisions as local processes, a traffic-splitting proxy, metrics
from its stats, state in SQLite under a state directory (DESIGN §6).

    runtime     LocalRuntime: a revision's command as a supervised process
    podtemplate what runs from a pod template, and what is ignored (IgnoredOnLocal)
    podenv      a container's environment as the kubelet would make it
    configfiles Secrets and ConfigMaps as files in the state dir
    slots       one revision's process record and the supervisor's decisions on it
    proxy/      the data plane (its own process) and its admin client
    supervisor  ProxySupervisor: keeps the proxy running, wakes the routes
    router      LocalRouter: a Route's split → the proxy
    statelock   one controller per state dir
    loadgen     the load generator behind `rollout load` and the demo

`start(state_dir, port_of=…, on_change=…, on_route=…)` assembles the four ports: the
runtime, the router on a proxy it adopts or starts (and supervises from then on), the
metric providers (the `local` provider reads the proxy's stats; `prometheus` and
`web` work as everywhere), and events as log lines. `on_change(namespace, revision)`
is called when a revision's state changes, `on_route(namespace, route)` when a route
must be applied again (the proxy restarted, or its table was changed by someone else).

`LocalPlatform.stop()` is the graceful shutdown: every revision process and the proxy
are stopped (no orphans). A controller killed without it leaves them running, and the
next one adopts them; `LocalPlatform.left_behind()` names them, so that the next
controller also stops those whose objects were deleted meanwhile.
`LocalPlatform.undo_start()` is for a controller that fails before it runs: it stops
the proxy only if this `start` started it (one adopted from a killed controller keeps
serving its revisions).

Files in the state dir (what tools such as `bench/chaos_local.py` may read):
`controller.lock` (`statelock`: who runs the controller), `proxy.json` (the proxy's
pid, admin URL and boot id), `proxy.token` (the admin token, 0600), `run/*.json` (a
revision's pid and port), `logs/`; and the user's `secrets/` and `configmaps/`
(`<namespace>/<name>/<key>`, read by `configfiles`).
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable
from typing import Any

import structlog

from rollout.analysis.providers import dispatch
from rollout.platforms import ports
from rollout.platforms.local import router as local_router
from rollout.platforms.local import runtime as local_runtime
from rollout.platforms.local import supervisor as proxy_supervisor
from rollout.platforms.local.proxy import client as proxy_client

__all__ = ["LocalPlatform", "ProxyStats", "start"]

log = structlog.get_logger(__name__)


class ProxyStats:
    """The proxy's stats in the shape the `local` provider reads (from the current
    proxy: a restarted one has a new client)."""

    def __init__(self, client: Callable[[], proxy_client.ProxyClient]) -> None:
        self.client = client

    def stats(
        self,
        namespace: str,
        service: str,
        revision: str,
        *,
        since: float,
        until: float,
        samples: int,
        slower_than: float | None = None,
    ) -> dict[str, Any]:
        window = self.client().stats(
            namespace,
            service,
            revision,
            since=since,
            until=until,
            samples=samples,
            slower_than=slower_than,
        )
        data = dataclasses.asdict(window)
        data["samples"] = list(window.samples)
        data["slowerThan"] = data.pop("slower_than")
        return data


class LogEvents:
    """Events as log lines (the release history keeps what users read)."""

    def record(self, event: ports.RecordedEvent) -> None:
        log.info(
            "event",
            kind=event.kind,
            namespace=event.namespace,
            name=event.name,
            reason=event.reason,
            message=event.message,
            warning=event.warning,
        )


@dataclasses.dataclass
class LocalPlatform:
    platform: ports.Platform
    runtime: local_runtime.LocalRuntime
    router: local_router.LocalRouter
    supervisor: proxy_supervisor.ProxySupervisor
    state_dir: pathlib.Path

    @property
    def proxy(self) -> proxy_client.ProxyClient:
        """The current proxy's admin client."""
        return self.supervisor.client()

    def stop(self) -> None:
        """Stop every revision process and the proxy."""
        self.supervisor.stop()
        self.runtime.shutdown()
        proxy_client.stop_proxy(self.state_dir)

    def left_behind(self) -> list[tuple[str, str, str]]:
        """`(kind, namespace, name)` of what an earlier controller left running: a
        Revision per run file, a Route per route the proxy holds. The controller
        reconciles them once at start-up, so that those deleted while no controller ran
        (`rollout delete service` after a crash) are stopped and their ports freed."""
        found = []
        for path in sorted(self.runtime.run_dir.glob("*.json")):
            namespace, _, name = path.stem.partition(".")
            if name:
                found.append(("Revision", namespace, name))
        try:
            routes = self.proxy.routes()
        except proxy_client.ProxyError:
            routes = []  # the supervisor restarts it; its routes are applied again
        found.extend(("Route", r.namespace, r.service) for r in routes)
        return found

    def undo_start(self) -> None:
        """Stop what `start` started (for a controller that fails before it runs)."""
        self.supervisor.stop()
        self.runtime.shutdown()
        if self.supervisor.started_proxy:
            proxy_client.stop_proxy(self.state_dir)


def start(
    state_dir: pathlib.Path,
    *,
    port_of: local_router.PortOf,
    on_change: Callable[[str, str], None] | None = None,
    on_route: Callable[[str, str], None] | None = None,
    cwd: pathlib.Path | None = None,
    stats: dispatch.StatsSource | None = None,
) -> LocalPlatform:
    """The local platform on `state_dir`: adopts or starts the proxy (supervised from
    now on), and the runtime. Raises `ProxyError` when the proxy cannot be started.
    `stats`: where `local` metrics read request stats (default: the proxy's own)."""
    supervisor = proxy_supervisor.ProxySupervisor(state_dir)
    runtime = local_runtime.LocalRuntime(state_dir, on_change=on_change, cwd=cwd)
    router = local_router.LocalRouter(supervisor.client, runtime.endpoint, port_of)
    supervisor.start(router=router, wake=on_route)
    platform = ports.Platform(
        name="local",
        runtime=runtime,
        router=router,
        metrics=dispatch.Providers(local=stats or ProxyStats(supervisor.client)),
        events=LogEvents(),
    )
    return LocalPlatform(
        platform=platform,
        runtime=runtime,
        router=router,
        supervisor=supervisor,
        state_dir=state_dir,
    )
