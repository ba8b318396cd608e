"""What users read about a release: the message of each event, and the one-line status.

`event_message(model, row)` formats the row's template (`Row.message`, a `str.format`
template) with the fields of `FIELDS`, computed from the decision in progress only
when a template names them. `describe` and `position`, the one-line status and the
step as people count it, are `rollout.release.summary`'s (re-exported here).

Step numbers: every step number a person reads counts from 1 (messages, events,
`status.step`, `rollout status`, `history`, `get releases`); `status.stepIndex` and a
promote's `fromStep` are API indexes and count from 0.

Pure; `now` is passed in. Called by `rollout.release.effects` (events) and
`rollout.release.engine` (the status message); `describe` also by the status view.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from rollout.api import durations
from rollout.release import hooks, rules, table
from rollout.release.model import Model
from rollout.release.summary import describe, position

__all__ = ["FIELDS", "describe", "event_message", "position"]


def _split(m: Model) -> str:
    weights = m.status.weights
    return f": stable {weights.stable}% / canary {weights.canary}%" if weights else ""


def _rules_held(m: Model) -> str:
    """What the Route holds of the step's request rules when it differs from what the
    step asked: "; the route reads back other request rules: mirror shadow is not
    applied" (asked is the step's, whatever the row's callbacks asked since)."""
    asked = rules.for_step(m.spec, m.steps, m.status.step_index, attempt=m.obs.attempt)
    differs = asked.difference(m.obs.applied_rules)
    return f"; the route reads back other request rules: {differs}" if differs else ""


# The fields a row's message template may name, each from the decision in progress.
FIELDS: dict[str, Callable[[Model, table.Row], object]] = {
    "event": lambda m, row: row.event,
    # ": stable 95% / canary 5%", with its colon; nothing before any traffic moved
    "split": lambda m, row: _split(m),
    "step": lambda m, row: m.status.step_index + 1,  # counted from 1, as users read it
    "step_text": lambda m, row: m.step_text(),  # "analysis 1m", "done" after the last
    "failed": lambda m, row: "; ".join(
        [*m.gate().failed, *hooks.checks_failed(m.policy, m.status)]
    ),
    "errors": lambda m, row: "; ".join(m.gate().errors),
    "inconclusive": lambda m, row: "; ".join(m.gate().inconclusive),
    "canary": lambda m, row: m.spec.canary_revision,
    "failure": lambda m, row: m.obs.canary_failure,
    "deadline": lambda m, row: durations.format_duration(m.policy.progress_deadline),
    "superseded_by": lambda m, row: m.obs.superseded_by,
    "route_problem": lambda m, row: m.obs.route_problem,
    # "; the route reads back other request rules: mirror shadow is not applied", or ""
    "rules_held": lambda m, row: _rules_held(m),
    "by": lambda m, row: m.by or "a user",
    # "waiting for confirm-promotion (last: HTTP 403 from https://gate.example/…)"
    "gate": lambda m, row: hooks.describe_wait(m.policy, m.status),
    "confirmed": lambda m, row: hooks.gate_at(m.policy, m.status).value,
    "pre_rollout_failed": lambda m, row: "; ".join(hooks.pre_rollout_failed(m.policy, m.status)),
    "rollback_hook": lambda m, row: hooks.rollback_requested(m.policy, m.status),
}


class _Fields(Mapping[str, object]):
    """The fields of `FIELDS` for one event, each computed when the template asks."""

    def __init__(self, m: Model, row: table.Row) -> None:
        self._m, self._row = m, row

    def __getitem__(self, name: str) -> object:
        return FIELDS[name](self._m, self._row)

    def __iter__(self) -> Iterator[str]:
        return iter(FIELDS)

    def __len__(self) -> int:
        return len(FIELDS)


def event_message(m: Model, row: table.Row) -> str:
    """The message of `row`'s event: its template, filled in."""
    # The gate first, whatever the template: the gate cache then holds what it always
    # held at this point, so the conditions tried after this event see the same.
    m.gate()
    return row.message.format_map(_Fields(m, row))
