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

import json
import time
from datetime import timedelta

import click
from rich.console import Console
from rich.live import Live

from rollout.api import durations, names, release, route, service
from rollout.cli import common, render
from rollout.store import errors
from rollout.views import status as status_view

__all__ = ["history_command", "status_command"]

_POLL = 0.25  # seconds between two looks at the store


_State = tuple[service.Service, release.Release | None, route.Route | None]


def _read(opts: common.Options, name: str) -> _State:
    svc, rel = common.service_and_release(opts, name)
    try:
        found_route = opts.store.get("Route", opts.namespace, name)
    except errors.NotFound:
        found_route = None
    return svc, rel, found_route if isinstance(found_route, route.Route) else None


@click.command("status")
@click.argument("service_name", metavar="SERVICE")
@click.option("-w", "--watch", is_flag=True, help="Follow the release until it ends.")
@click.option("--timeout", default="30m", show_default=True, help="Give up watching after.")
@common.state_options(output=True, store="read")
def status_command(service_name: str, watch: bool, timeout: str, opts: common.Options) -> None:
    """Show a service's traffic and current release; --watch follows it to the end.

    With --watch, exits 0 when the latest revision is rolled out and 1 when its
    release ends otherwise (rolled back, aborted, failed) or the timeout passes.
    """
    try:
        limit = durations.parse_duration(timeout).total_seconds()
    except ValueError as exc:
        common.fail(f"--timeout: {exc}", code=2)
    svc, rel, rt = _read(opts, service_name)
    if not watch:
        _print_once(svc, rel, rt, opts)
        return
    deadline = time.monotonic() + limit
    console = Console()
    code: int | None = None
    if opts.output == "table" and console.is_terminal:
        with Live(console=console, auto_refresh=False) as live:
            while True:
                notes = _notes(opts, svc)
                view = status_view.panel(svc, rel, opts.clock.now(), rt=rt, notes=notes)
                live.update(view, refresh=True)
                code = status_view.outcome(svc, rel)
                if code is not None or time.monotonic() >= deadline:
                    break
                time.sleep(_POLL)
                svc, rel, rt = _read(opts, service_name)
    else:
        last = ""
        while True:
            data = status_view.snapshot(svc, rel, opts.clock.now(), rt=rt, countdown=False)
            text = json.dumps(data) if opts.output == "json" else status_view.line(data)
            if text != last:
                click.echo(text)
                last = text
            code = status_view.outcome(svc, rel)
            if code is not None or time.monotonic() >= deadline:
                break
            time.sleep(_POLL)
            svc, rel, rt = _read(opts, service_name)
    if code is None:
        click.echo(f"timed out after {timeout} waiting for {service_name}", err=True)
        raise SystemExit(1)
    if code != 0:
        phase = rel.status.phase.value if rel is not None else "not rolled out"
        click.echo(f"{service_name}: release ended {phase}", err=True)
    raise SystemExit(code)


def _print_once(
    svc: service.Service,
    rel: release.Release | None,
    rt: route.Route | None,
    opts: common.Options,
) -> None:
    now = opts.clock.now()
    data = status_view.snapshot(svc, rel, now, rt=rt)
    if opts.output == "table":
        Console().print(status_view.panel(svc, rel, now, rt=rt, notes=_notes(opts, svc)))
    else:
        click.echo(render.dump(data, opts.output))


def _notes(opts: common.Options, svc: service.Service) -> list[str]:
    """What the runtime says about the stable and latest revisions (IgnoredOnLocal, …)."""
    wanted = dict.fromkeys(
        n for n in (svc.status.stable_revision, svc.status.latest_created_revision) if n
    )
    found = []
    for name in wanted:
        try:
            found.append(opts.store.get("Revision", opts.namespace, name))
        except errors.NotFound:
            continue
    return render.notices(found)


@click.command("history")
@click.argument("service_name", metavar="SERVICE")
@click.option("--release", "release_name", help="Show this release's entries (default: latest).")
@common.state_options(output=True, store="read")
def history_command(service_name: str, release_name: str | None, opts: common.Options) -> None:
    """Past releases of a service, then what happened in one of them."""
    rels = _releases(opts, service_name)
    if not rels:
        click.echo(f"service {service_name!r} has had no release yet")
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


def _releases(opts: common.Options, service_name: str) -> list[release.Release]:
    """The service's releases, oldest first (exit 1 when there is no such service)."""
    _read(opts, service_name)
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
