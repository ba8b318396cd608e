"""`rollout validate -f PATH…`: check resources offline; `--explain` shows the plan.

Touches no state. Exit 0 when every document is valid, 2 otherwise, with one
`PATH:LINE: FIELD.PATH: message` line per problem on stderr. Warnings (valid but
unwise: a literal credential in a policy) are printed on stderr too, as
`PATH:LINE: FIELD.PATH: warning: message`, and change the exit code only with
`--strict` (exit 2, as problems). A Service naming a policy that none of the files
defines is such a warning (`policy "nope" not found in this run`): validate reads no
state, so a policy applied before is not seen. A Service whose policy (in the files)
asks for header routes, mirrors or a sticky session its router cannot express is a
problem, reported at the Service's `spec.policy` and at the policy's step
(`loader.route_rule_problems`; the router is the Service's `spec.routing.router`, else
gateway-api, the controller's default).
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
@click.option(
    "--strict",
    is_flag=True,
    help="Count warnings (a policy not in the files, a literal credential) as problems.",
)
def validate(
    paths: tuple[str, ...], more_paths: tuple[str, ...], explain_plan: bool, strict: bool
) -> None:
    """Validate resources in YAML files offline; report every problem with its line.

    Paths may follow -f or stand alone; directories are searched for *.yaml and *.yml.
    Exits 0 when everything is valid, 2 when anything is not (or, with --strict,
    when there are warnings).

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
    warnings = [*result.warnings, *loader.unknown_policies(result.documents)]
    for warning in warnings:
        click.echo(str(warning), err=True)
    diagnostics = [*result.diagnostics, *loader.route_rule_problems(result.documents)]
    for diagnostic in diagnostics:
        click.echo(str(diagnostic), err=True)
    if diagnostics or (strict and warnings):
        counted = len(diagnostics) + (len(warnings) if strict else 0)
        click.echo(f"{counted} problem(s) found", err=True)
        raise SystemExit(2)
    click.echo(f"{len(result.documents)} resource(s) valid")
