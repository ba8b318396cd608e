"""`rollout controller`: run the controller in the foreground until SIGINT/SIGTERM.

Platforms:
- `local`: each revision runs as a process, the proxy (its own process) splits the
  traffic on 127.0.0.1 and its stats feed the `local` metric provider. A graceful stop
  (SIGINT/SIGTERM) stops every process and the proxy; a controller killed with
  SIGKILL leaves them serving, and the next one adopts them.
- `sim`: rehearsal — no processes, a revision is ready after 2 s, traffic and metrics
  from a simulator `--scenario`, time `--speed` times faster.
- `kubernetes`: revisions as Deployments, traffic by Gateway API or Istio, our
  resources as CRDs on the API server, leader election with `--leader-elect`
  (`controller_kubernetes.py`). `--scenario` there rehearses a policy on the cluster:
  metrics come from the simulator, following the weights really applied.

For local and sim, the store is the state dir's SQLite file. A rehearsal writes its
clock anchor to the state dir so that the CLI's commands are stamped in the
controller's time, and so that a restarted controller carries on from the time it had
reached. Controller
metrics are served on `--metrics-addr` (default 127.0.0.1:9464; `off` for none).
"""

from __future__ import annotations

import os
import signal
import threading
from datetime import UTC, datetime
from types import FrameType
from typing import Any

import click
import structlog
from prometheus_client import start_http_server

from rollout import clock as clocks
from rollout import logs
from rollout.api import service
from rollout.api.routing import ROUTERS, Router
from rollout.cli import common
from rollout.controller import manager
from rollout.platforms import local, sim
from rollout.reconcilers import base
from rollout.sim import scenarios
from rollout.store import errors

__all__ = ["controller_command"]

log = structlog.get_logger(__name__)


