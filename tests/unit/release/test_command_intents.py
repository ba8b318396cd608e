"""Manual commands as intents: for each command, the releases it applies to (and the
spec it writes) and the ones it refuses (and the reason users read)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rollout.api import meta, policyspec, release, revision, service
from rollout.api.release import Command, PauseReason, Phase, PromoteRequest
from rollout.release import commands, table
from rollout.release.triggers import Trigger

T0 = datetime(2026, 1, 1, tzinfo=UTC)
BY = "alice"
POLICY = policyspec.RolloutPolicySpec.model_validate(
    {"steps": [{"setWeight": 10}, {"pause": {}}, {"setWeight": 50}]}
)
RUNNING = [Phase.PENDING, Phase.PROGRESSING, Phase.PAUSED, Phase.PROMOTING, Phase.ROLLING_BACK]
FINISHED = [Phase.SUCCEEDED, Phase.ROLLED_BACK, Phase.ABORTED, Phase.SUPERSEDED, Phase.FAILED]


def rel(
    phase: Phase = Phase.PROGRESSING,
    *,
    step: int = 0,
    pause_reason: PauseReason | None = None,
    **spec: Any,
) -> release.Release:
    return release.Release(
        metadata=meta.ObjectMeta(name="web-00002", namespace="default"),
        spec=release.ReleaseSpec(
            service="web",
            stable_revision="web-00001",
            canary_revision="web-00002",
            policy=POLICY,
            **spec,
        ),
        status=release.ReleaseStatus(phase=phase, step_index=step, pause_reason=pause_reason),
    )


def ids(phases: list[Phase]) -> list[Any]:
    return [pytest.param(p, id=p.value) for p in phases]


# --- promote ------------------------------------------------------------------------


def test_promote_a_paused_release_names_the_step_it_promotes_from() -> None:
    """One step from the current one, with who asked and when."""
    spec = commands.promote(rel(Phase.PAUSED, step=1), full=False, now=T0, by=BY)
    assert spec.promote == PromoteRequest(from_step=1, full=False, requested_at=T0, requested_by=BY)
    assert spec.model_copy(update={"promote": None}) == rel().spec  # nothing else changes


@pytest.mark.parametrize("phase", ids([Phase.PENDING, Phase.PROGRESSING, Phase.PAUSED]))
def test_promote_full_applies_without_a_pause(phase: Phase) -> None:
    """`--full` does not need a pause."""
    spec = commands.promote(rel(phase, step=2), full=True, now=T0, by=None)
    assert spec.promote == PromoteRequest(from_step=2, full=True, requested_at=T0)


@pytest.mark.parametrize("phase", ids([Phase.PENDING, Phase.PROGRESSING]))
def test_promote_one_step_needs_a_paused_release(phase: Phase) -> None:
    """Without --full, only a paused release can be promoted; the message says so."""
    with pytest.raises(commands.NotApplicable) as caught:
        commands.promote(rel(phase), full=False, now=T0, by=BY)
    assert str(caught.value) == (
        f"nothing to promote: release web-00002 is {phase.value}, not paused"
        " (use --full to promote all the way now)"
    )


def test_promote_full_refused_while_rolling_back() -> None:
    """Rolling back already: even --full is refused."""
    with pytest.raises(commands.NotApplicable, match=r"cannot promote: .* is RollingBack$"):
        commands.promote(rel(Phase.ROLLING_BACK), full=True, now=T0, by=BY)


@pytest.mark.parametrize(
    ("phase", "full", "message"),
    [
        pytest.param(
            Phase.PROMOTING,
            True,
            "already promoting: 100% of traffic goes to the canary",
            id="full-promoting",
        ),
        pytest.param(
            Phase.PROMOTING,
            False,
            "already past step 1 (the release is promoting to 100%)",
            id="step-promoting",
        ),
        pytest.param(
            Phase.SUCCEEDED, True, "already promoted: web-00002 takes 100%", id="full-succeeded"
        ),
        pytest.param(
            Phase.SUCCEEDED, False, "already promoted: web-00002 takes 100%", id="step-succeeded"
        ),
    ],
)
def test_promote_of_a_release_promoting_or_promoted_is_already_done(
    phase: Phase, full: bool, message: str
) -> None:
    """What promote asks for holds already: said, nothing written (exit 0)."""
    with pytest.raises(commands.AlreadyDone) as caught:
        commands.promote(rel(phase), full=full, now=T0, by=BY)
    assert str(caught.value) == message


@pytest.mark.parametrize("phase", ids([p for p in FINISHED if p is not Phase.SUCCEEDED]))
@pytest.mark.parametrize("full", [pytest.param(False, id="step"), pytest.param(True, id="full")])
def test_promote_refused_on_a_release_that_ended_otherwise(phase: Phase, full: bool) -> None:
    """A release that ended without its promotion says it has finished, and how."""
    with pytest.raises(commands.NotApplicable) as caught:
        commands.promote(rel(phase), full=full, now=T0, by=BY)
    assert str(caught.value) == (f"cannot promote: release web-00002 has finished ({phase.value})")


# --- promote: repeated --------------------------------------------------------------


T1 = T0.replace(minute=1)


@pytest.mark.parametrize(
    ("phase", "step", "from_step", "message"),
    [
        pytest.param(
            Phase.PAUSED,
            2,
            1,
            "already past step 2 (the release is at step 3/3)",
            id="paused-after",
        ),
        pytest.param(
            Phase.PROGRESSING,
            2,
            1,
            "already past step 2 (the release is at step 3/3)",
            id="progressing-after",
        ),
    ],
)
def test_promote_of_a_step_already_passed_is_already_done(
    phase: Phase, step: int, from_step: int, message: str
) -> None:
    """A promote from a step the release has left (the CLI keeps the step it first
    read when it reads again after a conflict) does not promote the next one."""
    with pytest.raises(commands.AlreadyDone) as caught:
        commands.promote(rel(phase, step=step), full=False, now=T0, by=BY, from_step=from_step)
    assert str(caught.value) == message


def test_promote_of_a_step_not_reached_yet_is_refused() -> None:
    """`--step 3` while the release is at step 2: exit 1, nothing written."""
    with pytest.raises(commands.NotApplicable) as caught:
        commands.promote(rel(Phase.PAUSED, step=1), full=False, now=T0, by=BY, from_step=2)
    assert str(caught.value) == "release web-00002 is at step 2/3, not yet at step 3"


def test_promote_already_requested_from_the_same_step_is_already_done() -> None:
    """A second promote before the controller handled the first: same intent."""
    first = PromoteRequest(from_step=1, requested_at=T0, requested_by="bob")
    with pytest.raises(commands.AlreadyDone) as caught:
        commands.promote(rel(Phase.PAUSED, step=1, promote=first), full=False, now=T1, by=BY)
    assert str(caught.value) == "promotion from step 2 already requested by bob"


def test_promote_full_already_requested_is_already_done() -> None:
    """A second `promote --full` before the controller handled the first."""
    first = PromoteRequest(from_step=0, full=True, requested_at=T0)
    with pytest.raises(commands.AlreadyDone, match=r"^full promotion already requested$"):
        commands.promote(rel(Phase.PROGRESSING, promote=first), full=True, now=T1, by=BY)


def test_a_forced_promote_is_written_over_an_unforced_request() -> None:
    """`--force` asks for more than the promote already requested: it is written."""
    first = PromoteRequest(from_step=1, requested_at=T0)
    spec = commands.promote(
        rel(Phase.PAUSED, step=1, promote=first), full=False, now=T1, by=BY, force=True
    )
    assert spec.promote == PromoteRequest(from_step=1, force=True, requested_at=T1, requested_by=BY)


def test_promote_after_the_last_one_moved_the_release_on_is_already_done() -> None:
    """Progressing at step 3 since the promote from step 2 was handled: a repeat."""
    last = PromoteRequest(from_step=1, requested_at=T0, requested_by="bob")
    current = rel(Phase.PROGRESSING, step=2, promote=last)
    current.status.last_command_at = T0
    with pytest.raises(commands.AlreadyDone) as caught:
        commands.promote(current, full=False, now=T1, by=BY)
    assert str(caught.value) == (
        "already past step 2 (promoted by bob); the release is Progressing at step 3/3"
    )


def promoted_since_given(given: datetime) -> release.Release:
    """Paused at step 3 (of 3), where the promote from step 2 handled at T0+5s took it."""
    last = PromoteRequest(from_step=1, requested_at=T0, requested_by="bob")
    current = rel(Phase.PAUSED, step=2, promote=last, pause_reason=PauseReason.PROMOTION)
    current.status.last_command_at = T0
    current.status.history = [
        release.HistoryEntry(at=T0 + timedelta(seconds=5), event="PromotedStep", step_index=2)
    ]
    return current


def test_promote_given_before_another_took_effect_is_its_repeat() -> None:
    """Given at T0+3s (its process started), read after bob's promote took effect at
    T0+5s: it was given from the state bob promoted, so it is bob's repeat (exit 0)."""
    current = promoted_since_given(T0)
    with pytest.raises(commands.AlreadyDone) as caught:
        commands.promote(current, full=False, now=T1, by=BY, given_at=T0 + timedelta(seconds=3))
    assert str(caught.value) == (
        "already past step 2 (promoted by bob after this command was given);"
        " the release is Paused at step 3/3"
    )


