"""`rollout install`: print what installs rollout on a cluster; `kubectl` applies it.

`--print` writes the CRDs, Namespace, RBAC, controller Deployment and NetworkPolicy as
one YAML stream (`rollout install --print | kubectl apply -f -`); `--write DIR`
writes the files of `deploy/` (no CRDs; `make deploy`). rollout never applies to a
cluster itself: without either option the command says how, and exits 2.

`--watch-namespaces a,b` scopes the install: Roles and RoleBindings in those
namespaces instead of the ClusterRoleBinding, and the controller started with the
same list. Every value is checked before anything is printed (`manifests.Settings`):
a bad one is one line on stderr and exit 2, never a manifest the API server would
refuse.

The objects come from `rollout.platforms.kubernetes.manifests` (pure).
"""

from __future__ import annotations

import pathlib

import click

from rollout.analysis.providers import presets
from rollout.cli import common
from rollout.platforms.kubernetes import manifests, scope

__all__ = ["install_command"]

APPLY = "rollout install --print | kubectl apply -f -"


@click.command("install")
@click.option("--print", "print_", is_flag=True, help="Print the manifests as YAML on stdout.")
@click.option(
    "--write",
    "directory",
    type=click.Path(file_okay=False, path_type=pathlib.Path),
    help="Write the deploy/ files (namespace, RBAC, controller, network policy; no CRDs).",
)
@click.option(
    "-n",
    "--namespace",
    default=manifests.DEFAULT_NAMESPACE,
    show_default=True,
    help="Namespace of the controller.",
)
@click.option("--image", default=manifests.DEFAULT_IMAGE, show_default=True)
@click.option(
    "--replicas",
    default=manifests.DEFAULT_REPLICAS,
    show_default=True,
    type=click.IntRange(min=1),
    help="Controller replicas (one leads, the others stand by).",
)
@click.option(
    "--watch-namespaces",
    "watch_namespaces",
    multiple=True,
    metavar="NS[,NS…]",
    help="Serve only these namespaces: Roles there instead of a ClusterRole (they must exist).",
)
@click.option(
    "--metrics-addr",
    default=manifests.DEFAULT_METRICS_ADDR,
    show_default=True,
    help="Where the controller serves /metrics and its probes, inside the pod.",
)
@click.option(
    "--metrics-from",
    default="",
    metavar="KEY=VALUE",
    help="Namespace label of who may scrape /metrics (default: pods of every namespace).",
)
@click.option(
    "--api-server-cidr",
    "api_server_cidrs",
    multiple=True,
    metavar="CIDR",
    help="Narrow egress to the API server (TCP 443/6443) to these addresses (default: any).",
)
@click.option(
    "--provider-port",
    "provider_ports",
    multiple=True,
    type=click.IntRange(1, 65535),
    help="Egress port of metric providers, webhooks and notification sinks, repeatable"
    " (default: 9090, Prometheus; 443 is open already).",
)
@click.option(
    "--secret-names",
    "secret_names",
    multiple=True,
    metavar="NAME[,NAME…]",
    help="Secrets the controller may get for providers' secretKeyRef (default: none).",
)
@click.option(
    "--prometheus-url",
    default="",
    help="The controller reads request stats of `local` metrics from this Prometheus"
    " (controller --metrics prometheus); with --preset.",
)
@click.option(
    "--preset",
    type=click.Choice(sorted(presets.PRESETS)),
    default=None,
    help="With --prometheus-url: whose counters (istio, linkerd, knative, rollout-proxy).",
)
@click.option(
    "--gateway",
    default="",
    metavar="[NAMESPACE/]NAME",
    help="The Gateway of HTTPRoutes whose Service names no parentRefs (controller --gateway).",
)
def install_command(
    *,
    print_: bool,
    directory: pathlib.Path | None,
    namespace: str,
    image: str,
    replicas: int,
    watch_namespaces: tuple[str, ...],
    metrics_addr: str,
    metrics_from: str,
    api_server_cidrs: tuple[str, ...],
    provider_ports: tuple[int, ...],
    secret_names: tuple[str, ...],
    prometheus_url: str,
    preset: str | None,
    gateway: str,
) -> None:
    """Print the manifests that run rollout on a Kubernetes cluster.

    \b
    Examples:
      rollout install --print | kubectl apply -f -
      rollout install --print --namespace delivery --image registry.example/rollout:0.1.0
      rollout install --print --watch-namespaces team-a,team-b --secret-names prom-token
      rollout install --print --prometheus-url http://prometheus.monitoring:9090 --preset istio
      rollout install --write deploy/
    """
    if print_ and directory is not None:
        common.fail("give --print or --write, not both", code=2)
    try:
        settings = manifests.Settings(
            namespace=namespace,
            image=image,
            replicas=replicas,
            watch_namespaces=_listed("--watch-namespaces", watch_namespaces),
            metrics_addr=metrics_addr,
            metrics_from=metrics_from,
            api_server_cidrs=api_server_cidrs,
            provider_ports=provider_ports or manifests.DEFAULT_PROVIDER_PORTS,
            secret_names=tuple(
                dict.fromkeys(n.strip() for names in secret_names for n in names.split(","))
            ),
            prometheus_url=prometheus_url,
            preset=preset,
            gateway=gateway,
        )
    except manifests.SettingsError as exc:
        common.fail(str(exc), code=2)
    if directory is not None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            for name, text in manifests.files(settings).items():
                (directory / name).write_text(text, encoding="utf-8")
                click.echo(f"wrote {directory / name}")
        except OSError as exc:
            common.fail(f"--write {directory}: {exc.strerror or exc}", code=2)
        return
    if not print_:
        common.fail(f"rollout does not apply to a cluster itself; run: {APPLY}", code=2)
    click.echo(manifests.to_yaml(manifests.render(settings)), nl=False)


def _listed(option: str, values: tuple[str, ...]) -> tuple[str, ...]:
    try:
        return scope.parse_namespaces(values)
    except scope.ScopeError as exc:
        raise manifests.SettingsError(f"{option}: {exc}") from None
