"""`rollout status SERVICE [--watch] [--timeout D]` and `rollout history SERVICE`.

`status` prints the service's traffic and its current release once; with `--watch`
it follows them (a live view on a terminal, one line per change otherwise) until the
latest revision is rolled out (exit 0) or its release ends otherwise (exit 1), or
`--timeout` passes (exit 1). `-o json` prints the DESIGN §7 shape.

On a terminal the view also shows what the runtime says about the stable and latest
revisions (e.g. `IgnoredOnLocal`: the template fields the local platform does not
honour); the one-line and `-o json` shapes do not change.

`history` lists the service's releases with their outcome, duration and reason, then
the entries of one release (the latest by default): phase and weight changes,
verdicts, commands and who gave them.

Both only read: the store is opened read-only (no write lock is ever taken, so a
`status --watch` left running never holds up the controller) and never created; no
state in the state dir is "no state in DIR" (exit 1).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import click
from rich.console import Console, RenderableType
from rich.live import Live

from rollout import clock as clocks
from rollout.api import durations, names, release, revision, route, service
from rollout.cli import common, controller_seen, events_cmd, render
from rollout.store import errors, eventlog
from rollout.views import events as event_view
from rollout.views import problems as problem_view
from rollout.views import status as status_view

__all__ = ["history_command", "status_command"]

_T = TypeVar("_T")

_POLL = 0.25  # seconds between two looks at the store
_SLOW_POLL = 2.0  # seconds between two looks at a cluster's Lease and events
_EVENTS = 5  # recent events under the status
_HISTORY_EVENTS = 20  # … and under the history
_EVENT_HEADERS = ["Last seen", "Type", "Object", "Reason", "Message"]


@dataclasses.dataclass
class _Seen:
    """One look at a service: its objects, its problems and its recent events."""

    svc: service.Service
    rel: release.Release | None
    rt: route.Route | None
    revisions: list[revision.Revision]
    problems: list[problem_view.Problem]
    events: list[eventlog.Event]

    def blocking(self) -> list[problem_view.Problem]:
        return [p for p in self.problems if p.blocking]


class _Every:
    """A value fetched again only every `seconds` (what a --watch asks of the API
    server besides the objects: the Lease, the events — not four times a second)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._kept: dict[str, tuple[float, Any]] = {}

    def get(self, what: str, fetch: Callable[[], _T]) -> _T:
        at = time.monotonic()
        kept = self._kept.get(what)
        if kept is None or at - kept[0] >= self.seconds:
            kept = (at, fetch())
            self._kept[what] = kept
        value: _T = kept[1]
        return value


def _look(
    opts: common.Options,
    name: str,
    *,
    grace: float,
    watching_since: datetime | None = None,
    every: _Every | None = None,
) -> _Seen:
    every = every or _Every(0)
    svc, rel = common.service_and_release(opts, name)
    try:
        found_route = opts.store.get("Route", opts.namespace, name)
    except errors.NotFound:
        found_route = None
    rt = found_route if isinstance(found_route, route.Route) else None
    listed = opts.store.list("Revision", opts.namespace, labels={names.SERVICE_LABEL: name})
    revisions = [r for r in listed.items if isinstance(r, revision.Revision)]
    policy_found = None
    if svc.spec.policy is not None:
        try:
            opts.store.get("RolloutPolicy", opts.namespace, svc.spec.policy)
            policy_found = True
        except errors.NotFound:
            policy_found = False
    found = problem_view.gather(
        svc,
        revisions=revisions,
        rt=rt,
        rel=rel,
        heartbeat=every.get(
            "heartbeat", lambda: _heartbeat(opts, grace=grace, watching_since=watching_since)
        ),
        policy_found=policy_found,
    )
    events = every.get("events", lambda: _recent_events(opts, name))
    return _Seen(svc, rel, rt, revisions, found, events)


def _heartbeat(
    opts: common.Options, *, grace: float, watching_since: datetime | None
) -> problem_view.Heartbeat | None:
    """What is known of the controller (`controller_seen`): on a state dir, its
    heartbeat file; on Kubernetes, the leader-election Lease, looked for in the
    install's namespace, then in `-n` (None when there is none to look at)."""
    now = clocks.WallClock().now()
    if opts.backend != "kubernetes":
        return controller_seen.of_state_dir(
            opts.state_dir, now=now, grace=grace, watching_since=watching_since
        )
    from rollout.platforms.kubernetes import manifests  # only here

    lease = controller_seen.find_lease(
        common.cluster_resources(opts), (manifests.DEFAULT_NAMESPACE, opts.namespace)
    )
    return controller_seen.of_lease(lease, now=now, grace=grace)


def _recent_events(opts: common.Options, name: str, n: int = _EVENTS) -> list[eventlog.Event]:
    """The service's last `n` events (the state dir's journal, or the Event objects on
    Kubernetes: `events_cmd.read_events`)."""
    kept = events_cmd.read_events(opts)
    return event_view.of_service(kept, name, opts.namespace)[-n:] if n else []


