"""`rollout delete (service|policy) NAME`: remove a Service or a RolloutPolicy, with
kubectl's semantics.

- A Service takes what it owns with it: its Revisions, its Route and its Releases
  (owner references; the local store deletes them in the same transaction, a
  cluster's garbage collector in the background). The controller sees them go and
  stops the revisions' processes and the proxy's listener on the service's port (on
  Kubernetes the Deployments, Services and HTTPRoutes go with their owners; a Service
  that adopted a Deployment gives it back first, through its finalizer).
- A RolloutPolicy a Service names is refused (exit 1, naming the services): their
  next change would wait on `PolicyNotFound`. `--force` deletes it anyway and says
  which services still name it; running releases keep the copy of the plan they took.
  (The check and the delete are two calls: a Service applied in between is not seen.)
- Not found is exit 1 (`error: service 'web' not found in namespace default`), or
  nothing at all with `--ignore-not-found` (also when there is no state yet).
- KIND: any name `get` accepts for a Service or a RolloutPolicy (`service`, `rsvc`,
  `rolloutpolicy`, `rpol`, …), and `policy`. Only those two: revisions, routes and
  releases belong to their Service (exit 2 saying so), as kubectl users delete a
  Deployment, not its ReplicaSets.

Prints `service/web deleted` (apply's `kind/name` shape). The store is opened only if
it exists (mode `write`); `--backend kubernetes` deletes the object on the cluster.
Imports only click and the shared options at the top (start-up time).
"""

from __future__ import annotations

import click

from rollout.cli import common

__all__ = ["delete_command"]

_DELETABLE = ("Service", "RolloutPolicy")
_POLICY = "RolloutPolicy"  # `policy`, `policies`: what this command calls it, beside get's names
_OWNED = {
    "Revision": "a revision goes with its service: `rollout delete service SERVICE`",
    "Route": "a route goes with its service: `rollout delete service SERVICE`",
    "Release": "a release goes with its service (`rollout abort SERVICE` stops one)",
}


@click.command("delete")
@click.argument("kind_name", metavar="KIND")
@click.argument("name")
@click.option(
    "--ignore-not-found", is_flag=True, help="Exit 0, saying nothing, when there is no such object."
)
@click.option(
    "--force", is_flag=True, help="Delete a policy even while services name it (it is refused)."
)
@common.state_options(store="write")
def delete_command(
    kind_name: str, name: str, ignore_not_found: bool, force: bool, opts: common.Options
) -> None:
    """Delete a service (with its revisions, route and releases) or a policy.

    \b
    KIND: service (services, rsvc) or policy (rolloutpolicy, rpol).
    A policy that services name is refused unless --force.

    \b
    Examples:
      rollout delete service web
      rollout delete policy canary-old --ignore-not-found
    """
    from rollout.api import kinds, service
    from rollout.store import errors

    kind = kinds.lookup(_POLICY if kind_name.lower() in ("policy", "policies") else kind_name)
    if kind is None or kind.kind not in _DELETABLE:
        why = _OWNED.get(kind.kind, "") if kind is not None else ""
        common.fail(
            f"cannot delete {kind_name!r}: KIND is service (rsvc) or policy (rolloutpolicy,"
            " rpol)" + (f"; {why}" if why else ""),
            code=2,
        )
    what = f"{kind.singular} {name!r} not found in namespace {opts.namespace}"
    try:
        opts.store.get(kind.kind, opts.namespace, name)
        users: list[str] = []
        if kind.kind == "RolloutPolicy":
            users = sorted(
                s.metadata.name
                for s in opts.store.list("Service", opts.namespace).items
                if isinstance(s, service.Service) and s.spec.policy == name
            )
        if users and not force:
            common.fail(
                f"rolloutpolicy {name!r} is used by {_services(users)}: not deleted"
                " (--force deletes it; their next change then waits for the policy)"
            )
        opts.store.delete(kind.kind, opts.namespace, name)
    except (errors.NotFound, errors.NoState):
        if ignore_not_found:
            return
        common.fail(what)
    click.echo(f"{kind.singular}/{name} deleted")
    if users:
        click.echo(
            f"warning: {_services(users)} still name rolloutpolicy {name!r}: their next change"
            " waits for it (PolicyNotFound)",
            err=True,
        )


def _services(names: list[str]) -> str:
    return ("service " if len(names) == 1 else "services ") + ", ".join(names)
