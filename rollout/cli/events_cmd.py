"""`rollout events [SERVICE]`: what the controller recorded, oldest first.

On a state dir (the local and sim platforms) the controller keeps its events in the
state dir's journal (`rollout.store.eventlog`: per object its last 20, none older
than 7 days); this lists those of the namespace, or of one service (its Service,
Route, Revisions and Releases), as a table (LAST SEEN, TYPE, OBJECT, REASON,
MESSAGE, like `kubectl get events`) or `-o json|yaml` (a list of `{kind, namespace,
name, reason, message, warning, at}`). On Kubernetes they are Event objects: this
says to use `kubectl get events` (exit 2).

Read-only; imports kept light (no store, no pydantic models): `rollout events` is a
command people run in a loop.
"""

from __future__ import annotations

import click

from rollout.cli import common, render
from rollout.store import eventlog
from rollout.views import events as event_view

__all__ = ["events_command"]


@click.command("events")
@click.argument("service_name", metavar="[SERVICE]", required=False)
@click.option(
    "--limit",
    default=50,
    show_default=True,
    type=click.IntRange(min=1),
    help="Show at most this many (the latest).",
)
@common.state_options(output=True, store="read")
def events_command(service_name: str | None, limit: int, opts: common.Options) -> None:
    """Events the controller recorded: of a service, or of the whole namespace.

    \b
    Examples:
      rollout events web
      rollout events -o json
    """
    if opts.backend == "kubernetes":
        common.fail(
            "on Kubernetes events are Event objects: kubectl get events -n NAMESPACE", code=2
        )
    now = opts.clock.now()
    found = [e for e in eventlog.read(opts.state_dir, now=now) if e.namespace == opts.namespace]
    if service_name is not None:
        found = event_view.of_service(found, service_name, opts.namespace)
    found = found[-limit:]
    if opts.output != "table":
        click.echo(render.dump([e.to_json() for e in found], opts.output))
        return
    if not found:
        whose = f" of service {service_name!r}" if service_name else ""
        click.echo(f"No events{whose} in namespace {opts.namespace}.", err=True)
        return
    headers = ["Last seen", "Type", "Object", "Reason", "Message"]
    click.echo(render.table(headers, event_view.rows(found, now)))