@click.command("status")
@click.argument("service_name", metavar="SERVICE")
@click.option("-w", "--watch", is_flag=True, help="Follow the release until it ends.")
@click.option("--timeout", default="30m", show_default=True, help="Give up watching after.")
@click.option(
    "--controller-grace",
    default="30s",
    show_default=True,
    help="With --watch: exit 1 when no controller has been seen for this long.",
)
@common.state_options(output=True, store="read")
def status_command(
    service_name: str, watch: bool, timeout: str, controller_grace: str, opts: common.Options
) -> None:
    """Show a service's traffic, current release and problems; --watch follows it.

    Under the service, one line per problem: what its Service, Revisions, Route and
    Release conditions say is wrong (a missing policy, a crash-looping revision, a
    port in use, the proxy down, a gate waiting, …) and whether a controller runs.

    With --watch, exits 0 when the latest revision is rolled out and 1 when its
    release ends otherwise (rolled back, aborted, failed), when the service can make
    no progress (a missing policy or revision, an invalid spec, the latest revision
    failed, no controller for --controller-grace), or when the timeout passes.
    """
    try:
        limit = durations.parse_duration(timeout).total_seconds()
        grace = durations.parse_duration(controller_grace).total_seconds()
    except ValueError as exc:
        common.fail(f"--timeout/--controller-grace: {exc}", code=2)
    if not watch:
        _print_once(_look(opts, service_name, grace=grace), opts)
        return
    since = clocks.WallClock().now()
    # on a state dir files are cheap to read; on a cluster, the Lease and the events
    # are asked for every 2 s
    every = _Every(_SLOW_POLL if opts.backend == "kubernetes" else 0)
    seen = _look(opts, service_name, grace=grace, watching_since=since, every=every)
    deadline = time.monotonic() + limit
    console = Console()
    code: int | None = None
    if opts.output == "table" and console.is_terminal:
        with Live(console=console, auto_refresh=False) as live:
            while True:
                live.update(_panel(seen, opts), refresh=True)
                code = status_view.outcome(seen.svc, seen.rel)
                if code is not None or seen.blocking() or time.monotonic() >= deadline:
                    break
                time.sleep(_POLL)
                seen = _look(opts, service_name, grace=grace, watching_since=since, every=every)
    else:
        last = ""
        shown: set[str] = set()
        while True:
            data = status_view.snapshot(
                seen.svc,
                seen.rel,
                opts.clock.now(),
                rt=seen.rt,
                countdown=False,
                problems=seen.problems,
            )
            if opts.output == "json":
                text = json.dumps(data)
                if text != last:
                    click.echo(text)
                    last = text
            else:
                rules = (f"  {rule}" for rule in status_view.rule_lines(data))
                text = "\n".join([status_view.line(data), *rules])
                if text != last:
                    click.echo(text)
                    last = text
                now_shown = {_said(p) for p in seen.problems}
                new = [p for p in seen.problems if _said(p) not in shown]
                for lines in status_view.problem_lines(new):
                    click.echo(lines)
                shown = now_shown
            code = status_view.outcome(seen.svc, seen.rel)
            if code is not None or seen.blocking() or time.monotonic() >= deadline:
                break
            time.sleep(_POLL)
            seen = _look(opts, service_name, grace=grace, watching_since=since, every=every)
    if code is None and seen.blocking():
        for p in seen.blocking():
            first = p.text().splitlines()[0]  # one line each: the rest is printed above
            click.echo(f"{service_name}: can make no progress: {first}", err=True)
        raise SystemExit(1)
    if code is None:
        click.echo(f"timed out after {timeout} waiting for {service_name}", err=True)
        raise SystemExit(1)
    if code != 0:
        rel = seen.rel
        phase = rel.status.phase.value if rel is not None else "not rolled out"
        click.echo(f"{service_name}: release ended {phase}", err=True)
    raise SystemExit(code)


def _said(p: problem_view.Problem) -> str:
    """What makes a problem news in a piped --watch: its text, but for the controller's
    only that it is missing (its age grows every second)."""
    return f"{p.source}: {p.reason}" if p.source == "controller" else p.text()


def _panel(seen: _Seen, opts: common.Options) -> RenderableType:
    return status_view.panel(
        seen.svc,
        seen.rel,
        opts.clock.now(),
        rt=seen.rt,
        notes=_notes(seen),
        problems=seen.problems,
        events=event_view.lines(seen.events),
    )


def _print_once(seen: _Seen, opts: common.Options) -> None:
    if opts.output == "table":
        Console().print(_panel(seen, opts))
        return
    data = status_view.snapshot(
        seen.svc, seen.rel, opts.clock.now(), rt=seen.rt, problems=seen.problems
    )
    click.echo(render.dump(data, opts.output))


