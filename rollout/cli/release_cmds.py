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
process past `common.LOCK_WAIT` is exit 1 naming the holder. The intents themselves
are `rollout.release.commands` (pure, shared with the tests).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

import click

from rollout.api import names, release, revision, service
from rollout.cli import common, main
from rollout.release import commands
from rollout.store import errors

__all__ = ["COMMANDS"]

_ATTEMPTS = 5


def _service(opts: common.Options, name: str) -> service.Service:
    try:
        svc = opts.store.get("Service", opts.namespace, name)
    except errors.NotFound:
        common.fail(f"service {name!r} not found in namespace {opts.namespace}")
    assert isinstance(svc, service.Service)
    return svc


def _current_release(opts: common.Options, name: str) -> release.Release:
    svc = _service(opts, name)
    current = svc.status.current_release
    if current is None:
        common.fail(f"service {name!r} has no release yet")
    try:
        rel = opts.store.get("Release", opts.namespace, current)
    except errors.NotFound:
        common.fail(f"release {current!r} of service {name!r} no longer exists")
    assert isinstance(rel, release.Release)
    return rel


def _given_at(opts: common.Options) -> datetime:
    """When this command was given (`main.GIVEN_AT`, before its imports), in the store's
    time: on a rehearsal's scaled clock, the same real interval earlier, scaled."""
    given = click.get_current_context().meta.get(main.GIVEN_AT)
    elapsed = max(time.time() - given, 0.0) if isinstance(given, float) else 0.0
    speed = 1 / opts.clock.real_seconds(timedelta(seconds=1))
    return opts.clock.now() - timedelta(seconds=elapsed * speed)


def _command(
    service_name: str,
    opts: common.Options,
    intent: Callable[[release.Release], release.ReleaseSpec],
    done: Callable[[release.Release], str],
) -> None:
    for _ in range(_ATTEMPTS):
        rel = _current_release(opts, service_name)
        try:
            spec = intent(rel)
        except commands.AlreadyDone as exc:
            click.echo(f"release {rel.metadata.name}: {exc}")
            return
        except commands.NotApplicable as exc:
            common.fail(str(exc))
        try:
            opts.store.update(rel.model_copy(update={"spec": spec}))
        except errors.Conflict:
            continue  # the controller wrote in between: read again and decide again
        click.echo(f"release {rel.metadata.name}: {done(rel)}")
        return
    common.fail(f"release of {service_name!r} kept changing; try again")


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
    seen: dict[str, int] = {}  # release → the step first read: kept when reading again
    given_at = None if step is not None else _given_at(opts)

    def intent(rel: release.Release) -> release.ReleaseSpec:
        name = rel.metadata.name
        if seen and name not in seen:
            common.fail(f"release {next(iter(seen))} was superseded by {name}; not promoted")
        first = seen.setdefault(name, rel.status.step_index if step is None else step - 1)
        return commands.promote(
            rel,
            full=full,
            force=force,
            now=opts.clock.now(),
            by=common.requester(),
            from_step=first,
            given_at=given_at,
        )

    _command(
        service_name,
        opts,
        intent,
        lambda rel: (
            (
                "full promotion requested"
                if full
                else f"promotion from step {seen[rel.metadata.name] + 1} requested"
            )
            + (" (over its webhook gates)" if force else "")
        ),
    )


@click.command("abort")
@click.argument("service_name", metavar="SERVICE")
@common.state_options(store="write")
def abort_command(service_name: str, opts: common.Options) -> None:
    """Abort the current release: all traffic back to the stable revision at once."""
    _command(
        service_name,
        opts,
        commands.abort,
        lambda rel: f"abort requested; traffic goes back to {rel.spec.stable_revision}",
    )


@click.command("pause")
@click.argument("service_name", metavar="SERVICE")
@common.state_options(store="write")
def pause_command(service_name: str, opts: common.Options) -> None:
    """Pause the current release at its current weight."""
    _command(service_name, opts, commands.pause, lambda rel: "pause requested")


@click.command("resume")
@click.argument("service_name", metavar="SERVICE")
@common.state_options(store="write")
def resume_command(service_name: str, opts: common.Options) -> None:
    """Resume a paused release."""
    _command(
        service_name,
        opts,
        lambda rel: commands.resume(rel, now=opts.clock.now(), by=common.requester()),
        lambda rel: "resume requested",
    )


@click.command("retry")
@click.argument("service_name", metavar="SERVICE")
@common.state_options(store="write")
def retry_command(service_name: str, opts: common.Options) -> None:
    """Retry: look again at a paused step, or run a failed release again."""
    _command(
        service_name,
        opts,
        lambda rel: commands.retry(rel, now=opts.clock.now(), by=common.requester()),
        lambda rel: "retry requested",
    )


@click.command("undo")
@click.argument("service_name", metavar="SERVICE")
@click.option("--to-revision", help="The revision to go back to (default: the one before).")
@common.state_options(store="write")
def undo_command(service_name: str, to_revision: str | None, opts: common.Options) -> None:
    """Release an earlier revision's template again (the one before the stable revision
    by default), under the service's policy."""
    for _ in range(_ATTEMPTS):
        svc = _service(opts, service_name)
        listed = opts.store.list(
            "Revision", opts.namespace, labels={names.SERVICE_LABEL: service_name}
        ).items
        revs = [r for r in listed if isinstance(r, revision.Revision)]
        try:
            spec = commands.undo(svc, revs, to_revision=to_revision)
        except commands.NotApplicable as exc:
            common.fail(str(exc))
        try:
            opts.store.update(svc.model_copy(update={"spec": spec}))
        except errors.Conflict:
            continue
        source = next(
            r.metadata.name
            for r in revs
            if r.spec.template == spec.template and r.spec.scaling == spec.scaling
        )
        click.echo(
            f"service {service_name}: template of {source} applied again; a new revision"
            " will be released"
        )
        return
    common.fail(f"service {service_name!r} kept changing; try again")


COMMANDS = [
    promote_command,
    abort_command,
    pause_command,
    resume_command,
    retry_command,
    undo_command,
]
