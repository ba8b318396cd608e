"""`rollout demo`: the one-command tour on the local platform.

Runs in a temporary state dir (or `--state-dir`): a controller, the proxy and the
demo app's processes, load through the proxy, then a release per scenario — by
default a bad version (rolled back) and then a good one (promoted). On a terminal it
shows the live status view; piped, one line per change; `--json` prints only one
summary object per scenario. `--dashboard` also serves the web dashboard on the tour's
state (`rollout.cli.dashboard_cmd.serve_in_thread`) and prints its URL on stderr. Exit
0 when every release ended as the scenario expects. Everything it started is stopped
at the end. On the state dir of a running controller it exits 2 (`another controller
… is running on …`): the two would fight.
"""

from __future__ import annotations

import contextlib
import json
import pathlib
import shutil
import tempfile

import click
from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from rollout import logs
from rollout.api import release, route, service
from rollout.cli import common
from rollout.demo import tour
from rollout.platforms.local import statelock
from rollout.views import status as status_view

__all__ = ["demo_command"]

_INTRO = {
    "bad": "v{n} fails 20% of its requests: the release should roll it back",
    "good": "v{n} is healthy: the release should promote it",
    "flaky": "v{n} answers in 45 ms instead of 20 ms: the latency gate should roll it back",
}


@click.command("demo")
@click.option(
    "--scenario",
    type=click.Choice(["both", *tour.SCENARIOS]),
    default="both",
    show_default=True,
    help="both: a bad version, then a good one.",
)
@click.option("--json", "as_json", is_flag=True, help="Print only the summaries, as JSON.")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=pathlib.Path),
    help="Where to keep state and logs (default: a temporary dir, removed at the end).",
)
@click.option(
    "--dashboard",
    "with_dashboard",
    is_flag=True,
    help="Also serve the web dashboard while the tour runs (its URL on stderr).",
)
@click.option(
    "--dashboard-addr",
    default="127.0.0.1:8765",
    show_default=True,
    help="Where --dashboard serves (loopback only; port 0: any free one).",
)
def demo_command(
    scenario: str,
    as_json: bool,
    state_dir: pathlib.Path | None,
    with_dashboard: bool,
    dashboard_addr: str,
) -> None:
    """The tour: two versions of a service running for real, traffic split between
    them by the proxy, a bad version caught and rolled back, a good one promoted.

    With --dashboard, the web dashboard (`rollout dashboard`) follows it too."""
    where = None
    if with_dashboard:
        from rollout.cli import dashboard_cmd  # aiohttp: only with --dashboard

        where = dashboard_cmd.loopback_addr(dashboard_addr)  # before anything starts
    scenarios = ["bad", "good"] if scenario == "both" else [scenario]
    temporary = state_dir is None
    directory = state_dir or pathlib.Path(tempfile.mkdtemp(prefix="rollout-demo-"))
    directory.mkdir(parents=True, exist_ok=True)
    console = Console(stderr=False)
    live_view = console.is_terminal and not as_json
    summaries: list[tour.Summary] = []
    with (directory / "controller.log").open("a") as log_file:
        logs.configure(json_lines=True, file=log_file)

        def say(text: str) -> None:
            if as_json:
                return
            if console.is_terminal:
                console.print(text)
            else:
                click.echo(Text.from_markup(text).plain)

        say(f"[bold]rollout demo[/bold] — state and logs in {directory}")
        try:
            try:
                world_of_demo = tour.Tour(directory)
            except statelock.Held as exc:
                common.fail(str(exc), code=2)
            with world_of_demo as world, contextlib.ExitStack() as stack:
                if where is not None:
                    from rollout.cli import dashboard_cmd

                    running = dashboard_cmd.serve_in_thread(
                        world.store, world.clock, directory, *where
                    )
                    stack.callback(running.stop)
                    click.echo(f"dashboard: {running.url}/", err=True)
                say("starting v1 and the proxy …")
                url = world.deploy_v1()
                say(f"v1 is serving at {url}; sending {tour.LOAD_RPS:.0f} requests/s through it")
                world.start_load(url)
                for n, name in enumerate(scenarios, start=2):
                    say(f"\n[bold]{name}[/bold]: {_INTRO[name].format(n=n)}")
                    summary = _roll_out(world, name, f"v{n}", console, live_view, as_json)
                    summaries.append(summary)
                    if as_json:
                        click.echo(json.dumps(summary.as_json()))
                    else:
                        say(_summary_text(summary))
        finally:
            if temporary:
                shutil.rmtree(directory, ignore_errors=True)
    if not all(s.as_expected for s in summaries):
        raise SystemExit(1)


def _roll_out(
    world: tour.Tour,
    scenario: str,
    version: str,
    console: Console,
    live_view: bool,
    as_json: bool,
) -> tour.Summary:
    if live_view:
        with Live(console=console, auto_refresh=False, transient=False) as live:

            def show(
                svc: service.Service,
                rel: release.Release | None,
                rt: route.Route | None,
                name: str,
            ) -> None:
                now = world.clock.now()
                header = Text(f"scenario {name}", style="bold")
                live.update(Group(header, status_view.panel(svc, rel, now, rt=rt)), refresh=True)

            return world.roll_out(scenario, version, view=show)
    last: list[str] = [""]

    def lines(
        svc: service.Service, rel: release.Release | None, rt: route.Route | None, name: str
    ) -> None:
        if as_json:
            return
        text = status_view.line(
            status_view.snapshot(svc, rel, world.clock.now(), rt=rt, countdown=False)
        )
        if text != last[0]:
            click.echo(text)
            last[0] = text

    return world.roll_out(scenario, version, view=lines)


def _summary_text(s: tour.Summary) -> str:
    verdict = "as expected" if s.as_expected else f"expected {tour.EXPECTED[s.scenario].value}"
    return (
        f"→ release {s.release} ended [bold]{s.phase}[/bold] ({verdict}) after"
        f" {s.duration_s:.0f} s: {s.total} requests, {s.canary} served by the canary,"
        f" {s.canary_failed} of them failed"
    )
