"""`rollout controller`: run the controller in the foreground until SIGINT/SIGTERM.

Platforms:
- `local`: each revision runs as a process, the proxy (its own process, supervised:
  restarted when it dies) splits the traffic on 127.0.0.1 and its stats feed the
  `local` metric provider. A graceful stop (SIGINT/SIGTERM) stops every process and
  the proxy; a controller killed with SIGKILL leaves them serving, and the next one
  adopts them.
- `sim`: rehearsal — no processes, a revision is ready after 2 s, traffic and metrics
  from a simulator `--scenario`, time `--speed` times faster.
- `kubernetes`: revisions as Deployments, traffic by Gateway API or Istio, our
  resources as CRDs on the API server, leader election with `--leader-elect`
  (`controller_kubernetes.py`). `--scenario` there rehearses a policy on the cluster:
  metrics come from the simulator, following the weights really applied.
  `--kube-qps`/`--kube-burst` limit its requests to the API server (client side).

For local and sim, the store is the state dir's SQLite file, and one controller runs
per state dir: it holds `statelock` (`<state-dir>/controller.lock`, naming its pid,
host, command and start) until it ends, however it ends; a second one exits 2 with
`error: another controller (pid N, since …) is running on STATE_DIR …`. A controller
that fails at start-up (e.g. `--metrics-addr` in use) stops what it started — the
proxy, if it started one (one adopted from a killed controller keeps serving). A
rehearsal writes its clock anchor to the state dir so that the CLI's commands are
stamped in the controller's time, and so that a restarted controller carries on from
the time it had reached. It writes a heartbeat to the state dir every 2 s
(`rollout.store.heartbeat`: `rollout status` warns when it is older than 6 s), and
keeps its events there too (`rollout.store.eventlog`: the last 20 of each object, at
most 7 days old), for `rollout status`, `history` and `events`. Controller metrics
are served on `--metrics-addr` (default 127.0.0.1:9464; `off` for none).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re
import shlex
import sys
import threading
from datetime import UTC, datetime
from typing import Any

import click
import structlog
from prometheus_client import start_http_server

from rollout import clock as clocks
from rollout import files, logs
from rollout.analysis.providers import presets, promstats
from rollout.api import documents, endpoints, notifyspec, policyspec, routing, service
from rollout.api.routing import ROUTERS, Router
from rollout.cli import common, settings_file, signals
from rollout.controller import manager
from rollout.platforms import local, ports, sim
from rollout.platforms.local import statelock
from rollout.platforms.local.proxy import client as proxy_client
from rollout.reconcilers import base
from rollout.sim import scenarios
from rollout.store import errors, eventlog, heartbeat, port, sqlite

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
    default=None,
    type=click.FloatRange(min=0),
    help="Seconds before a reading is surely visible: simulated traffic (default 10),"
    " or Prometheus with --metrics prometheus (default 15: more than the default"
    " 10 s scrape timeout between a sample's time and its storing).",
)
@click.option(
    "--metrics",
    "metrics_source",
    type=click.Choice(["proxy", "prometheus"]),
    default=None,
    help="Where the request stats of `local` metrics come from: the local proxy (the"
    " local platform's default) or Prometheus (--prometheus-url, --preset).",
)
@click.option("--prometheus-url", default=None, help="--metrics prometheus: its HTTP API.")
@click.option(
    "--prometheus-token-file",
    default=None,
    type=click.Path(dir_okay=False),
    help="--metrics prometheus: a bearer token, read at each query (rotations apply).",
)
@click.option(
    "--prometheus-timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0.1, max=300),
    help="--metrics prometheus: seconds a query may take (HTTP and evaluation).",
)
@click.option(
    "--prometheus-basic-auth-file",
    default=None,
    type=click.Path(dir_okay=False),
    help="--metrics prometheus: user:password for HTTP basic auth, read at each query.",
)
@click.option(
    "--prometheus-ca-file",
    default=None,
    type=click.Path(exists=True, dir_okay=False),
    help="--metrics prometheus: a PEM bundle verifying an https --prometheus-url.",
)
@click.option(
    "--prometheus-header",
    "prometheus_headers",
    multiple=True,
    metavar="NAME=VALUE",
    help="--metrics prometheus: a header for every query, repeatable (e.g."
    " X-Scope-OrgID=team-a); credentials go in --prometheus-token-file or"
    " --prometheus-basic-auth-file.",
)
@click.option(
    "--preset",
    type=click.Choice(sorted(presets.PRESETS)),
    default=None,
    help="--metrics prometheus: whose counters (default rollout-proxy on local).",
)
@click.option(
    "--router",
    type=click.Choice(list(ROUTERS)),
    default="gateway-api",
    show_default=True,
    help="kubernetes: the router of services whose spec.routing does not name one.",
)
@click.option(
    "--gateway",
    default=None,
    metavar="[NAMESPACE/]NAME",
    help="kubernetes: the Gateway an HTTPRoute attaches to when its Service's"
    " spec.routing names no parentRefs (without a namespace: the Service's own).",
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
@click.option(
    "--notifications",
    "notifications_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="A YAML file `notifications: [...]`: sent for every release whose policy has none.",
)
@click.option(
    "--watch-namespaces",
    multiple=True,
    metavar="NS[,NS…]",
    help="kubernetes: list, watch and act only in these namespaces (default: all).",
)
@click.option(
    "--kube-qps",
    default=None,
    type=click.FloatRange(min=0),
    help="kubernetes: requests a second to the API server, all clients of the controller"
    " together, as client-go's QPS (default 20, as controller-runtime's; 0: no limit);"
    " a watch counts once, when opened.",
)
@click.option(
    "--kube-burst",
    default=None,
    type=click.IntRange(min=1),
    help="kubernetes: requests sent at once above --kube-qps before it applies (default 30).",
)
@common.state_options()
@settings_file.config_option
def controller_command(
    platform: str, watch_namespaces: tuple[str, ...], opts: common.Options, **options: Any
) -> None:
    """Run the controller in the foreground (stop with Ctrl-C).

    \b
    Rehearse a policy end to end, 30 times faster than real time:
      rollout controller --platform sim --scenario bad-5pct --speed 30 &
      rollout apply -f policies/canary-standard.yaml -f my-service.yaml
    """
    logs.configure()
    options["notifications"] = _notifications(options.pop("notifications_file"))
    options["stats"] = _request_stats(
        platform,
        options.pop("metrics_source"),
        options.pop("prometheus_url"),
        options.pop("preset"),
        options["scrape_delay"],
        _Access(
            options.pop("prometheus_token_file"),
            options.pop("prometheus_ca_file"),
            options.pop("prometheus_headers"),
            options.pop("prometheus_basic_auth_file"),
            options.pop("prometheus_timeout"),
        ),
    )
    if options["scrape_delay"] is None:
        options["scrape_delay"] = 10.0  # simulated traffic's
    stop = threading.Event()
    signals.stop_on_signals(stop)
    if watch_namespaces and platform != "kubernetes":
        common.fail("--watch-namespaces is for --platform kubernetes", code=2)
    for flag in ("kube_qps", "kube_burst"):
        if options[flag] is not None and platform != "kubernetes":
            common.fail(f"--{flag.replace('_', '-')} is for --platform kubernetes", code=2)
    if platform == "kubernetes":
        _run_on_kubernetes(opts, stop, watch_namespaces=watch_namespaces, **options)
        return
    local = {name: options[name] for name in _STATE_DIR_OPTIONS}
    _run_on_state_dir(opts, stop, platform=platform, **local)


# The options of the local and sim platforms; the others are for kubernetes.
_STATE_DIR_OPTIONS = (
    "scenario",
    "speed",
    "rps",
    "workers",
    "metrics_addr",
    "scrape_delay",
    "notifications",
    "stats",
)


@dataclasses.dataclass(frozen=True)
class _Access:
    """How the controller reaches its Prometheus (`--prometheus-*`)."""

    token_file: str | None
    ca_file: str | None
    headers: tuple[str, ...]
    basic_auth_file: str | None = None
    timeout: float = 10.0

    def given(self) -> bool:
        return bool(self.token_file or self.ca_file or self.headers or self.basic_auth_file)

    def parsed_headers(self) -> dict[str, str]:
        found = {}
        for item in self.headers:
            name, equals, value = item.partition("=")
            if not equals or not _HEADER_NAME.fullmatch(name) or not value.isprintable():
                common.fail(f"--prometheus-header {item!r}: NAME=VALUE, NAME an HTTP token", code=2)
            if name.lower() == "authorization":
                common.fail(
                    "--prometheus-header: put credentials in --prometheus-token-file, not on"
                    " the command line",
                    code=2,
                )
            found[name] = value
        return found


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _request_stats(
    platform: str,
    source: str | None,
    url: str | None,
    preset: str | None,
    scrape_delay: float | None,
    access: _Access,
) -> promstats.PrometheusStats | None:
    """The request stats of `local` metrics when they come from Prometheus; None for
    the platform's own (the local proxy; none on a cluster). Exit 2 on a bad option."""
    if source != "prometheus":
        if url is not None or preset is not None or access.given():
            common.fail(
                "--prometheus-url, --preset and --prometheus-* go with --metrics prometheus",
                code=2,
            )
        return None
    if platform == "sim":
        common.fail("--metrics prometheus: the rehearsal platform's traffic is simulated", code=2)
    if url is None:
        common.fail("--metrics prometheus needs --prometheus-url", code=2)
    problem = endpoints.http_url_problem(url)
    if problem is not None:
        common.fail(f"--prometheus-url: {problem}", code=2)
    if preset is None and platform != "local":
        common.fail(
            f"--metrics prometheus needs --preset on a cluster (one of"
            f" {', '.join(sorted(presets.PRESETS))})",
            code=2,
        )
    if access.ca_file is not None and not url.startswith("https://"):
        common.fail("--prometheus-ca-file verifies an https --prometheus-url", code=2)
    if access.token_file is not None and access.basic_auth_file is not None:
        common.fail(
            "--prometheus-token-file or --prometheus-basic-auth-file: one credential", code=2
        )
    return promstats.PrometheusStats(
        url,
        presets.PRESETS[preset or "rollout-proxy"],
        scrape_delay=promstats.DEFAULT_SCRAPE_DELAY if scrape_delay is None else scrape_delay,
        headers=access.parsed_headers(),
        token_file=str(pathlib.Path(access.token_file).resolve()) if access.token_file else None,
        ca_file=access.ca_file,
        basic_auth_file=(
            str(pathlib.Path(access.basic_auth_file).resolve()) if access.basic_auth_file else None
        ),
        timeout=access.timeout,
    )


