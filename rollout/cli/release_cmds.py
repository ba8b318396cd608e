"""`rollout promote|abort|pause|resume|retry|undo SERVICE`: manual commands.

Each writes the user's intent into one spec (the service's current Release, or the
Service for `undo`) in one update conditional on the resourceVersion it read, and
returns at once with a one-line confirmation; the controller does the work. A
command whose intent already holds writes nothing, says `already …` and exits 0
(kubectl's "unchanged": safe under `set -e`); one that does not apply says why and
exits 1. On a conflict (the controller wrote in between) the command reads again and
decides again — `promote` still from the step it first read (`fromStep`), so a
promote racing the controller or another promote never advances a second step: it
finds that step already requested, or already passed. A promote is about the state
the release was in when it was given (`main.GIVEN_AT`, before the command's imports):
one that first reads the release after another promote took effect after that moment
is its repeat ("already past step N", exit 0). The store is opened only if it
exists ("no state in DIR", exit 1, and nothing created); a lock held by another
process past `common.LOCK_WAIT` is exit 1 naming the holder. Reading, deciding and
writing is `rollout.cli.intents` (shared with the dashboard); the intents themselves
are `rollout.release.commands` (pure, shared with the tests).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import click

from rollout.cli import common, intents, main

__all__ = ["COMMANDS"]


def _given_at(opts: common.Options) -> datetime:
    """When this command was given (`main.GIVEN_AT`, before its imports), in the store's
    time: on a rehearsal's scaled clock, the same real interval earlier, scaled."""
    given = click.get_current_context().meta.get(main.GIVEN_AT)
    elapsed = max(time.time() - given, 0.0) if isinstance(given, float) else 0.0
    speed = 1 / opts.clock.real_seconds(timedelta(seconds=1))
    return opts.clock.now() - timedelta(seconds=elapsed * speed)


def _report(outcome: intents.Outcome) -> None:
    """The outcome's line: on stdout (exit 0), or as the error (exit 1)."""
    if not outcome.ok:
        common.fail(outcome.message)
    click.echo(outcome.message)


@click.command("promote")
@click.argument("service_name", metavar="SERVICE")
@click.option("--full", is_flag=True, help="Skip the remaining steps: 100% to the canary now.")
@click.option(
    "--force",
    is_flag=True,
    help="Also over a confirm-* webhook gate that has not said yes (it counts as passed).",
)
@click.option(
    "--step",
    type=click.IntRange(min=1),
    help="The step to promote from, as `rollout status` numbers it (from 1): promoted only"
    " there; already past it is exit 0. Default: the step the release is at.",
)
@common.state_options(store="write")
def promote_command(
    service_name: str, full: bool, force: bool, step: int | None, opts: common.Options
) -> None:
    """Promote the current release one step (or all the way with --full).

    Safe to repeat: a promote names the step it promotes from (the one the release is at
    when the command reads it, or --step), so two promotes from the same state advance
    one step; a step already passed is "already past step N", exit 0.

    A release waiting for a confirm-* webhook's yes is not promoted unless --force: the
    gate is there because something outside (an approval, a change freeze) must agree.
    """
    _report(
        intents.promote(
            opts.store,
            opts.namespace,
            service_name,
            full=full,
            force=force,
            step=None if step is None else step - 1,
            clock=opts.clock,
            by=common.requester(),
            given_at=None if step is not None else _given_at(opts),
        )
    )


@click.command("abort")
@click.argument("service_name", metavar="SERVICE")
@common.state_options(store="write")
def abort_command(service_name: str, opts: common.Options) -> None:
    """Abort the current release: all traffic back to the stable revision at once."""
    _report(intents.abort(opts.store, opts.namespace, service_name))


@click.command("pause")
@click.argument("service_name", metavar="SERVICE")
@common.state_options(store="write")
def pause_command(service_name: str, opts: common.Options) -> None:
    """Pause the current release at its current weight."""
    _report(intents.pause(opts.store, opts.namespace, service_name))


@click.command("resume")
@click.argument("service_name", metavar="SERVICE")
@common.state_options(store="write")
def resume_command(service_name: str, opts: common.Options) -> None:
    """Resume a paused release."""
    _report(
        intents.resume(
            opts.store, opts.namespace, service_name, clock=opts.clock, by=common.requester()
        )
    )


@click.command("retry")
@click.argument("service_name", metavar="SERVICE")
@common.state_options(store="write")
def retry_command(service_name: str, opts: common.Options) -> None:
    """Retry: look again at a paused step, or run a failed release again."""
    _report(
        intents.retry(
            opts.store, opts.namespace, service_name, clock=opts.clock, by=common.requester()
        )
    )


@click.command("undo")
@click.argument("service_name", metavar="SERVICE")
@click.option("--to-revision", help="The revision to go back to (default: the one before).")
@common.state_options(store="write")
def undo_command(service_name: str, to_revision: str | None, opts: common.Options) -> None:
    """Release an earlier revision's template again (the one before the stable revision
    by default), under the service's policy."""
    _report(intents.undo(opts.store, opts.namespace, service_name, to_revision=to_revision))


COMMANDS = [
    promote_command,
    abort_command,
    pause_command,
    resume_command,
    retry_command,
    undo_command,
]