def test_promote_given_after_the_last_took_effect_promotes() -> None:
    """Given at T0+6s, after the release reached step 3: a promote of step 3."""
    current = promoted_since_given(T0)
    spec = commands.promote(current, full=False, now=T1, by=BY, given_at=T0 + timedelta(seconds=6))
    assert spec.promote == PromoteRequest(from_step=2, requested_at=T1, requested_by=BY)


def test_promote_at_a_new_pause_after_a_handled_one_promotes() -> None:
    """Paused at a later step than the last promote's: a new promote, written."""
    last = PromoteRequest(from_step=0, requested_at=T0)
    current = rel(Phase.PAUSED, step=1, promote=last, pause_reason=PauseReason.PROMOTION)
    current.status.last_command_at = T0
    spec = commands.promote(current, full=False, now=T1, by=BY)
    assert spec.promote == PromoteRequest(from_step=1, requested_at=T1, requested_by=BY)


# --- abort --------------------------------------------------------------------------


@pytest.mark.parametrize("phase", ids(RUNNING))
def test_abort_sets_the_abort_level(phase: Phase) -> None:
    """Any running release can be aborted."""
    spec = commands.abort(rel(phase))
    assert spec.abort is True
    assert spec.model_copy(update={"abort": False}) == rel().spec


@pytest.mark.parametrize("phase", ids([Phase.SUCCEEDED, Phase.SUPERSEDED]))
def test_abort_refused_on_a_release_that_did_not_end_on_stable(phase: Phase) -> None:
    """Promoted, or superseded by a newer release: nothing to abort (exit 1)."""
    with pytest.raises(commands.NotApplicable) as caught:
        commands.abort(rel(phase))
    assert str(caught.value) == f"cannot abort: release web-00002 has finished ({phase.value})"