def _notifications(path: str | None) -> tuple[policyspec.Notification, ...]:
    """The controller's default notifications, or exit 2 with each problem at its line."""
    if path is None:
        return ()
    try:
        text = pathlib.Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        common.fail(f"--notifications {path}: cannot read it: {exc}", code=2)
    parsed, problems = documents.parse_settings(text, path, notifyspec.Notifications)
    for problem in problems:
        click.echo(str(problem), err=True)
    if parsed is None:
        raise SystemExit(2)
    return tuple(parsed.notifications)


def _run_on_kubernetes(
    opts: common.Options,
    stop: threading.Event,
    *,
    scenario: str | None,
    speed: float,
    rps: float,
    workers: int,
    metrics_addr: str,
    scrape_delay: float,
    router: Router,
    gateway: str | None,
    leader_elect: bool,
    lease_name: str,
    lease_namespace: str | None,
    lease_duration: float,
    renew_deadline: float,
    retry_period: float,
    identity: str | None,
    watch_namespaces: tuple[str, ...],
    notifications: tuple[policyspec.Notification, ...],
    stats: promstats.PrometheusStats | None,
    kube_qps: float | None,
    kube_burst: int | None,
) -> None:
    """The kubernetes platform (`controller_kubernetes`), once its options are checked:
    exit 2 on a bad one."""
    from rollout.cli import controller_kubernetes  # imports the kubernetes client
    from rollout.platforms.kubernetes import apiclient, leader, scope

    try:
        namespaces = scope.parse_namespaces(watch_namespaces)
    except scope.ScopeError as exc:
        common.fail(f"--watch-namespaces: {exc}", code=2)
    if speed != 1.0:
        common.fail("--speed is for --platform sim; a cluster runs in real time", code=2)
    try:
        default_gateway = routing.parse_gateway(gateway) if gateway is not None else None
    except ValueError as exc:
        common.fail(f"--gateway {gateway}: {exc}", code=2)
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
        gateway=default_gateway,
        scenario=scenario,
        rps=rps,
        scrape_delay=scrape_delay,
        workers=workers,
        lease=lease,
        serve_metrics=lambda c: _serve_metrics(metrics_addr, c),
        namespaces=namespaces,
        notifications=notifications,
        stats=stats,
        qps=apiclient.DEFAULT_QPS if kube_qps is None else kube_qps,
        burst=apiclient.DEFAULT_BURST if kube_burst is None else kube_burst,
    )


