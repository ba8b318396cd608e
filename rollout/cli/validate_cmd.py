"""`rollout validate -f PATH…`: check resources offline; `--explain` shows the plan.

Touches no state. Exit 0 when every document is valid, 2 otherwise, with one
`PATH:LINE: FIELD.PATH: message` line per problem on stderr. Warnings (valid but
unwise: a literal credential in a policy) are printed on stderr too, as
`PATH:LINE: FIELD.PATH: warning: message`, and never change the exit code.
"""

from __future__ import annotations

import click

from rollout.api import loader
from rollout.cli import explain

__all__ = ["validate"]


@click.command()
@click.option(
    "-f",
    "--filename",
    "paths",
    multiple=True,
    type=click.Path(path_type=str),
    help="A YAML file or a directory of them (searched recursively). Repeatable.",
)
@click.argument("more_paths", nargs=-1, type=click.Path(path_type=str))
@click.option(
    "--explain",
    "explain_plan",
    is_flag=True,
    help="Also print what each resource means: a policy's expanded steps and its gates.",
)
def validate(paths: tuple[str, ...], more_paths: tuple[str, ...], explain_plan: bool) -> None:
    """Validate resources in YAML files offline; report every problem with its line.

    Paths may follow -f or stand alone; directories are searched for *.yaml and *.yml.
    Exits 0 when everything is valid, 2 when anything is not.

    \b
    Examples:
      rollout validate -f policies/ examples/
      rollout validate -f policies/canary-standard.yaml --explain
    """
    every = [*paths, *more_paths]
    if not every:
        raise click.UsageError("give at least one file or directory with -f PATH")
    result = loader.load_paths(every)
    if explain_plan:
        for doc in result.documents:
            click.echo(explain.explain(doc))
    for warning in result.warnings:
        click.echo(str(warning), err=True)
    for diagnostic in result.diagnostics:
        click.echo(str(diagnostic), err=True)
    if result.diagnostics:
        click.echo(f"{len(result.diagnostics)} problem(s) found", err=True)
        raise SystemExit(2)
    click.echo(f"{len(result.documents)} resource(s) valid")