@pytest.mark.parametrize(
    ("phase", "spec", "message"),
    [
        pytest.param(
            Phase.PROGRESSING,
            {"abort": True},
            "already aborting; traffic goes back to web-00001",
            id="requested",
        ),
        pytest.param(
            Phase.ROLLING_BACK,
            {"abort": True},
            "already aborting; traffic goes back to web-00001",
            id="rolling-back",
        ),
        pytest.param(
            Phase.ABORTED, {"abort": True}, "already aborted; traffic is on web-00001", id="done"
        ),
        pytest.param(
            Phase.ROLLED_BACK,
            {},
            "already over (RolledBack); traffic is back on web-00001",
            id="rolled-back",
        ),
        pytest.param(
            Phase.FAILED, {}, "already over (Failed); traffic is back on web-00001", id="failed"
        ),
    ],
)
def test_abort_again_is_already_done(phase: Phase, spec: dict[str, Any], message: str) -> None:
    """A repeated abort (or one on a release whose traffic is back on stable) says so."""
    with pytest.raises(commands.AlreadyDone) as caught:
        commands.abort(rel(phase, **spec))
    assert str(caught.value) == message


# --- pause and resume ---------------------------------------------------------------


@pytest.mark.parametrize("phase", ids([Phase.PENDING, Phase.PROGRESSING, Phase.PAUSED]))
def test_pause_sets_the_paused_level(phase: Phase) -> None:
    """A running release is held by the user (Pending: once it is Progressing)."""
    assert commands.pause(rel(phase)).paused is True