def _run_on_state_dir(
    opts: common.Options,
    stop: threading.Event,
    *,
    platform: str,
    scenario: str | None,
    speed: float,
    rps: float,
    workers: int,
    metrics_addr: str,
    scrape_delay: float,
    notifications: tuple[policyspec.Notification, ...],
    stats: promstats.PrometheusStats | None,
) -> None:
    """The local and sim platforms. In order: the state dir's lock (one controller per
    state dir, held until this returns or the process ends; nothing is written before
    it), the store, then what writes or starts anything — all of it stopped again if
    start-up fails."""
    if platform == "sim":
        clock: clocks.Clock = _rehearsal_clock(opts, speed)
        opts._clock = clock
    else:
        if (opts.state_dir / common.CLOCK_FILE).exists():
            common.fail(
                f"{opts.state_dir} holds a rehearsal (--platform sim) and its simulated"
                " time; use another --state-dir for the local platform",
                code=2,
            )
        clock = clocks.WallClock()
    lock = _lock(opts.state_dir)
    try:
        store = opts.store
        _start_and_run(
            opts,
            stop,
            store,
            clock,
            platform=platform,
            scenario=scenario,
            speed=speed,
            rps=rps,
            workers=workers,
            metrics_addr=metrics_addr,
            scrape_delay=scrape_delay,
            notifications=notifications,
            stats=stats,
        )
    finally:
        lock.release()


