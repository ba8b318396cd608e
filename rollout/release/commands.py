"""Manual commands as intents: what `rollout promote|abort|pause|resume|retry|undo`
write, or why they do not apply.

Each function takes the object as read and returns the new spec to write (one small
update, conditional on the resourceVersion read), raises `AlreadyDone` when what the
command asks for already holds (nothing to write; the CLI says "already …" and exits
0, as kubectl's "unchanged"), or raises `NotApplicable` with the reason the CLI prints
(exit 1) when the command truly cannot apply (no release, a finished release the
command makes no sense for, a release that must be moved by another command). The
controller does the work; these functions only say what the user wants, in a form
that is safe to repeat: `promote` names the step it promotes from, edges carry
`requestedAt`, levels (`paused`, `abort`) are levels.

Idempotence, as the README promises it — a repeated command whose intent holds:

- `promote`: a promote is about the state the release was in when it was given. It
  carries `fromStep`, the step it promotes from (the step the release was at when the
  command first read it, or `--step`), and the controller applies it only at that
  step; and a promote that reads the release only after another promote took effect
  — one that took effect after this command was given (its process started) — is
  that promote's repeat. So any number of promotes given from the same state — typed
  twice, run at once, racing another person's or the controller — advance one step:
  a promote of that step already requested is "already requested", one whose step
  is passed is "already past step N" (so is a one-step promote of a release that
  moved on by itself since the last promote), all exit 0. A promote given after the
  first took effect promotes the step the release is at then; `--step N` pins it.
  `promote --full` on a release promoting or promoted: "already promoting/promoted".
- `abort`: requested or done ("already aborting", "already aborted"); a release that
  ended with its traffic back on the stable (RolledBack, Failed) is "already over".
- `pause`: already paused by a user (or requested). `resume`: a release that is not
  paused ("already running") or a resume already requested. Neither applies to a
  release being aborted or rolling back (nor `pause` to one promoting): exit 1.

Which phase a command applies in is not decided here: the transitions table owns it
(`table.can_fire`), and the edges (`promote`, `promote --full`, `resume`, `retry`) ask
it, so the CLI never writes what the engine would ignore, nor refuses what it would
do. The levels apply to any release that has not finished and take effect when a row
allows (`paused` once the release is Progressing; `abort` from every active phase).
Retrying a finished release starts a new one (the reconciler's part, not the table's).

Step numbers in messages count from 1, as `rollout status` shows them; `fromStep` and
`stepIndex` are API indexes, from 0.

Pure; `now` and `by` are passed in. Called by the CLI and the scenario tests.
"""

from __future__ import annotations

from datetime import datetime

from rollout.api import names, release, revision, service
from rollout.api.release import TERMINAL_PHASES, Command, PauseReason, Phase, PromoteRequest
from rollout.release import hooks, table
from rollout.release.triggers import Trigger

__all__ = ["AlreadyDone", "NotApplicable", "abort", "pause", "promote", "resume", "retry", "undo"]


class NotApplicable(Exception):
    """The command does not apply to the release as it is; the message says why."""


class AlreadyDone(Exception):
    """What the command asks for already holds: nothing to write; the message says how
    (`already paused`, `already past step 2`)."""


def _running(rel: release.Release, command: str) -> None:
    if rel.status.phase in TERMINAL_PHASES:
        raise NotApplicable(
            f"cannot {command}: release {rel.metadata.name} has finished ({rel.status.phase.value})"
        )


def _pending(rel: release.Release, command: Command | None) -> bool:
    """Whether `command` is written and the controller has not handled it yet."""
    last = rel.status.last_command_at
    return command is not None and (last is None or command.requested_at > last)


def _by(command: Command) -> str:
    return f" by {command.requested_by}" if command.requested_by else ""


def _promoted_since(rel: release.Release, since: datetime) -> bool:
    """Whether a promote took effect (moved the release a step) at or after `since`."""
    return any(h.event == "PromotedStep" and h.at >= since for h in rel.status.history)


def _step_of(rel: release.Release, index: int) -> str:
    """`step 3/6`, counted from 1."""
    return f"step {index + 1}/{len(rel.spec.policy.expanded_steps())}"