@pytest.mark.parametrize(
    ("phase", "reason", "message"),
    [
        pytest.param(Phase.PAUSED, PauseReason.USER, "already paused", id="paused"),
        pytest.param(Phase.PROGRESSING, None, "pause already requested", id="requested"),
    ],
)
def test_pause_again_is_already_done(
    phase: Phase, reason: PauseReason | None, message: str
) -> None:
    """A user pause already in place (or written, not yet seen) says so."""
    with pytest.raises(commands.AlreadyDone) as caught:
        commands.pause(rel(phase, paused=True, pause_reason=reason))
    assert str(caught.value) == message


@pytest.mark.parametrize("phase", ids(FINISHED))
def test_pause_refused_on_a_finished_release(phase: Phase) -> None:
    """Nothing to pause once it ended."""
    with pytest.raises(commands.NotApplicable, match=r"cannot pause: .* has finished"):
        commands.pause(rel(phase))


@pytest.mark.parametrize(
    ("phase", "paused", "reason"),
    [
        pytest.param(Phase.PAUSED, True, PauseReason.USER, id="paused-by-user"),
        pytest.param(
            Phase.PAUSED, False, PauseReason.INCONCLUSIVE, id="paused-for-inconclusive-data"
        ),
        pytest.param(Phase.PROGRESSING, True, None, id="pause-requested-not-yet-seen"),
    ],
)
def test_resume_clears_the_pause_and_records_the_command(
    phase: Phase, paused: bool, reason: PauseReason | None
) -> None:
    """`paused` goes back to False and a resume edge is written."""
    spec = commands.resume(rel(phase, paused=paused, pause_reason=reason), now=T0, by=BY)
    assert spec.paused is False
    assert spec.resume == Command(requested_at=T0, requested_by=BY)


def test_resume_clears_a_user_pause_at_a_pause_step() -> None:
    """Paused at a pause step with a user's pause written too: resume clears the user's
    pause (the release still waits for promote)."""
    current = rel(Phase.PAUSED, step=1, pause_reason=PauseReason.PROMOTION, paused=True)
    spec = commands.resume(current, now=T0, by=BY)
    assert spec.paused is False


def test_resume_at_a_pause_step_says_use_promote() -> None:
    """A pause step waits for `promote`, not `resume`."""
    with pytest.raises(commands.NotApplicable) as caught:
        commands.resume(
            rel(Phase.PAUSED, step=1, pause_reason=PauseReason.PROMOTION), now=T0, by=BY
        )
    assert str(caught.value) == "release web-00002 waits at a pause step: use `rollout promote`"


@pytest.mark.parametrize(
    ("command", "phase", "spec", "message"),
    [
        pytest.param(
            "pause",
            Phase.PROGRESSING,
            {"abort": True},
            "cannot pause: release web-00002 is being aborted",
            id="pause-aborting",
        ),
        pytest.param(
            "resume",
            Phase.PAUSED,
            {"abort": True},
            "cannot resume: release web-00002 is being aborted",
            id="resume-aborting",
        ),
        pytest.param(
            "pause",
            Phase.PROMOTING,
            {},
            "cannot pause: release web-00002 is Promoting",
            id="pause-promoting",
        ),
        pytest.param(
            "pause",
            Phase.ROLLING_BACK,
            {},
            "cannot pause: release web-00002 is RollingBack",
            id="pause-rolling-back",
        ),
        pytest.param(
            "resume",
            Phase.ROLLING_BACK,
            {},
            "nothing to resume: release web-00002 is RollingBack",
            id="resume-rolling-back",
        ),
    ],
)
def test_pause_and_resume_refused_on_a_release_going_to_its_end(
    command: str, phase: Phase, spec: dict[str, Any], message: str
) -> None:
    """Being aborted, promoting or rolling back: the release goes to its end; a pause or
    resume could never take effect (exit 1)."""
    current = rel(phase, **spec)
    intent = commands.pause if command == "pause" else EDGES["resume"][1]
    with pytest.raises(commands.NotApplicable) as caught:
        intent(current)
    assert str(caught.value) == message


