"""`rollout controller --platform kubernetes`: the controller on a cluster.

The store is our CRDs on the API server (`KubernetesStore`), the platform makes
Deployments, Services and routes (`rollout.platforms.kubernetes.platform`). With
`--leader-elect` (the install manifests turn it on) replicas campaign for a Lease and
only the holder reconciles; its writes are fenced by the lease, so a replica that
could not renew in time stops writing before anyone else can take over.

With `--watch-namespaces a,b` (what `rollout install --watch-namespaces` starts it
with) the store lists and watches only those namespaces, every call outside them is
refused before it is sent, and Secrets are read only there: the controller works
with Roles in those namespaces and no cluster-wide grant.

Every request to the API server (store, platform) shares one client-side rate limit,
`--kube-qps` a second in bursts of `--kube-burst` (`apiclient`), and its counts are
among the controller's metrics (`rollout_kube_requests_total`, …). The Lease's
requests (one per `--retry-period`) have a client and limit of their own, so that a
renewal never waits behind the workers' requests.

The Deployments Services adopt (`spec.workloadRef`) are watched by label
(`adopter.KubernetesWorkloads.watch`): a change to one wakes its Service. Those the
runtime makes are watched by our managed-by label (`runtime.KubernetesRuntime.watch`):
a change of one's status wakes its Revision, which then does not poll it.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from typing import Any

import structlog

from rollout import clock as clocks
from rollout.analysis.providers import dispatch
from rollout.api import podspec, policyspec, routing
from rollout.cli import common
from rollout.controller import manager
from rollout.platforms import ports
from rollout.platforms.kubernetes import (
    adopter,
    apiclient,
    connect,
    fenced,
    leader,
    platform,
    rest,
    runtime,
    store,
)
from rollout.reconcilers import base
from rollout.store import errors, port

__all__ = ["default_identity", "run"]

log = structlog.get_logger(__name__)


def default_identity() -> str:
    """$POD_NAME in a pod (set by the install manifests), else host and pid."""
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"


def run(
    opts: common.Options,
    stop: threading.Event,
    *,
    router: routing.Router,
    gateway: routing.ParentRef | None = None,
    scenario: str | None,
    rps: float,
    scrape_delay: float,
    workers: int,
    lease: leader.LeaseConfig | None,
    serve_metrics: Callable[[manager.Controller], Any],
    namespaces: tuple[str, ...] = (),
    notifications: tuple[policyspec.Notification, ...] = (),
    stats: dispatch.StatsSource | None = None,
    qps: float = apiclient.DEFAULT_QPS,
    burst: int = apiclient.DEFAULT_BURST,
) -> None:
    """Run until `stop`; `namespaces` empty: every namespace. `stats`: where `local`
    metrics read request stats (Prometheus, `--metrics prometheus`); none by default.
    `qps`/`burst`: the client-side limit of every request to the API server."""
    scoped = namespaces or None
    identity = lease.identity if lease else default_identity()
    agent = f"rollout-controller/{identity}"
    try:
        api = connect.api_client(
            opts.kubeconfig, context=opts.context, user_agent=agent, qps=qps, burst=burst
        )
        # the Lease has a client (and rate limit) of its own, as controller-runtime's
        # leader election: a renewal never queues behind the workers' requests
        lease_api = (
            connect.api_client(opts.kubeconfig, context=opts.context, user_agent=agent)
            if lease is not None
            else None
        )
    except connect.ConnectError as exc:
        common.fail(str(exc), code=2)
    clock = clocks.WallClock()
    elector = (
        leader.Elector(rest.Resources(lease_api), lease)
        if lease is not None and lease_api is not None
        else None
    )
    may_write = elector.fence.holds if elector is not None else None
    kube_store: port.Store = store.KubernetesStore(api, namespaces=scoped)
    if may_write is not None:
        kube_store = fenced.Fenced(kube_store, may_write)
    plat = platform.make(
        api,
        clock,
        _port_of(kube_store),
        router_default=router,
        default_gateway=gateway,
        may_write=may_write,
        scenario=scenario,
        rps=rps,
        scrape_delay=scrape_delay,
        namespaces=scoped,
        stats=stats,
    )
    controller = manager.Controller(
        kube_store, plat, clock, workers=workers, notifications=notifications
    )
    controller.metrics.registry.register(apiclient.collector(apiclient.of(api)))
    server = serve_metrics(controller)
    watching = _watch_deployments(plat, controller, stop)
    log.info(
        "controller",
        platform="kubernetes",
        identity=identity,
        router=router,
        gateway=_named(gateway),
        scenario=scenario,
        leader_election=lease is not None,
        namespaces=list(namespaces) or "all",
        kube_qps=qps,
        kube_burst=burst,
    )
    try:
        if elector is None:
            controller.run(stop)
        else:
            elector.run(stop, controller.run)
    finally:
        if server is not None:
            server.shutdown()
        for watch in watching:
            watch.stop()
        kube_store.close()
        sent, retried, waited = apiclient.of(api).counts()
        log.info(
            "api server requests",
            sent=sum(sent.values()),
            retried=sum(retried.values()),
            throttled_seconds=round(waited, 3),
        )


def _named(gateway: routing.ParentRef | None) -> str | None:
    if gateway is None:
        return None
    return f"{gateway.namespace}/{gateway.name}" if gateway.namespace else gateway.name


def _watch_deployments(
    plat: ports.Platform, controller: manager.Controller, stop: threading.Event
) -> list[adopter.KubernetesWorkloads | runtime.KubernetesRuntime]:
    """Watch the Deployments Services adopted (`spec.workloadRef`: a change wakes the
    Service that adopted it) and those the runtime made (a change of status wakes the
    revision), until `stop`."""
    started: list[adopter.KubernetesWorkloads | runtime.KubernetesRuntime] = []
    workloads = plat.workloads
    if isinstance(workloads, adopter.KubernetesWorkloads):

        def wake_service(namespace: str, name: str) -> None:
            controller.wake(base.Key("Service", namespace, name))

        workloads.watch(wake_service, stop)
        started.append(workloads)
    if isinstance(plat.runtime, runtime.KubernetesRuntime):

        def wake_revision(namespace: str, name: str) -> None:
            controller.wake(base.Key("Revision", namespace, name))

        plat.runtime.watch(wake_revision, stop)
        started.append(plat.runtime)
    return started


def _port_of(kube_store: port.Store) -> Callable[[str, str], int | None]:
    """The container port of a revision, for the platform's Services (None: unknown)."""

    def port_of(namespace: str, name: str) -> int | None:
        try:
            rev = kube_store.get("Revision", namespace, name)
        except errors.StoreError:
            return None
        return podspec.serving_port(rev.spec.template.spec)  # type: ignore[union-attr]

    return port_of
