"""`rollout install`: print what installs rollout on a cluster; `kubectl` applies it.

`--print` writes the CRDs, Namespace, RBAC and controller Deployment as one YAML
stream (`rollout install --print | kubectl apply -f -`); `--write DIR` writes the
files of `deploy/` (no CRDs; `make deploy`). rollout never applies to a cluster
itself: without either option the command says how, and exits 2.

The objects come from `rollout.platforms.kubernetes.manifests` (pure).
"""

from __future__ import annotations

import pathlib

import click

from rollout.cli import common
from rollout.platforms.kubernetes import manifests

__all__ = ["install_command"]

APPLY = "rollout install --print | kubectl apply -f -"


@click.command("install")
@click.option("--print", "print_", is_flag=True, help="Print the manifests as YAML on stdout.")
@click.option(
    "--write",
    "directory",
    type=click.Path(file_okay=False, path_type=pathlib.Path),
    help="Write the deploy/ files (namespace, RBAC, controller; no CRDs) into this directory.",
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
def install_command(
    print_: bool, directory: pathlib.Path | None, namespace: str, image: str, replicas: int
) -> None:
    """Print the manifests that run rollout on a Kubernetes cluster.

    \b
    Examples:
      rollout install --print | kubectl apply -f -
      rollout install --print --namespace delivery --image registry.example/rollout:0.1.0
      rollout install --write deploy/
    """
    if print_ and directory is not None:
        common.fail("give --print or --write, not both", code=2)
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        for name, text in manifests.files(namespace, image, replicas).items():
            (directory / name).write_text(text, encoding="utf-8")
            click.echo(f"wrote {directory / name}")
        return
    if not print_:
        common.fail(f"rollout does not apply to a cluster itself; run: {APPLY}", code=2)
    click.echo(manifests.to_yaml(manifests.render(namespace, image, replicas)), nl=False)