def promote(
    rel: release.Release,
    *,
    full: bool,
    now: datetime,
    by: str | None,
    force: bool = False,
    from_step: int | None = None,
    given_at: datetime | None = None,
) -> release.ReleaseSpec:
    """Advance one step from `from_step` (0-based; by default the step the release is
    at) — or all the way with `full`; over a confirm-* webhook gate only with `force`
    (the gate counts as passed). The CLI passes the step it first read, so a promote
    retried after a conflict never promotes a step the user did not see; and
    `given_at`, when the command was given (its process started): a promote that first
    reads the release after another promote took effect since then is that promote's
    repeat, not a new one."""
    name, phase, at = rel.metadata.name, rel.status.phase, rel.status.step_index
    if phase is Phase.SUCCEEDED:
        raise AlreadyDone(f"already promoted: {rel.spec.canary_revision} takes 100%")
    _running(rel, "promote")
    step = at if from_step is None else from_step
    done = _promote_holds(rel, full=full, force=force, step=step, given_at=given_at)
    if done is not None:
        raise AlreadyDone(done)
    if not full and step > at and phase is not Phase.ROLLING_BACK:
        raise NotApplicable(f"release {name} is at {_step_of(rel, at)}, not yet at step {step + 1}")
    if not force:
        wait = hooks.describe_wait(rel.spec.policy, rel.status)
        if wait is not None and phase is Phase.PAUSED:
            raise NotApplicable(
                f"release {name} is {wait}: it goes on when the webhook"
                " says yes; `rollout promote --force` promotes over it"
            )
        if full and any(h.gate for h in rel.spec.policy.webhooks):
            raise NotApplicable(
                f"release {name}: --full would skip the policy's confirm"
                " webhooks; add --force to promote over them"
            )
    if not full and not table.can_fire(Trigger.PROMOTE, phase):
        raise NotApplicable(
            f"nothing to promote: release {name} is {phase.value}, not paused"
            " (use --full to promote all the way now)"
        )
    if full and not table.can_fire(Trigger.PROMOTE_FULL, phase):
        raise NotApplicable(f"cannot promote: release {name} is {phase.value}")
    request = PromoteRequest(
        from_step=step, full=full, force=force, requested_at=now, requested_by=by
    )
    return rel.spec.model_copy(update={"promote": request})


def _promote_holds(
    rel: release.Release, *, full: bool, force: bool, step: int, given_at: datetime | None
) -> str | None:
    """How a promote from `step` (0-based) already holds — requested, passed, promoting
    — or None when it is to be written (or refused)."""
    phase, at, last = rel.status.phase, rel.status.step_index, rel.spec.promote
    pending = last is not None and _pending(rel, last) and (last.force or not force)
    if full:
        if phase is Phase.PROMOTING:
            return "already promoting: 100% of traffic goes to the canary"
        if last is not None and last.full and pending:
            return f"full promotion already requested{_by(last)}"
        return None
    if phase is Phase.ROLLING_BACK:  # nothing holds: "nothing to promote"
        return None
    if step < at or phase is Phase.PROMOTING:
        where = "promoting to 100%" if phase is Phase.PROMOTING else f"at {_step_of(rel, at)}"
        return f"already past step {step + 1} (the release is {where})"
    if last is None:
        return None
    if not last.full and last.from_step in (None, step) and pending:
        return f"promotion from step {step + 1} already requested{_by(last)}"
    passed = last.from_step  # the step the last promote passed, once it took effect
    if passed is None or passed >= at or _pending(rel, last):
        return None
    now_at = f"the release is {phase.value} at {_step_of(rel, at)}"
    if given_at is not None and _promoted_since(rel, given_at):
        since = " after this command was given"
        return f"already past step {passed + 1} (promoted{_by(last)}{since}); {now_at}"
    if phase is not Phase.PAUSED:  # moved on by that promote, not stopped since: a repeat
        return f"already past step {passed + 1} (promoted{_by(last)}); {now_at}"
    return None


def abort(rel: release.Release) -> release.ReleaseSpec:
    """All traffic back to the stable revision at once; the release ends Aborted."""
    phase, stable = rel.status.phase, rel.spec.stable_revision
    if phase is Phase.ABORTED:
        raise AlreadyDone(f"already aborted; traffic is on {stable}")
    if phase in (Phase.ROLLED_BACK, Phase.FAILED):
        raise AlreadyDone(f"already over ({phase.value}); traffic is back on {stable}")
    _running(rel, "abort")
    if rel.spec.abort:
        raise AlreadyDone(f"already aborting; traffic goes back to {stable}")
    return rel.spec.model_copy(update={"abort": True})


def _aborting(rel: release.Release, command: str) -> None:
    if rel.spec.abort:
        raise NotApplicable(f"cannot {command}: release {rel.metadata.name} is being aborted")