def _lock(state_dir: pathlib.Path) -> statelock.StateLock:
    """The state dir's controller lock (the dir made as the store makes it), or exit 2
    naming who holds it; a dir that cannot be used is reported as the store does."""
    try:
        files.secure_dir(state_dir)
        return statelock.acquire(state_dir, command=shlex.join(sys.argv)[:300])
    except statelock.Held as exc:
        common.fail(str(exc), code=2)
    except OSError as exc:
        raise sqlite.unusable_dir(state_dir, exc) from exc


def _start_and_run(
    opts: common.Options,
    stop: threading.Event,
    store: port.Store,
    clock: clocks.Clock,
    *,
    platform: str,
    scenario: str | None,
    speed: float,
    rps: float,
    workers: int,
    metrics_addr: str,
    scrape_delay: float,
    notifications: tuple[policyspec.Notification, ...],
    stats: promstats.PrometheusStats | None,
) -> None:
    """Start the platform and the controller (undone if start-up fails), run until
    `stop`, then stop them: no revision process or proxy left behind."""
    callbacks = _Callbacks(store)
    local_platform: local.LocalPlatform | None = None
    try:
        if platform == "sim":
            assert isinstance(clock, clocks.ScaledClock)
            common.save_clock(opts.state_dir, clock)  # once we hold the lock
            plat = sim.make(
                clock,
                scenario or "good",
                rps=rps,
                scrape_delay=scrape_delay,
                journal=opts.state_dir / sim.JOURNAL_FILE,
            )
        else:
            local_platform = _start_local(opts.state_dir, callbacks, stats)
            plat = local_platform.platform
        # the events also go to the state dir's journal (`rollout status`, `events`)
        plat = dataclasses.replace(
            plat, events=_Journaled(plat.events, eventlog.Journal(opts.state_dir))
        )
        controller = manager.Controller(
            store, plat, clock, workers=workers, notifications=notifications
        )
        callbacks.controller = controller
        if local_platform is not None:  # deleted while no controller ran: stopped now
            for kind, namespace, name in local_platform.left_behind():
                controller.wake(base.Key(kind, namespace, name))
        server = _serve_metrics(metrics_addr, controller)
    except BaseException:  # SystemExit from common.fail included: no orphan proxy
        if local_platform is not None:
            local_platform.undo_start()
        raise
    log.info(
        "controller",
        platform=platform,
        scenario=scenario,
        speed=speed,
        state_dir=str(opts.state_dir),
        metrics=metrics_addr,
    )
    beating = threading.Thread(
        target=_beat, args=(opts.state_dir, stop), name="heartbeat", daemon=True
    )
    beating.start()
    try:
        controller.run(stop)
    finally:
        if server is not None:
            server.shutdown()
        if local_platform is not None:
            local_platform.stop()  # graceful: no process or proxy left behind


