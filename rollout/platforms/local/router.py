"""The local TrafficRouter: applies a Route's split to the local proxy.

`apply(route)` sends the proxy the whole table of the route's service — one target per
`spec.traffic` entry, with the URL of its revision's process (`url_of`; None while the
revision is not running or not ready, which gives it no traffic until the next apply)
and the Service's port (`port_of`; None: a free port, kept by the proxy) — and
returns what the proxy answers: the split it holds and the service URL.

A tagged target's URL is the service URL: a tag is reached by sending the request
there with the header `Rollout-Tag: <tag>` (and any revision of the table with
`Rollout-Revision: <name>`), whatever its percent.

`remove(namespace, name)` stops the service's listener. Errors from the proxy are
raised as `ProxyError` (the reconcile fails and is retried).

Called by the Route reconciler through the TrafficRouter port.
"""

from __future__ import annotations

from collections.abc import Callable

from rollout.api import route, split
from rollout.platforms import ports
from rollout.platforms.local.proxy import client as proxy_client

__all__ = ["LocalRouter"]

UrlOf = Callable[[str, str], str | None]  # (namespace, revision) → http://127.0.0.1:P | None
PortOf = Callable[[str, str], int | None]  # (namespace, service) → port | None


class LocalRouter:
    def __init__(self, client: proxy_client.ProxyClient, url_of: UrlOf, port_of: PortOf) -> None:
        self.client = client
        self.url_of = url_of
        self.port_of = port_of

    def apply(self, rt: route.Route) -> ports.AppliedRoute:
        namespace = rt.metadata.namespace or "default"
        targets = [
            proxy_client.RouteTarget(
                revision=t.revision_name,
                url=self.url_of(namespace, t.revision_name),
                percent=t.percent,
                tag=t.tag,
            )
            for t in rt.spec.traffic
        ]
        applied = self.client.put_route(
            namespace,
            rt.metadata.name,
            port=self.port_of(namespace, rt.spec.service),
            targets=targets,
        )
        return ports.AppliedRoute(
            traffic=[
                split.TrafficStatus(
                    revision_name=t.revision,
                    percent=t.percent,
                    tag=t.tag,
                    url=applied.url if t.tag else None,
                )
                for t in applied.targets
            ],
            url=applied.url,
        )

    def remove(self, namespace: str, name: str) -> None:
        self.client.delete_route(namespace, name)