@pytest.mark.parametrize("phase", ids([Phase.PENDING, Phase.PROGRESSING, Phase.PROMOTING]))
def test_resume_of_a_release_not_paused_is_already_done(phase: Phase) -> None:
    """A release that is not paused is running already: said, exit 0."""
    with pytest.raises(commands.AlreadyDone) as caught:
        commands.resume(rel(phase), now=T0, by=BY)
    assert str(caught.value) == f"already running: the release is {phase.value}, not paused"


def test_resume_already_requested_is_already_done() -> None:
    """A second resume before the controller handled the first."""
    first = Command(requested_at=T0, requested_by="bob")
    paused = rel(Phase.PAUSED, pause_reason=PauseReason.INCONCLUSIVE, resume=first)
    with pytest.raises(commands.AlreadyDone) as caught:
        commands.resume(paused, now=T1, by=BY)
    assert str(caught.value) == "resume already requested by bob"


@pytest.mark.parametrize("phase", ids(FINISHED))
def test_resume_refused_on_a_finished_release(phase: Phase) -> None:
    """Nothing to resume once it ended."""
    with pytest.raises(commands.NotApplicable, match=r"cannot resume: .* has finished"):
        commands.resume(rel(phase), now=T0, by=BY)


# --- retry --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "phase", ids([Phase.PAUSED, Phase.ROLLED_BACK, Phase.ABORTED, Phase.FAILED])
)
def test_retry_applies_to_paused_and_failed_releases(phase: Phase) -> None:
    """A paused step looks again; a rolled back, aborted or failed release runs again."""
    spec = commands.retry(rel(phase), now=T0, by=BY)
    assert spec.retry == Command(requested_at=T0, requested_by=BY)


@pytest.mark.parametrize("phase", ids([Phase.SUCCEEDED, Phase.SUPERSEDED]))
def test_retry_refused_after_success_or_supersession(phase: Phase) -> None:
    """Nothing went wrong: nothing to retry."""
    with pytest.raises(commands.NotApplicable) as caught:
        commands.retry(rel(phase), now=T0, by=BY)
    assert str(caught.value) == f"nothing to retry: release web-00002 is {phase.value}"


@pytest.mark.parametrize(
    "phase", ids([Phase.PENDING, Phase.PROGRESSING, Phase.PROMOTING, Phase.ROLLING_BACK])
)
def test_retry_refused_while_running_unpaused(phase: Phase) -> None:
    """A release that is moving is not retried."""
    with pytest.raises(commands.NotApplicable) as caught:
        commands.retry(rel(phase), now=T0, by=BY)
    assert str(caught.value) == f"nothing to retry: release web-00002 is {phase.value}, not paused"


# --- undo ---------------------------------------------------------------------------


def template(version: str) -> dict[str, Any]:
    return {
        "spec": {
            "containers": [
                {"name": "app", "command": ["app"], "env": [{"name": "VERSION", "value": version}]}
            ]
        }
    }


def svc(version: str, *, stable: str | None, **spec: Any) -> service.Service:
    return service.Service.model_validate(
        {
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"template": template(version), **spec},
            "status": {"stableRevision": stable},
        }
    )


def revs(*versions: str) -> list[revision.Revision]:
    """web-00001 runs versions[0], web-00002 versions[1], …"""
    return [
        revision.Revision.model_validate(
            {
                "metadata": {"name": f"web-{i:05d}", "namespace": "default"},
                "spec": {"service": "web", "template": template(v)},
            }
        )
        for i, v in enumerate(versions, start=1)
    ]


