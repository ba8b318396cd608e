"""Manual commands as intents: what `rollout promote|abort|pause|resume|retry|undo`
write, or why they do not apply.

Each function takes the object as read and returns the new spec to write (one small
update, conditional on the resourceVersion read), or raises `NotApplicable` with the
reason the CLI prints (exit 1). The controller does the work; these functions only
say what the user wants, in a form that is safe to repeat: `promote` names the step
it promotes from, edges carry `requestedAt`, levels (`paused`, `abort`) are levels.

Which phase a command applies in is not decided here: the transitions table owns it
(`table.can_fire`), and the edges (`promote`, `promote --full`, `resume`, `retry`) ask
it, so the CLI never accepts what the engine would ignore, nor refuses what it would
do. The levels apply to any release that has not finished and take effect when a row
allows (`paused` once the release is Progressing; `abort` from every active phase).
Retrying a finished release starts a new one (the reconciler's part, not the table's).

Pure; `now` and `by` are passed in. Called by the CLI and the scenario tests.
"""

from __future__ import annotations

from datetime import datetime

from rollout.api import names, release, revision, service
from rollout.api.release import TERMINAL_PHASES, Command, PauseReason, Phase, PromoteRequest
from rollout.release import hooks, table
from rollout.release.triggers import Trigger

__all__ = ["NotApplicable", "abort", "pause", "promote", "resume", "retry", "undo"]


class NotApplicable(Exception):
    """The command does not apply to the release as it is; the message says why."""


def _running(rel: release.Release, command: str) -> None:
    if rel.status.phase in TERMINAL_PHASES:
        raise NotApplicable(
            f"cannot {command}: release {rel.metadata.name} has finished ({rel.status.phase.value})"
        )


def promote(
    rel: release.Release, *, full: bool, now: datetime, by: str | None, force: bool = False
) -> release.ReleaseSpec:
    """Advance one step from the current one (or all the way with `full`); over a
    confirm-* webhook gate only with `force` (the gate counts as passed)."""
    _running(rel, "promote")
    phase = rel.status.phase
    if not force:
        wait = hooks.describe_wait(rel.spec.policy, rel.status)
        if wait is not None and phase is Phase.PAUSED:
            raise NotApplicable(
                f"release {rel.metadata.name} is {wait}: it goes on when the webhook"
                " says yes; `rollout promote --force` promotes over it"
            )
        if full and any(h.gate for h in rel.spec.policy.webhooks):
            raise NotApplicable(
                f"release {rel.metadata.name}: --full would skip the policy's confirm"
                " webhooks; add --force to promote over them"
            )
    if not full and not table.can_fire(Trigger.PROMOTE, phase):
        raise NotApplicable(
            f"nothing to promote: release {rel.metadata.name} is {phase.value}, not paused"
            " (use --full to promote all the way now)"
        )
    if full and not table.can_fire(Trigger.PROMOTE_FULL, phase):
        raise NotApplicable(f"cannot promote: release {rel.metadata.name} is {phase.value}")
    request = PromoteRequest(
        from_step=rel.status.step_index, full=full, force=force, requested_at=now, requested_by=by
    )
    return rel.spec.model_copy(update={"promote": request})


def abort(rel: release.Release) -> release.ReleaseSpec:
    """All traffic back to the stable revision at once; the release ends Aborted."""
    _running(rel, "abort")
    if rel.spec.abort:
        raise NotApplicable(f"release {rel.metadata.name} is already being aborted")
    return rel.spec.model_copy(update={"abort": True})


def pause(rel: release.Release) -> release.ReleaseSpec:
    """Hold at the current weight until `resume`."""
    _running(rel, "pause")
    if rel.spec.paused:
        raise NotApplicable(f"release {rel.metadata.name} is already paused by a user")
    return rel.spec.model_copy(update={"paused": True})


def resume(rel: release.Release, *, now: datetime, by: str | None) -> release.ReleaseSpec:
    """Continue a paused release (paused by a user, or for inconclusive data or errors)."""
    _running(rel, "resume")
    if not table.can_fire(Trigger.RESUME, rel.status.phase) and not rel.spec.paused:
        raise NotApplicable(
            f"nothing to resume: release {rel.metadata.name} is {rel.status.phase.value}"
        )
    if rel.status.pause_reason == PauseReason.PROMOTION:
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
