"""The manual commands as read → decide → write: what `rollout promote|abort|pause|
resume|retry|undo` and the dashboard's buttons do, with the same refusals and words.

Each function reads the object the command is about (the service's current Release,
or the Service for `undo`), asks `rollout.release.commands` (pure) for the new spec,
writes it in one update conditional on the resourceVersion it read, and on a conflict
(the controller wrote in between) reads and decides again, at most `ATTEMPTS` times.
It returns an `Outcome`: the one line to show and whether the command kept its word
(`ok`: written, or already holding — the CLI's exit 0) or does not apply (exit 1, the
line is the error). `promote` keeps the step of its first read across attempts
(`fromStep`), so a promote racing the controller never advances a second step.

Store failures (busy, unusable, a cluster that does not answer) are raised as they
are: the CLI turns them into its one `error:` line (`common.user_errors`), the
dashboard into its answer. Who asks (`by`) and the clock are passed in. I/O: the
store given, only. Callers: `rollout.cli.release_cmds`, the dashboard's server.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime

from rollout import clock as clocks
from rollout.api import names, release, revision, service
from rollout.release import commands
from rollout.store import errors, port

__all__ = [
    "ATTEMPTS",
    "Outcome",
    "abort",
    "pause",
    "promote",
    "resume",
    "retry",
    "undo",
]

ATTEMPTS = 5


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What a command came to: `message`, the line a person reads; `ok`, whether the
    command holds (written now, or already: exit 0) or does not apply (exit 1, the
    message is why); `written`, whether this call wrote the intent."""

    ok: bool
    message: str
    written: bool = False


class _Refused(Exception):
    """The command does not apply; the message says why (an `Outcome` not ok)."""


def _service(store: port.Store, namespace: str, name: str) -> service.Service:
    try:
        svc = store.get("Service", namespace, name)
    except errors.NotFound:
        raise _Refused(f"service {name!r} not found in namespace {namespace}") from None
    assert isinstance(svc, service.Service)
    return svc


def _current_release(store: port.Store, namespace: str, name: str) -> release.Release:
    svc = _service(store, namespace, name)
    current = svc.status.current_release
    if current is None:
        raise _Refused(f"service {name!r} has no release yet")
    try:
        rel = store.get("Release", namespace, current)
    except errors.NotFound:
        raise _Refused(f"release {current!r} of service {name!r} no longer exists") from None
    assert isinstance(rel, release.Release)
    return rel


def _on_release(
    store: port.Store,
    namespace: str,
    service_name: str,
    intent: Callable[[release.Release], release.ReleaseSpec],
    done: Callable[[release.Release], str],
) -> Outcome:
    """Read the current release, decide with `intent`, write; `done` words a write."""
    try:
        for _ in range(ATTEMPTS):
            rel = _current_release(store, namespace, service_name)
            try:
                spec = intent(rel)
            except commands.AlreadyDone as exc:
                return Outcome(True, f"release {rel.metadata.name}: {exc}")
            except commands.NotApplicable as exc:
                return Outcome(False, str(exc))
            try:
                store.update(rel.model_copy(update={"spec": spec}))
            except errors.Conflict:
                continue  # the controller wrote in between: read again and decide again
            return Outcome(True, f"release {rel.metadata.name}: {done(rel)}", written=True)
    except _Refused as exc:
        return Outcome(False, str(exc))
    return Outcome(False, f"release of {service_name!r} kept changing; try again")


def promote(
    store: port.Store,
    namespace: str,
    service_name: str,
    *,
    full: bool,
    force: bool,
    step: int | None,
    clock: clocks.Clock,
    by: str | None,
    given_at: datetime | None,
) -> Outcome:
    """Promote one step from `step` (0-based: the step the person saw; None: the step
    of the first read) — or all the way with `full`. `given_at`: when the command was
    given (`commands.promote`)."""
    seen: dict[str, int] = {}  # release → the step first read: kept when reading again

    def intent(rel: release.Release) -> release.ReleaseSpec:
        name = rel.metadata.name
        if seen and name not in seen:
            raise _Refused(f"release {next(iter(seen))} was superseded by {name}; not promoted")
        first = seen.setdefault(name, rel.status.step_index if step is None else step)
        return commands.promote(
            rel,
            full=full,
            force=force,
            now=clock.now(),
            by=by,
            from_step=first,
            given_at=given_at,
        )

    def done(rel: release.Release) -> str:
        what = (
            "full promotion requested"
            if full
            else f"promotion from step {seen[rel.metadata.name] + 1} requested"
        )
        return what + (" (over its webhook gates)" if force else "")

    return _on_release(store, namespace, service_name, intent, done)


def abort(store: port.Store, namespace: str, service_name: str) -> Outcome:
    """All traffic back to the stable revision at once."""
    return _on_release(
        store,
        namespace,
        service_name,
        commands.abort,
        lambda rel: f"abort requested; traffic goes back to {rel.spec.stable_revision}",
    )


def pause(store: port.Store, namespace: str, service_name: str) -> Outcome:
    """Hold the current release at its weight."""
    return _on_release(store, namespace, service_name, commands.pause, lambda _: "pause requested")


def resume(
    store: port.Store, namespace: str, service_name: str, *, clock: clocks.Clock, by: str | None
) -> Outcome:
    """Continue a paused release."""
    return _on_release(
        store,
        namespace,
        service_name,
        lambda rel: commands.resume(rel, now=clock.now(), by=by),
        lambda _: "resume requested",
    )


def retry(
    store: port.Store, namespace: str, service_name: str, *, clock: clocks.Clock, by: str | None
) -> Outcome:
    """Look again at a paused step, or run a failed release again."""
    return _on_release(
        store,
        namespace,
        service_name,
        lambda rel: commands.retry(rel, now=clock.now(), by=by),
        lambda _: "retry requested",
    )


def undo(
    store: port.Store, namespace: str, service_name: str, *, to_revision: str | None
) -> Outcome:
    """Apply an earlier revision's template again (the one before the stable revision
    by default): a new revision, released under the service's policy."""
    try:
        for _ in range(ATTEMPTS):
            svc = _service(store, namespace, service_name)
            listed = store.list(
                "Revision", namespace, labels={names.SERVICE_LABEL: service_name}
            ).items
            revs = [r for r in listed if isinstance(r, revision.Revision)]
            try:
                spec = commands.undo(svc, revs, to_revision=to_revision)
            except commands.NotApplicable as exc:
                return Outcome(False, str(exc))
            try:
                store.update(svc.model_copy(update={"spec": spec}))
            except errors.Conflict:
                continue
            source = next(
                r.metadata.name
                for r in revs
                if r.spec.template == spec.template and r.spec.scaling == spec.scaling
            )
            return Outcome(
                True,
                f"service {service_name}: template of {source} applied again; a new revision"
                " will be released",
                written=True,
            )
    except _Refused as exc:
        return Outcome(False, str(exc))
    return Outcome(False, f"service {service_name!r} kept changing; try again")
