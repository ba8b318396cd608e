"""`rollout events [SERVICE]`: what the controller recorded, oldest first.

On a state dir (the local and sim platforms) the controller keeps its events in the
state dir's journal (`rollout.store.eventlog`: per object its last 20, none older
than 7 days); this lists those of the namespace, or of one service (its Service,
Route, Revisions and Releases), as a table (LAST SEEN, TYPE, OBJECT, REASON,
MESSAGE, like `kubectl get events`) or `-o json|yaml` (a list of `{kind, namespace,
name, reason, message, warning, at}`). On Kubernetes they are core/v1 Event objects
(kept as long as the API server keeps events, an hour by default): those about our
kinds (`involvedObject.apiVersion` rollout.dev/…, selected by the API server) in
the namespace are listed the same way, at most `MOST_EVENTS`. `read_events` is shared
with `rollout status` and `history`; `list_events` with the dashboard (which lists
them across namespaces when it shows every namespace).

Read-only; imports kept light (no store, no pydantic models): `rollout events` is a
command people run in a loop.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from rollout.api import kinds
from rollout.cli import common, render
from rollout.store import eventlog
from rollout.views import events as event_view

if TYPE_CHECKING:  # the Kubernetes client is imported where a cluster is used
    from rollout.platforms.kubernetes import rest

__all__ = ["MOST_EVENTS", "events_command", "list_events", "read_events"]

MOST_EVENTS = 2000  # Event objects read at a time, at most
_PAGE = 500  # … in pages of this many


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
    now = opts.clock.now()
    found = [e for e in read_events(opts) if e.namespace == opts.namespace]
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


def read_events(opts: common.Options) -> list[eventlog.Event]:
    """The events kept for `opts`' backend, oldest first: the state dir's journal, or
    on Kubernetes the Event objects about our kinds in `opts.namespace`."""
    if opts.backend != "kubernetes":
        return eventlog.read(opts.state_dir, now=opts.clock.now())
    return list_events(common.cluster_resources(opts), opts.namespace)


def list_events(
    resources: rest.Resources, namespace: str | None, *, most: int = MOST_EVENTS
) -> list[eventlog.Event]:
    """The Event objects about our kinds in `namespace` — in every namespace when None
    (one cluster-wide list) —, oldest first. The API server selects them
    (`involvedObject.apiVersion`: the other Events of a busy cluster never cross the
    wire); read in pages of `_PAGE`, at most `most` (beyond, the rest is left unread)."""
    from rollout.platforms.kubernetes import refs  # only on a cluster

    items: list[Any] = []
    after = ""
    while len(items) < most:
        page = resources.list(
            refs.EVENTS,
            namespace,
            fields=f"involvedObject.apiVersion={kinds.API_VERSION}",
            limit=min(_PAGE, most - len(items)),
            after=after,
        )
        items.extend(page.get("items") or [])
        after = str((page.get("metadata") or {}).get("continue") or "")
        if not after:
            break
    found = [e for e in map(_from_kubernetes, items[:most]) if e is not None]
    return sorted(found, key=lambda e: e.at)


def _from_kubernetes(item: Any) -> eventlog.Event | None:
    """A core/v1 Event about one of our objects, or None (another's, or unreadable)."""
    if not isinstance(item, dict):
        return None
    involved = item.get("involvedObject") or {}
    if not str(involved.get("apiVersion", "")).startswith("rollout.dev/"):
        return None
    stamp = item.get("eventTime") or item.get("lastTimestamp") or item.get("firstTimestamp")
    try:
        at = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return None
    if at.tzinfo is None:
        return None
    return eventlog.Event(
        kind=str(involved.get("kind", "")),
        namespace=str(involved.get("namespace") or item.get("metadata", {}).get("namespace", "")),
        name=str(involved.get("name", "")),
        reason=str(item.get("reason", "")),
        message=str(item.get("message", "")),
        warning=item.get("type") == "Warning",
        at=at,
    )
