"""`rollout dashboard [--addr 127.0.0.1:8765] [--read-only] [--token T | --token-file F]
[-n NS | --all-namespaces]`: a web page of every release, live, with the commands.

Checks its options, opens the store the other commands use (the state dir: read-only
with `--read-only`, else as `promote` does, an existing state only), and serves
`rollout.cli.dashboard.server` until SIGINT or SIGTERM. Every namespace by default;
`-n` shows one.

Safe by default: bound to 127.0.0.1; any other address needs a token (`--token`, or
`--token-file`: a token on the command line is seen by `ps`), at least 16
characters. The printed URL carries it once (`?token=`); the page keeps it in a
cookie. With `--backend kubernetes` it reads the cluster the kubeconfig names, as
every command does: the objects through the store's buffered watch (its feed: no
request per poll), the Events about them every 2 s (of `-n`'s namespace, or one
cluster-wide list, at most `events_cmd.MOST_EVENTS`), and the controller's
leader Lease at most every 2 s (`controller_seen`: "no controller seen" when its
renewTime is older than its leaseDurationSeconds, as `rollout status` says it).

Exit codes as every command (`rollout.cli.common`): 2 for a bad option, 1 when the
address cannot be listened on or there is no state yet.
"""

from __future__ import annotations

import asyncio
import pathlib
import signal
from typing import TYPE_CHECKING

import click
import structlog

from rollout import clock as clocks
from rollout.cli import common, controller_seen
from rollout.store import eventlog, port

if TYPE_CHECKING:  # aiohttp is loaded when the command runs, not when `--help` lists it
    from rollout.cli.dashboard import background, guard, server, source
    from rollout.platforms.kubernetes import rest

__all__ = ["MIN_TOKEN", "dashboard_command", "loopback_addr", "serve_in_thread"]

log = structlog.get_logger(__name__)

MIN_TOKEN = 16  # characters
_GRACE = 30.0  # seconds without a controller before the page says the service is blocked
_CLUSTER_EVENTS = 2.0  # seconds between two reads of a cluster's Events


def _token(token: str | None, token_file: pathlib.Path | None) -> str | None:
    if token is not None and token_file is not None:
        common.fail("give --token or --token-file, not both", code=2)
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            common.fail(f"--token-file {token_file}: {exc}", code=2)
        if not token:
            common.fail(f"--token-file {token_file}: the file is empty", code=2)
    if token is not None and len(token) < MIN_TOKEN:
        common.fail(f"the token must be at least {MIN_TOKEN} characters long", code=2)
    return token


@click.command("dashboard")
@click.option(
    "--addr",
    default="127.0.0.1:8765",
    show_default=True,
    help="HOST:PORT to serve on; anything but loopback needs a token. Port 0: any free one.",
)
@click.option("--read-only", is_flag=True, help="Show, never act: no buttons, POSTs refused.")
@click.option("--token", help="Ask every request for this token (prefer --token-file).")
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=pathlib.Path),
    help="Read the token from this file.",
)
@click.option(
    "-A", "--all-namespaces", is_flag=True, help="Every namespace (the default without -n)."
)
@common.state_options(store="write")
def dashboard_command(
    addr: str,
    read_only: bool,
    token: str | None,
    token_file: pathlib.Path | None,
    all_namespaces: bool,
    opts: common.Options,
) -> None:
    """Serve a web dashboard of every service and release, live, with the commands.

    The overview lists every service (paused and failing releases first) with its
    traffic, release step and verdicts; a release's page charts its weights and each
    metric against its gate. Promote, pause, resume, retry, abort and undo write the
    same intents as the commands of the same names.
    """
    from rollout.cli.dashboard import guard

    try:
        host, port = guard.parse_addr(addr)
    except ValueError as exc:
        common.fail(f"--addr: {exc}", code=2)
    secret = _token(token, token_file)
    if secret is None and not guard.is_loopback(host):
        common.fail(
            f"--addr {addr} can be reached from other machines: give --token-file (or"
            " --token), or serve on 127.0.0.1",
            code=2,
        )
    given = click.get_current_context().get_parameter_source("namespace")
    explicit = given is not None and given is not click.core.ParameterSource.DEFAULT
    if explicit and all_namespaces:
        common.fail("give -n or --all-namespaces, not both", code=2)
    namespace = opts.namespace if explicit else None
    opts.store_mode = "read" if read_only else "write"
    _serve(opts, host, port, guard.Guard(host, port, token=secret), namespace, read_only)


