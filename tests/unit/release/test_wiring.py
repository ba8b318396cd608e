"""The table's names resolve: every condition, callback and message field a row names
exists, so a new row is one edit in `table` (and a typo fails here, not mid-release)."""

from __future__ import annotations

import string

import pytest

from rollout.api.release import PauseReason, Phase, ReleaseStatus
from rollout.release import conditions, effects, engine, messages, table
from rollout.release.triggers import Trigger

ROWS = {row.name: row for row in table.ROWS}


@pytest.mark.parametrize("name", list(ROWS))
def test_conditions_and_callbacks_of_the_row_exist(name: str) -> None:
    """Conditions and unless name predicates of `conditions`; after names `effects`."""
    row = ROWS[name]
    assert set(row.conditions) | set(row.unless) <= set(conditions.NAMED)
    assert set(row.after) <= set(effects.NAMED)


@pytest.mark.parametrize("name", list(ROWS))
def test_message_template_names_only_known_fields(name: str) -> None:
    """Every `{field}` of the row's message template is one of `messages.FIELDS`."""
    fields = {f for _, f, _, _ in string.Formatter().parse(ROWS[name].message) if f}
    assert fields <= set(messages.FIELDS)


def test_condition_and_callback_names_do_not_collide() -> None:
    """One namespace for the machine: a name is a condition or a callback, not both."""
    assert not set(conditions.NAMED) & set(effects.NAMED)


@pytest.mark.parametrize("phase", list(Phase), ids=[p.value for p in Phase])
@pytest.mark.parametrize("trigger", list(Trigger), ids=[t.value for t in Trigger])
def test_can_fire_is_whether_a_row_of_the_trigger_leaves_the_phase(
    trigger: Trigger, phase: Phase
) -> None:
    """`can_fire` and `rows_from` read the rows, in table order."""
    rows = [r for r in table.ROWS if r.trigger is trigger and phase in r.source]
    assert list(table.rows_from(trigger, phase)) == rows
    assert table.can_fire(trigger, phase) == bool(rows)


def test_engine_keeps_its_public_names() -> None:
    """decide, describe, due_metrics and POLL stay importable from the engine."""
    assert callable(engine.decide)
    assert engine.describe is messages.describe
    assert callable(engine.due_metrics)
    assert engine.POLL.total_seconds() == 2


@pytest.mark.parametrize("reason", list(PauseReason), ids=[r.value for r in PauseReason])
def test_pause_reason_is_stored_as_its_plain_string(reason: PauseReason) -> None:
    """Stored objects and `-o json` keep the strings they had before the enum."""
    dumped = ReleaseStatus(phase=Phase.PAUSED, pause_reason=reason).model_dump(
        mode="json", by_alias=True
    )
    assert dumped["pauseReason"] == reason.value
    assert reason.value in {
        "user",
        "promotion",
        "inconclusive",
        "errors",
        "failure",
        "confirmation",
    }
    assert ReleaseStatus.model_validate(dumped).pause_reason is reason
