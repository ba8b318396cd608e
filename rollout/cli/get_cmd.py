"""`rollout get KIND [NAME]`: list or show services, revisions, routes, releases,
policies — as a table (the printer columns), JSON or YAML. The READY of a Service in
the table is True only while its Route is Ready too (`views.problems.ready`: the
proxy down or traffic not served makes it False at once).

Read-only: the store is opened for reading (never created); a state dir with no state
lists nothing, and a name in it is "no state in DIR" (exit 1). Under a table of
revisions, what their runtime says about them (a True condition besides Ready and
Active, such as `IgnoredOnLocal`) is printed on stderr, one line each; so is each stored object of
the kind that does not validate (`warning: KIND NS/NAME is not valid: …`), which the
list leaves out."""

from __future__ import annotations

import click

from rollout.api import kinds
from rollout.cli import common, render
from rollout.store import errors, port

__all__ = ["get_command"]


@click.command("get")
@click.argument("kind_name", metavar="KIND")
@click.argument("name", required=False)
@click.option("-l", "--selector", help="Label selector: key=value[,key=value].")
@common.state_options(output=True, store="read")
def get_command(
    kind_name: str, name: str | None, selector: str | None, opts: common.Options
) -> None:
    """List or show resources: services (rsvc), revisions (rrev), routes, releases
    (rrel), rolloutpolicies (rpol).

    \b
    Examples:
      rollout get services
      rollout get rrel web-00002 -o yaml
    """
    kind = kinds.lookup(kind_name)
    if kind is None:
        known = ", ".join(k.plural for k in kinds.KINDS.values())
        common.fail(f"unknown kind {kind_name!r}; known: {known}", code=2)
    labels: dict[str, str] = {}
    for part in filter(None, (selector or "").split(",")):
        key, sep, value = part.partition("=")
        if not sep:
            common.fail(f"selector {part!r} is not key=value", code=2)
        labels[key.strip()] = value.strip()
    if name is not None:
        try:
            objs = [opts.store.get(kind.kind, opts.namespace, name)]
        except errors.NotFound:
            common.fail(f"{kind.singular} {name!r} not found in namespace {opts.namespace}")
    else:
        try:
            listed = opts.store.list(kind.kind, opts.namespace, labels=labels or None)
        except errors.NoState:
            listed = port.Listed([], "")  # nothing applied yet: as on an empty store
        objs = listed.items
        for bad in listed.invalid:  # stored, but not valid: said, not shown
            click.echo(f"warning: {bad}", err=True)
    if opts.output == "table":
        if not objs:
            click.echo(f"No {kind.plural} in namespace {opts.namespace}.", err=True)
            return
        cells = _service_ready(opts, objs) if kind.kind == "Service" else None
        click.echo(render.resource_table(kind, objs, opts.clock.now(), cells=cells))
        for line in render.notices(objs):  # IgnoredOnLocal, …: on stderr, as kubectl warns
            click.echo(line, err=True)
        return
    data = [render.as_data(o) for o in objs]
    click.echo(render.dump(data[0] if name is not None else data, opts.output))


def _service_ready(
    opts: common.Options, objs: list[kinds.Resource]
) -> dict[tuple[str, str], object]:
    """READY of each Service as `problems.ready` says: False while its Route is not
    Ready (the proxy down, its traffic not served), whatever the Service's copy says."""
    from rollout.api import route, service
    from rollout.views import problems

    try:
        listed = opts.store.list("Route", opts.namespace).items
    except errors.NoState:
        listed = []
    routes = {r.metadata.name: r for r in listed if isinstance(r, route.Route)}
    return {
        (o.metadata.name, "Ready"): problems.ready(o, routes.get(o.metadata.name))
        for o in objs
        if isinstance(o, service.Service)
    }