def _beat(state_dir: pathlib.Path, stop: threading.Event) -> None:
    """Write the controller's heartbeat (`rollout.store.heartbeat`) every period until
    `stop`; a write that fails (a full disk) is logged and tried again next period."""
    wall = clocks.WallClock()
    while True:
        try:
            heartbeat.write(state_dir, now=wall.now())
        except OSError as exc:
            log.warning("heartbeat not written", error=str(exc))
        if stop.wait(heartbeat.PERIOD):
            return


class _Journaled:
    """An event recorder that also appends each event to the state dir's journal
    (`rollout.store.eventlog`, bounded), one at a time (events come from every worker)."""

    def __init__(self, inner: ports.EventRecorder, journal: eventlog.Journal) -> None:
        self.inner = inner
        self.journal = journal
        self._lock = threading.Lock()

    def record(self, event: ports.RecordedEvent) -> None:
        self.inner.record(event)
        kept = eventlog.Event(
            kind=event.kind,
            namespace=event.namespace,
            name=event.name,
            reason=event.reason,
            message=event.message,
            warning=event.warning,
            at=event.at,
        )
        try:
            with self._lock:
                self.journal.record(kept)
        except OSError as exc:  # the journal is a convenience: never fail a reconcile
            log.warning("event not journaled", error=str(exc))


class _Callbacks:
    """What the local platform calls back, from its threads; it may call before the
    controller exists (then a change wakes nothing: the first pass sees it)."""

    def __init__(self, store: port.Store) -> None:
        self.store = store
        self.controller: manager.Controller | None = None

    def changed(self, namespace: str, name: str) -> None:  # a revision's process changed
        if self.controller is not None:
            self.controller.wake(base.Key("Revision", namespace, name))

    def reapply(self, namespace: str, name: str) -> None:  # the proxy lost or changed a route
        if self.controller is not None:
            self.controller.wake(base.Key("Route", namespace, name))

    def port_of(self, namespace: str, name: str) -> int | None:
        try:
            svc = self.store.get("Service", namespace, name)
        except errors.NotFound:
            return None
        return svc.spec.port if isinstance(svc, service.Service) else None


def _start_local(
    state_dir: pathlib.Path, callbacks: _Callbacks, stats: promstats.PrometheusStats | None
) -> local.LocalPlatform:
    """The local platform (its proxy adopted or started), or exit 1 saying why not."""
    try:
        return local.start(
            state_dir,
            port_of=callbacks.port_of,
            on_change=callbacks.changed,
            on_route=callbacks.reapply,
            stats=stats,
        )
    except proxy_client.ProxyError as exc:
        common.fail(f"cannot start the local proxy: {exc}")


def _rehearsal_clock(opts: common.Options, speed: float) -> clocks.ScaledClock:
    """Carry on from the time a previous rehearsal reached (time never goes back); the
    caller saves it once it holds the state dir's lock."""
    previous = common.load_clock(opts.state_dir)
    now = datetime.now(UTC)
    start = max(previous.now(), now)
    return clocks.ScaledClock(speed, start=start, anchor=now)


def _serve_metrics(addr: str, controller: manager.Controller) -> Any:
    if addr == "off":
        return None
    host, _, port = addr.rpartition(":")
    if not port.isdigit() or not 0 < int(port) <= 65535:
        common.fail(f"--metrics-addr {addr}: the port must be a number from 1 to 65535", code=2)
    try:
        server, _thread = start_http_server(
            int(port), addr=host or "127.0.0.1", registry=controller.metrics.registry
        )
    except (ValueError, OSError, OverflowError) as exc:
        common.fail(f"--metrics-addr {addr}: {exc}", code=2)
    return server
