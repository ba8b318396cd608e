"""The local platform: revisions as local processes, a traffic-splitting proxy, metrics
from its stats, state in SQLite under a state directory (DESIGN §6).

    runtime   LocalRuntime: a revision's command as a supervised process
    proxy/    the data plane (its own process) and its admin client
    router    LocalRouter: a Route's split → the proxy
    loadgen   the load generator behind `rollout load` and the demo

`start(state_dir, port_of=…)` assembles the four ports: the runtime, the router on a
proxy it adopts or starts, the metric providers (the `local` provider reads the proxy's
stats; `prometheus` and `web` work as everywhere), and events as log lines.
`LocalPlatform.stop()` is the graceful shutdown: every revision process and the proxy
are stopped (no orphans). A controller killed without it leaves them running, and the
next one adopts them.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable
from typing import Any

import structlog

from rollout.analysis import providers
from rollout.platforms import ports
from rollout.platforms.local import router as local_router
from rollout.platforms.local import runtime as local_runtime
from rollout.platforms.local.proxy import client as proxy_client

__all__ = ["LocalPlatform", "start"]

log = structlog.get_logger(__name__)


class _ProxyStats:
    """The proxy's stats in the shape the `local` provider reads."""

    def __init__(self, client: proxy_client.ProxyClient) -> None:
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
    ) -> dict[str, Any]:
        window = self.client.stats(
            namespace, service, revision, since=since, until=until, samples=samples
        )
        data = dataclasses.asdict(window)
        data["samples"] = list(window.samples)
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
    proxy: proxy_client.ProxyClient
    state_dir: pathlib.Path

    def stop(self) -> None:
        """Stop every revision process and the proxy."""
        self.runtime.shutdown()
        proxy_client.stop_proxy(self.state_dir)


def start(
    state_dir: pathlib.Path,
    *,
    port_of: local_router.PortOf,
    on_change: Callable[[str, str], None] | None = None,
    cwd: pathlib.Path | None = None,
) -> LocalPlatform:
    """The local platform on `state_dir`: adopts or starts the proxy, and the runtime."""
    client = proxy_client.ensure_proxy(state_dir)
    runtime = local_runtime.LocalRuntime(state_dir, on_change=on_change, cwd=cwd)
    platform = ports.Platform(
        name="local",
        runtime=runtime,
        router=local_router.LocalRouter(client, runtime.url_of, port_of),
        metrics=providers.Providers(local=_ProxyStats(client)),
        events=LogEvents(),
    )
    return LocalPlatform(platform=platform, runtime=runtime, proxy=client, state_dir=state_dir)