def _serve(
    opts: common.Options,
    host: str,
    port: int,
    checks: guard.Guard,
    namespace: str | None,
    read_only: bool,
) -> None:
    from rollout.cli.dashboard import server, source

    state_dir = opts.state_dir
    if opts.backend == "kubernetes":
        src = _cluster_source(opts, namespace)
    else:
        src = source.Source(
            opts.store,  # opened here: no state is "no state in DIR", exit 1
            clock=opts.clock,
            namespace=namespace,
            events=lambda: eventlog.read(state_dir, now=opts.clock.now()),
            heartbeat=lambda: controller_seen.of_state_dir(
                state_dir, now=clocks.WallClock().now(), grace=_GRACE
            ),
            journal=state_dir / eventlog.FILE,
        )
    board = server.Dashboard(src, guard=checks, read_only=read_only, by=common.requester())
    try:
        asyncio.run(_run(board, host, port, checks))
    except OSError as exc:
        common.fail(f"--addr {host}:{port}: {exc.strerror or exc}", code=1)


def _cluster_source(opts: common.Options, namespace: str | None) -> source.Source:
    """The dashboard's view of the cluster the kubeconfig names: its objects through
    the store, the Events about them (of `namespace`, or of every namespace), and the
    controller's Lease (in the install's namespace, then in the one shown: `-n`, or
    `default`), both through one API client."""
    from rollout.cli.dashboard import source
    from rollout.platforms.kubernetes import manifests

    resources = common.cluster_resources(opts)
    where = (manifests.DEFAULT_NAMESPACE, namespace or opts.namespace)
    return source.Source(
        opts.store,  # the cluster the kubeconfig names, as every command's
        clock=opts.clock,
        namespace=namespace,
        events=_ClusterEvents(resources, namespace),
        events_every=_CLUSTER_EVENTS,
        heartbeat=controller_seen.LeaseReader(
            lambda: controller_seen.find_lease(resources, where),
            clock=clocks.WallClock(),
            grace=_GRACE,
        ),
    )


class _ClusterEvents:
    """The Events about our kinds in `namespace` (None: one cluster-wide list,
    `events_cmd.list_events`, bounded); when they cannot be read (no right to list
    Events there, say), the last ones read — the page is drawn without new events,
    and the reason logged once."""

    def __init__(self, resources: rest.Resources, namespace: str | None) -> None:
        self._resources = resources
        self._namespace = namespace
        self._kept: list[eventlog.Event] = []
        self._failing = False

    def __call__(self) -> list[eventlog.Event]:
        from rollout.cli import events_cmd

        try:
            self._kept = events_cmd.list_events(self._resources, self._namespace)
        except Exception as exc:  # forbidden, unreachable: not the end of the page
            if not self._failing:
                where = self._namespace or "every namespace"
                log.warning("events unreadable", where=where, error=common.message_of(exc))
            self._failing = True
        else:
            self._failing = False
        return self._kept


async def _run(board: server.Dashboard, host: str, port: int, checks: guard.Guard) -> None:
    from aiohttp import web

    from rollout.cli.dashboard import guard

    runner = web.AppRunner(board.app(), access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = int(runner.addresses[0][1])
        board.bound(bound)
        url = f"http://{guard.host_port(host, bound)}/"
        shown = f"{url}?token={checks.token}" if checks.token else url
        mode = "read-only" if board.read_only else "read-write"
        click.echo(f"dashboard ({mode}): {shown}  (Ctrl-C to stop)", err=False)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


def loopback_addr(addr: str, *, option: str = "--dashboard-addr") -> tuple[str, int]:
    """`addr` as (host, port) when it is a loopback address; else exit 2 (no token is
    asked there)."""
    from rollout.cli.dashboard import guard

    try:
        host, port = guard.parse_addr(addr)
    except ValueError as exc:
        common.fail(f"{option}: {exc}", code=2)
    if not guard.is_loopback(host):
        common.fail(f"{option} {addr}: the demo serves its dashboard on loopback only", code=2)
    return host, port


def serve_in_thread(
    store: port.Store, clock: clocks.Clock, state_dir: pathlib.Path, host: str, port: int
) -> background.Running:
    """The dashboard of a state dir this process already holds (`rollout demo
    --dashboard`, its controller in the same process: no heartbeat to read): every
    namespace, read-write, on `host:port` (`loopback_addr`), served from a thread until
    `stop()`; exit 1 when the address cannot be listened on."""
    from rollout.cli.dashboard import background, guard, server, source

    src = source.Source(
        store,
        clock=clock,
        namespace=None,
        events=lambda: eventlog.read(state_dir, now=clock.now()),
        journal=state_dir / eventlog.FILE,
    )
    board = server.Dashboard(
        src, guard=guard.Guard(host, port), read_only=False, by=common.requester()
    )
    try:
        return background.start(board, host, port)
    except OSError as exc:
        common.fail(f"{guard.host_port(host, port)}: {exc.strerror or exc}", code=1)