def pause(rel: release.Release) -> release.ReleaseSpec:
    """Hold at the current weight until `resume` (takes effect once the release is
    Progressing; a release promoting or rolling back goes on to its end)."""
    _running(rel, "pause")
    _aborting(rel, "pause")
    if rel.status.phase in (Phase.PROMOTING, Phase.ROLLING_BACK):
        raise NotApplicable(
            f"cannot pause: release {rel.metadata.name} is {rel.status.phase.value}"
        )
    if rel.spec.paused:
        if rel.status.phase is Phase.PAUSED and rel.status.pause_reason == PauseReason.USER:
            raise AlreadyDone("already paused")
        raise AlreadyDone("pause already requested")
    return rel.spec.model_copy(update={"paused": True})


def resume(rel: release.Release, *, now: datetime, by: str | None) -> release.ReleaseSpec:
    """Continue a paused release (paused by a user, or for inconclusive data or errors)."""
    _running(rel, "resume")
    _aborting(rel, "resume")
    phase = rel.status.phase
    if phase is Phase.ROLLING_BACK:
        raise NotApplicable(f"nothing to resume: release {rel.metadata.name} is RollingBack")
    if not rel.spec.paused:
        if _pending(rel, rel.spec.resume):
            assert rel.spec.resume is not None
            raise AlreadyDone(f"resume already requested{_by(rel.spec.resume)}")
        if not table.can_fire(Trigger.RESUME, phase):
            raise AlreadyDone(f"already running: the release is {phase.value}, not paused")
    if rel.status.pause_reason == PauseReason.PROMOTION and not rel.spec.paused:
        raise NotApplicable(
            f"release {rel.metadata.name} waits at a pause step: use `rollout promote`"
        )
    wait = hooks.describe_wait(rel.spec.policy, rel.status)
    if wait is not None and not rel.spec.paused:
        raise NotApplicable(
            f"release {rel.metadata.name} is {wait}: it goes on when the webhook says yes"
            " (or `rollout promote --force`)"
        )
    return rel.spec.model_copy(
        update={"paused": False, "resume": Command(requested_at=now, requested_by=by)}
    )


def retry(rel: release.Release, *, now: datetime, by: str | None) -> release.ReleaseSpec:
    """Look again: restart a paused step's analysis, or run a failed release again."""
    phase = rel.status.phase
    if phase in (Phase.SUCCEEDED, Phase.SUPERSEDED):
        raise NotApplicable(f"nothing to retry: release {rel.metadata.name} is {phase.value}")
    if phase not in TERMINAL_PHASES and not table.can_fire(Trigger.RETRY, phase):
        raise NotApplicable(
            f"nothing to retry: release {rel.metadata.name} is {phase.value}, not paused"
        )
    wait = hooks.describe_wait(rel.spec.policy, rel.status)
    if phase is Phase.PAUSED and wait is not None:
        raise NotApplicable(
            f"release {rel.metadata.name} is {wait}: it goes on when the webhook says yes"
            " (or `rollout promote --force`)"
        )
    return rel.spec.model_copy(update={"retry": Command(requested_at=now, requested_by=by)})


def undo(
    svc: service.Service, revisions: list[revision.Revision], *, to_revision: str | None
) -> service.ServiceSpec:
    """The Service's template and scaling set back to an earlier revision's (the one before the
    stable revision by default): a new revision with that template, released under
    the service's policy like any other change."""
    if svc.spec.traffic is not None:
        raise NotApplicable(
            f"service {svc.metadata.name} has a manual traffic split; edit spec.traffic instead"
        )
    if svc.spec.workload_ref is not None:
        ref = svc.spec.workload_ref.name
        raise NotApplicable(
            f"service {svc.metadata.name} takes its template from Deployment {ref}: roll that"
            f" back instead (kubectl rollout undo deployment/{ref}); a new revision follows"
        )
    stable = svc.status.stable_revision
    by_name = {r.metadata.name: r for r in revisions}
    if to_revision is None:
        earlier = sorted(
            (
                n
                for n in by_name
                if stable is None or names.revision_number(n) < names.revision_number(stable)
            ),
            key=names.revision_number,
            reverse=True,
        )
        if not earlier:
            raise NotApplicable(f"no revision of {svc.metadata.name} before {stable} to go back to")
        to_revision = earlier[0]
    target = by_name.get(to_revision)
    if target is None:
        raise NotApplicable(
            f"revision {to_revision} does not exist (have: {', '.join(sorted(by_name))})"
        )
    if target.spec.template == svc.spec.template and target.spec.scaling == svc.spec.scaling:
        raise NotApplicable(
            f"service {svc.metadata.name} already runs the template of {to_revision}"
        )
    return svc.spec.model_copy(
        update={"template": target.spec.template, "scaling": target.spec.scaling}
    )