def _notes(seen: _Seen) -> list[str]:
    """What the runtime says about the stable and latest revisions (IgnoredOnLocal, …)."""
    svc = seen.svc
    wanted = {n for n in (svc.status.stable_revision, svc.status.latest_created_revision) if n}
    return render.notices([r for r in seen.revisions if r.metadata.name in wanted])


@click.command("history")
@click.argument("service_name", metavar="SERVICE")
@click.option("--release", "release_name", help="Show this release's entries (default: latest).")
@common.state_options(output=True, store="read")
def history_command(service_name: str, release_name: str | None, opts: common.Options) -> None:
    """Past releases of a service, then what happened in one of them."""
    rels = _releases(opts, service_name)
    if not rels:
        click.echo(f"service {service_name!r} has had no release yet")
        events = _recent_events(opts, service_name, _HISTORY_EVENTS)
        if events and opts.output == "table":
            click.echo(f"\nevents of {service_name} (last {len(events)}; `rollout events`):")
            click.echo(render.table(_EVENT_HEADERS, event_view.rows(events, opts.clock.now())))
        return
    chosen = rels[-1]
    if release_name is not None:
        match = [r for r in rels if r.metadata.name == release_name]
        if not match:
            common.fail(f"release {release_name!r} is not a release of {service_name!r}")
        chosen = match[0]
    if opts.output != "table":
        click.echo(render.dump([_release_data(r) for r in rels], opts.output))
        return
    click.echo(_releases_table(rels))
    click.echo(f"\n{chosen.metadata.name}:")
    click.echo(_entries_table(chosen))
    events = _recent_events(opts, service_name, _HISTORY_EVENTS)
    if events:
        click.echo(f"\nevents of {service_name} (last {len(events)}; `rollout events`):")
        click.echo(render.table(_EVENT_HEADERS, event_view.rows(events, opts.clock.now())))


def _releases(opts: common.Options, service_name: str) -> list[release.Release]:
    """The service's releases, oldest first (exit 1 when there is no such service)."""
    common.service_and_release(opts, service_name)
    listed = opts.store.list(
        "Release", opts.namespace, labels={names.SERVICE_LABEL: service_name}
    ).items
    return sorted(
        (r for r in listed if isinstance(r, release.Release)),
        key=lambda r: (names.revision_number(r.spec.canary_revision), r.metadata.name),
    )


def _release_data(r: release.Release) -> dict[str, object]:
    """One release in `history -o json|yaml`."""
    return {
        "name": r.metadata.name,
        "stableRevision": r.spec.stable_revision,
        "canaryRevision": r.spec.canary_revision,
        "phase": r.status.phase.value,
        "startedAt": r.status.started_at.isoformat() if r.status.started_at else None,
        "finishedAt": r.status.finished_at.isoformat() if r.status.finished_at else None,
        "message": r.status.message,
        "history": [
            h.model_dump(by_alias=True, exclude_none=True, mode="json") for h in r.status.history
        ],
    }


def _releases_table(rels: list[release.Release]) -> str:
    """A row per release: revisions, phase, how long it took, its message."""
    rows = []
    for r in rels:
        took = ""
        if r.status.started_at and r.status.finished_at:
            seconds = round((r.status.finished_at - r.status.started_at).total_seconds())
            took = durations.format_duration(timedelta(seconds=seconds))
        rows.append(
            [
                r.metadata.name,
                r.spec.stable_revision,
                r.spec.canary_revision,
                r.status.phase.value,
                took,
                r.status.message,
            ]
        )
    return render.table(["Release", "Stable", "Canary", "Phase", "Took", "Message"], rows)


def _entries_table(chosen: release.Release) -> str:
    """A row per entry of the release's history, with the evidence of its verdicts."""
    entries = [
        [
            f"{h.at:%H:%M:%S}",
            h.event,
            h.phase.value if h.phase else "",
            "" if h.step_index is None else h.step_index + 1,
            f"{h.weights.canary}%" if h.weights else "",
            h.by or "",
            h.message + _evidence_text(h.evidence),
        ]
        for h in chosen.status.history
    ]
    return render.table(["At", "Event", "Phase", "Step", "Canary", "By", "Message"], entries)


def _evidence_text(evidence: list[release.StepEvidence]) -> str:
    """` [errors-vs-stable: 3 passed, 1 inconclusive, canary 90 requests; …]`, or ''."""
    parts = []
    for e in evidence:
        counts = [
            f"{n} {what}"
            for n, what in (
                (e.passes, "passed"),
                (e.failures, "failed"),
                (e.inconclusive, f"inconclusive ({e.quiet} quiet)" if e.quiet else "inconclusive"),
                (e.errors, "errors"),
            )
            if n
        ]
        parts.append(
            f"{e.metric}: {', '.join(counts) or 'no readings'}, canary {e.canary_requests} requests"
        )
    return f" [{'; '.join(parts)}]" if parts else ""