@click.command("controller")
@click.option(
    "--platform",
    type=click.Choice(["local", "sim", "kubernetes"]),
    default="local",
    show_default=True,
    help="local: processes and a proxy on this machine; sim: rehearse on simulated traffic.",
)
@click.option(
    "--scenario",
    type=click.Choice(list(scenarios.SCENARIOS)),
    default=None,
    help="sim (default good), kubernetes (default: none, real metrics): simulated canaries.",
)
@click.option("--speed", default=1.0, show_default=True, type=click.FloatRange(min=0.01))
@click.option("--rps", default=10.0, show_default=True, type=click.FloatRange(min=0.1))
@click.option("--workers", default=4, show_default=True, type=click.IntRange(min=1, max=64))
@click.option("--metrics-addr", default="127.0.0.1:9464", show_default=True)
@click.option(
    "--scrape-delay",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="sim, kubernetes --scenario: seconds before a simulated reading is visible.",
)
@click.option(
    "--router",
    type=click.Choice(list(ROUTERS)),
    default="gateway-api",
    show_default=True,
    help="kubernetes: the router of services whose spec.routing does not name one.",
)
@click.option(
    "--leader-elect/--no-leader-elect",
    default=False,
    show_default=True,
    help="kubernetes: campaign for a Lease; only the holder reconciles.",
)
@click.option("--lease-name", default="rollout-controller", show_default=True)
@click.option(
    "--lease-namespace",
    default=None,
    help="kubernetes: where the Lease lives (default $POD_NAMESPACE, else -n).",
)
@click.option("--lease-duration", default=15.0, show_default=True, type=click.FloatRange(min=0.1))
@click.option("--renew-deadline", default=10.0, show_default=True, type=click.FloatRange(min=0.1))
@click.option("--retry-period", default=2.0, show_default=True, type=click.FloatRange(min=0.05))
@click.option("--identity", default=None, help="kubernetes: this replica's name in the Lease.")
@common.state_options()
def controller_command(
    platform: str,
    scenario: str | None,
    speed: float,
    rps: float,
    workers: int,
    metrics_addr: str,
    scrape_delay: float,
    router: Router,
    leader_elect: bool,
    lease_name: str,
    lease_namespace: str | None,
    lease_duration: float,
    renew_deadline: float,
    retry_period: float,
    identity: str | None,
    opts: common.Options,
) -> None:
    """Run the controller in the foreground (stop with Ctrl-C).

    \b
    Rehearse a policy end to end, 30 times faster than real time:
      rollout controller --platform sim --scenario bad-5pct --speed 30 &
      rollout apply -f policies/canary-standard.yaml -f my-service.yaml
    """
    logs.configure()
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        log.info("stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    if platform == "kubernetes":
        from rollout.cli import controller_kubernetes  # imports the kubernetes client
        from rollout.platforms.kubernetes import leader

        if speed != 1.0:
            common.fail("--speed is for --platform sim; a cluster runs in real time", code=2)
        lease = None
        if leader_elect:
            try:
                lease = leader.LeaseConfig(
                    namespace=lease_namespace or os.environ.get("POD_NAMESPACE") or opts.namespace,
                    name=lease_name,
                    identity=identity or controller_kubernetes.default_identity(),
                    lease_duration=lease_duration,
                    renew_deadline=renew_deadline,
                    retry=retry_period,
                )
            except ValueError as exc:
                common.fail(str(exc), code=2)
        controller_kubernetes.run(
            opts,
            stop,
            router=router,
            scenario=scenario,
            rps=rps,
            scrape_delay=scrape_delay,
            workers=workers,
            lease=lease,
            serve_metrics=lambda c: _serve_metrics(metrics_addr, c),
        )
        return
    local_platform: local.LocalPlatform | None = None
    if platform == "sim":
        clock: clocks.Clock = _rehearsal_clock(opts, speed)
        opts._clock = clock
        store = opts.store
        plat = sim.make(clock, scenario or "good", rps=rps, scrape_delay=scrape_delay)
    else:
        if (opts.state_dir / common.CLOCK_FILE).exists():
            common.fail(
                f"{opts.state_dir} holds a rehearsal (--platform sim) and its simulated time;"
                " use another --state-dir for the local platform",
                code=2,
            )
        clock = clocks.WallClock()
        store = opts.store

        def port_of(namespace: str, name: str) -> int | None:
            try:
                svc = store.get("Service", namespace, name)
            except errors.NotFound:
                return None
            return svc.spec.port if isinstance(svc, service.Service) else None

        def changed(namespace: str, name: str) -> None:
            controller.wake(base.Key("Revision", namespace, name))

        local_platform = local.start(opts.state_dir, port_of=port_of, on_change=changed)
        plat = local_platform.platform
    controller = manager.Controller(store, plat, clock, workers=workers)
    server = _serve_metrics(metrics_addr, controller)
    log.info(
        "controller",
        platform=platform,
        scenario=scenario,
        speed=speed,
        state_dir=str(opts.state_dir),
        metrics=metrics_addr,
    )
    try:
        controller.run(stop)
    finally:
        if server is not None:
            server.shutdown()
        if local_platform is not None:
            local_platform.stop()  # graceful: no process or proxy left behind


def _rehearsal_clock(opts: common.Options, speed: float) -> clocks.ScaledClock:
    """Carry on from the time a previous rehearsal reached (time never goes back)."""
    previous = common.load_clock(opts.state_dir)
    now = datetime.now(UTC)
    start = max(previous.now(), now)
    clock = clocks.ScaledClock(speed, start=start, anchor=now)
    common.save_clock(opts.state_dir, clock)
    return clock


def _serve_metrics(addr: str, controller: manager.Controller) -> Any:
    if addr == "off":
        return None
    host, _, port = addr.rpartition(":")
    try:
        server, _thread = start_http_server(
            int(port), addr=host or "127.0.0.1", registry=controller.metrics.registry
        )
    except (ValueError, OSError) as exc:
        common.fail(f"--metrics-addr {addr}: {exc}", code=2)
    return server
