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

import importlib
import time
from typing import Any

import click

from rollout import __version__, files

__all__ = ["COMMANDS", "GIVEN_AT", "cli", "main"]

GIVEN_AT = "rollout.given_at"
"""`ctx.meta` key: when the command was given (wall-clock seconds, taken before the
command's module is imported): `promote` is about the state the release was in then."""

COMMANDS: dict[str, str] = {
    # name → "module:attribute" under rollout.cli, in the order `--help` lists them
    "apply": "apply_cmd:apply_command",
    "validate": "validate_cmd:validate",
    "get": "get_cmd:get_command",
    "delete": "delete_cmd:delete_command",
    "status": "status_cmd:status_command",
    "promote": "release_cmds:promote_command",
    "abort": "release_cmds:abort_command",
    "pause": "release_cmds:pause_command",
    "resume": "release_cmds:resume_command",
    "retry": "release_cmds:retry_command",
    "undo": "release_cmds:undo_command",
    "history": "status_cmd:history_command",
    "events": "events_cmd:events_command",
    "dashboard": "dashboard_cmd:dashboard_command",
    "analyze": "analyze_cmd:analyze_command",
    "controller": "controller_cmd:controller_command",
    "demo": "demo_cmd:demo_command",
    "crds": "crds_cmd:crds_command",
    "simulate": "simulate_cmd:simulate_command",
    "diagram": "diagram_cmd:diagram_command",
    "load": "load_cmd:load_command",
    "install": "install_cmd:install_command",
}
"""Every command, imported only when it runs (or `--help` lists them): a command pays
for its own imports only — `rollout promote` never loads the controller, aiohttp or
the Prometheus client."""


class _Group(click.Group):
    """The command group: commands loaded on first use (`COMMANDS`), each run under
    `common.user_errors()`."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        where = COMMANDS.get(cmd_name)
        if where is None:
            return None
        module, attribute = where.split(":")
        command = getattr(importlib.import_module(f"rollout.cli.{module}"), attribute)
        assert isinstance(command, click.Command), where
        assert command.name == cmd_name, where
        return command

    def invoke(self, ctx: click.Context) -> Any:
        ctx.meta[GIVEN_AT] = time.time()  # before the command's imports: when it was given
        from rollout.cli import common  # after parsing: `--version` and `--help` skip it

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


def main() -> None:
    files.private()
    cli()
