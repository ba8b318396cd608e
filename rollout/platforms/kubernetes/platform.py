"""The Kubernetes platform, assembled: runtime (Deployments), router (Gateway API or
Istio; `--gateway`: the parent of HTTPRoutes that name none), events, adopted
Deployments (`spec.workloadRef`: `adopter`), and metric providers (Prometheus and
web, whose `secretKeyRef` credentials the Secret reader gets from the release's
namespace; or, to rehearse a policy on a cluster, a simulator scenario that follows
the weights really applied).

Called by `rollout controller --platform kubernetes`.
"""

from __future__ import annotations

from collections.abc import Callable

from kubernetes import client

from rollout import clock as clocks
from rollout.analysis import measurement
from rollout.analysis.providers import dispatch
from rollout.api import route, routing
from rollout.platforms import ports, sim
from rollout.platforms.kubernetes import adopter, events, rest, router, runtime, secrets
from rollout.sim import scenarios

__all__ = ["SECRET_TIMEOUT", "make"]

SECRET_TIMEOUT = 5.0  # seconds for one Secret read, within a measurement's deadline


class _Observed:
    """A router whose applied splits a simulator also follows (rehearsal metrics)."""

    def __init__(self, real: router.KubernetesRouter, traffic: sim.SimTraffic) -> None:
        self.real = real
        self.traffic = traffic

    def apply(self, rt: route.Route) -> ports.AppliedRoute:
        applied = self.real.apply(rt)
        self.traffic.apply(rt)
        return applied

    def remove(self, namespace: str, name: str) -> None:
        self.real.remove(namespace, name)
        self.traffic.remove(namespace, name)


def make(
    api_client: client.ApiClient,
    clock: clocks.Clock,
    port_of: router.PortOf,
    *,
    router_default: routing.Router = "gateway-api",
    default_gateway: routing.ParentRef | None = None,
    may_write: Callable[[], bool] | None = None,
    scenario: str | None = None,
    rps: float = 10.0,
    scrape_delay: float = 10.0,
    namespaces: tuple[str, ...] | None = None,
    stats: dispatch.StatsSource | None = None,
) -> ports.Platform:
    """The platform; `namespaces` (None: all) bounds where Secrets are read — the
    store bounds everything else (the reconcilers act only on what it lists)."""
    res = rest.Resources(api_client, may_write=may_write)
    real_router = router.KubernetesRouter(
        res, port_of, default=router_default, default_gateway=default_gateway
    )
    traffic_router: ports.TrafficRouter = real_router
    reader = secrets.KubernetesSecrets(
        rest.Resources(api_client, timeout=SECRET_TIMEOUT), namespaces=namespaces
    )
    metrics: measurement.MetricProvider = dispatch.Providers(stats, secrets=reader)
    if scenario is not None:
        traffic = sim.SimTraffic(clock, scenarios.get(scenario), rps=rps, scrape_delay=scrape_delay)
        traffic_router = _Observed(real_router, traffic)
        metrics = traffic
    return ports.Platform(
        name="kubernetes",
        runtime=runtime.KubernetesRuntime(res, clock, namespaces=namespaces),
        router=traffic_router,
        metrics=metrics,
        events=events.KubernetesEvents(res),
        secrets=reader,
        workloads=adopter.KubernetesWorkloads(res, namespaces=namespaces),
    )
