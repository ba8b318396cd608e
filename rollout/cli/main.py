"""Entry point of the `rollout` command and its command group.

`main` makes the process's files private first (`files.private()`: umask 0o077, so
everything rollout writes is 0600 and its directories 0700; revision processes get
the user's umask back from the local runtime). The group runs every command under
`common.user_errors()`: a store, SQLite or file-system failure that a command did not
handle ends as one `error: …` line with its exit code, never a traceback.

Exit codes (DESIGN §7, detailed in `rollout.cli.common`): 0 ok, 1 a release ended
badly, a check failed, nothing to act on or the state busy, 2 usage or validation
error or a state dir or file that cannot be used. Errors go to stderr, one line each.
Must not hold any command's logic.
"""

from __future__ import annotations

from typing import Any

import click

from rollout import __version__, files
from rollout.cli import (
    analyze_cmd,
    apply_cmd,
    common,
    controller_cmd,
    crds_cmd,
    demo_cmd,
    diagram_cmd,
    get_cmd,
    install_cmd,
    load_cmd,
    release_cmds,
    simulate_cmd,
    status_cmd,
    validate_cmd,
)

__all__ = ["cli", "main"]


class _Group(click.Group):
    """The command group: each command runs under `common.user_errors()`."""

    def invoke(self, ctx: click.Context) -> Any:
        with common.user_errors():
            return super().invoke(ctx)


@click.group(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="rollout")
def cli() -> None:
    """Progressive delivery: Services, immutable Revisions and Routes, and releases that
    shift traffic step by step, gated on metric analysis, rolled back on failure.

    Start with `rollout validate -f policies/ --explain` to see what a policy does.
    """


cli.add_command(apply_cmd.apply_command)
cli.add_command(validate_cmd.validate)
cli.add_command(get_cmd.get_command)
cli.add_command(status_cmd.status_command)
for command in release_cmds.COMMANDS:
    cli.add_command(command)
cli.add_command(status_cmd.history_command)
cli.add_command(analyze_cmd.analyze_command)
cli.add_command(controller_cmd.controller_command)
cli.add_command(demo_cmd.demo_command)
cli.add_command(crds_cmd.crds_command)
cli.add_command(simulate_cmd.simulate_command)
cli.add_command(diagram_cmd.diagram_command)
cli.add_command(load_cmd.load_command)
cli.add_command(install_cmd.install_command)


def main() -> None:
    files.private()
    cli()