def version_of(spec: service.ServiceSpec) -> str | None:
    return str(spec.template.spec["containers"][0]["env"][0]["value"])


@pytest.mark.parametrize(
    ("stable", "to_revision", "version"),
    [
        pytest.param("web-00003", None, "v2", id="default-the-one-before-stable"),
        pytest.param("web-00002", None, "v1", id="default-from-the-second"),
        pytest.param("web-00003", "web-00001", "v1", id="explicit-target"),
        pytest.param("web-00002", "web-00003", "v3", id="explicit-target-after-stable"),
    ],
)
def test_undo_sets_the_template_back(stable: str, to_revision: str | None, version: str) -> None:
    """The service's template becomes the target revision's; nothing else changes."""
    current = svc("v4", stable=stable, policy="canary")
    spec = commands.undo(current, revs("v1", "v2", "v3", "v4"), to_revision=to_revision)
    assert version_of(spec) == version
    assert spec.policy == "canary"


@pytest.mark.parametrize(
    ("current", "revisions", "to_revision", "message"),
    [
        pytest.param(
            svc("v2", stable="web-00001"),
            revs("v1", "v2"),
            None,
            "no revision of web before web-00001 to go back to",
            id="nothing-before-the-first",
        ),
        pytest.param(
            svc("v3", stable="web-00003"),
            revs("v1", "v2", "v3"),
            "web-00009",
            "revision web-00009 does not exist (have: web-00001, web-00002, web-00003)",
            id="missing-target",
        ),
        pytest.param(
            svc("v1", stable="web-00002"),
            revs("v1", "v2"),
            None,
            "service web already runs the template of web-00001",
            id="same-template",
        ),
        pytest.param(
            svc(
                "v2",
                stable="web-00002",
                traffic=[{"revisionName": "web-00002", "percent": 100}],
            ),
            revs("v1", "v2"),
            None,
            "service web has a manual traffic split; edit spec.traffic instead",
            id="manual-traffic",
        ),
    ],
)
def test_undo_refused(
    current: service.Service,
    revisions: list[revision.Revision],
    to_revision: str | None,
    message: str,
) -> None:
    """Each refusal says what is wrong."""
    with pytest.raises(commands.NotApplicable) as caught:
        commands.undo(current, revisions, to_revision=to_revision)
    assert str(caught.value) == message


def test_undo_before_the_stable_counts_numbers_not_letters() -> None:
    """Past 99999 the revision before web-100000 is web-99999."""
    current = svc("v3", stable="web-100000")
    olders = [
        revision.Revision.model_validate(
            {
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"service": "web", "template": template(v)},
            }
        )
        for name, v in (("web-99998", "v1"), ("web-99999", "v2"), ("web-100000", "v3"))
    ]
    spec = commands.undo(current, olders, to_revision=None)
    assert version_of(spec) == "v2"


# --- one owner: the table --------------------------------------------------------------

EDGES = {
    "promote": (Trigger.PROMOTE, lambda r: commands.promote(r, full=False, now=T0, by=BY)),
    "promote-full": (
        Trigger.PROMOTE_FULL,
        lambda r: commands.promote(r, full=True, now=T0, by=BY),
    ),
    "resume": (Trigger.RESUME, lambda r: commands.resume(r, now=T0, by=BY)),
    "retry": (Trigger.RETRY, lambda r: commands.retry(r, now=T0, by=BY)),
}


@pytest.mark.parametrize("phase", ids(RUNNING))
@pytest.mark.parametrize("name", list(EDGES))
def test_a_command_applies_exactly_where_the_table_lets_it_fire(name: str, phase: Phase) -> None:
    """The CLI accepts an edge command on a running release iff a row of its trigger
    leaves the release's phase: it never writes what the engine would ignore."""
    trigger, intent = EDGES[name]
    accepted = True
    try:
        intent(rel(phase))
    except (commands.NotApplicable, commands.AlreadyDone):
        accepted = False
    assert accepted == table.can_fire(trigger, phase)
