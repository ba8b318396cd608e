"""`rollout crds`: print the CustomResourceDefinitions, or write them to a directory."""

from __future__ import annotations

import pathlib

import click

from rollout.api import crds, kinds

__all__ = ["crds_command"]


@click.command("crds")
@click.option(
    "--write",
    "directory",
    type=click.Path(file_okay=False, path_type=pathlib.Path),
    help="Write one file per kind into this directory instead of printing.",
)
def crds_command(directory: pathlib.Path | None) -> None:
    """Print the CRDs (apiextensions.k8s.io/v1) generated from the resource models.

    \b
    Examples:
      rollout crds | kubectl apply -f -
      rollout crds --write crds/
    """
    if directory is None:
        click.echo("---\n".join(crds.render(k) for k in kinds.KINDS.values()), nl=False)
        return
    directory.mkdir(parents=True, exist_ok=True)
    for kind in kinds.KINDS.values():
        (directory / crds.file_name(kind)).write_text(crds.render(kind), encoding="utf-8")
        click.echo(f"wrote {directory / crds.file_name(kind)}")
