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

The Deployments Services adopt (`spec.workloadRef`) are watched by label
(`adopter.KubernetesWorkloads.watch`): a change to one wakes its Service.
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
    connect,
    fenced,
    leader,
    platform,
    rest,
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
    scenario: str | None,
    rps: float,
    scrape_delay: float,
    workers: int,
    lease: leader.LeaseConfig | None,
    serve_metrics: Callable[[manager.Controller], Any],
    namespaces: tuple[str, ...] = (),
    notifications: tuple[policyspec.Notification, ...] = (),
    stats: dispatch.StatsSource | None = None,
) -> None:
    """Run until `stop`; `namespaces` empty: every namespace. `stats`: where `local`
    metrics read request stats (Prometheus, `--metrics prometheus`); none by default."""
    scoped = namespaces or None
    identity = lease.identity if lease else default_identity()
    try:
        api = connect.api_client(
            opts.kubeconfig, context=opts.context, user_agent=f"rollout-controller/{identity}"
        )
    except connect.ConnectError as exc:
        common.fail(str(exc), code=2)
    clock = clocks.WallClock()
    elector = leader.Elector(rest.Resources(api), lease) if lease is not None else None
    may_write = elector.fence.holds if elector is not None else None
    kube_store: port.Store = store.KubernetesStore(api, namespaces=scoped)
    if may_write is not None:
        kube_store = fenced.Fenced(kube_store, may_write)
    plat = platform.make(
        api,
        clock,
        _port_of(kube_store),
        router_default=router,
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
    server = serve_metrics(controller)
    watching = _watch_adopted(plat, controller, stop)
    log.info(
        "controller",
        platform="kubernetes",
        identity=identity,
        router=router,
        scenario=scenario,
        leader_election=lease is not None,
        namespaces=list(namespaces) or "all",
    )
    try:
        if elector is None:
            controller.run(stop)
        else:
            elector.run(stop, controller.run)
    finally:
        if server is not None:
            server.shutdown()
        if watching is not None:
            watching.stop()
        kube_store.close()


def _watch_adopted(
    plat: ports.Platform, controller: manager.Controller, stop: threading.Event
) -> adopter.KubernetesWorkloads | None:
    """Watch the Deployments Services adopted (`spec.workloadRef`): a change wakes the
    Service that adopted it (until `stop`)."""
    workloads = plat.workloads
    if not isinstance(workloads, adopter.KubernetesWorkloads):
        return None

    def wake(namespace: str, name: str) -> None:
        controller.wake(base.Key("Service", namespace, name))

    workloads.watch(wake, stop)
    return workloads


def _port_of(kube_store: port.Store) -> Callable[[str, str], int | None]:
    """The container port of a revision, for the platform's Services (None: unknown)."""

    def port_of(namespace: str, name: str) -> int | None:
        try:
            rev = kube_store.get("Revision", namespace, name)
        except errors.StoreError:
            return None
        return podspec.serving_port(rev.spec.template.spec)  # type: ignore[union-attr]

    return port_of
