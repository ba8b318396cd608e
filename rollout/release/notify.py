"""Notifications in the engine: which moments of a release are sent where, and what
the messages say.

A moment is a history entry that needs people (`moment(entry)`): the release paused
(keyed by its step and the event, so a pause for inconclusive data and a wait for a
gate at the same step are two moments, a flapping pause one), rolled back, aborted,
failed or succeeded, or — for sinks that ask for `Step` — a step started. Each
notification walks the history in order (`delivered`: the seq of the last entry it
looked at) and sends each of its moments once (`sent`, kept in the release's status,
so neither a retry nor a controller restart sends one twice). One message in flight
per notification and release; a message that failed after its retries is given up on
(an event says so, the controller counts it): it never holds up the next or the
release.

- `track(...)`: an entry for each notification in force, from the history so far on
  (the engine calls it while the release runs; a release never tracked is never told
  about);
- `due(...)`: the next message of each notification, with its body for the sink;
- `fold(statuses, answers, now)`: the statuses with the answers in, and the events;
- `render(...)`: the body — the webhook payload (`name` is the notification's) with
  `trigger` and `command`; a Slack
  incoming-webhook message (`text` and `blocks`); a Teams message with an Adaptive
  Card. Each says the service, what happened, why (the history's words, with the
  metric's numbers) and the `rollout` command to act.

Pure; `now` is passed in. Read by the engine (`fold`, requeue) and the release
reconciler (`due`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rollout.api import policyspec
from rollout.api.notifyspec import NotificationTrigger, Sink
from rollout.api.release import (
    HistoryEntry,
    NotificationStatus,
    Phase,
    ReleaseSpec,
    ReleaseStatus,
)
from rollout.release import actions, observation

__all__ = ["Delivery", "due", "fold", "moment", "next_due", "render", "track"]

N = NotificationTrigger
_ENDS = {
    Phase.ROLLED_BACK: N.ROLLED_BACK,
    Phase.ABORTED: N.ABORTED,
    Phase.FAILED: N.FAILED,
    Phase.SUCCEEDED: N.SUCCEEDED,
}
_STEP_EVENTS = frozenset({"ReleaseStarted", "StepAdvanced", "PromotedStep", "Confirmed"})


@dataclasses.dataclass(frozen=True)
class Delivery:
    """One message due now: the notification, what it is about, and the body."""

    notification: policyspec.Notification
    basis: str  # "<seq>|<moment>"
    body: dict[str, Any]


def moment(entry: HistoryEntry) -> tuple[NotificationTrigger, str] | None:
    """The trigger a history entry is a moment of, and the moment's key."""
    phase = entry.phase
    if phase is Phase.PAUSED:
        return N.PAUSED, f"Paused/step {entry.step_index}/{entry.event}"
    if phase in _ENDS:
        trigger = _ENDS[phase]
        return trigger, trigger.value
    if phase is Phase.PROGRESSING and entry.event in _STEP_EVENTS:
        return N.STEP, f"Step/step {entry.step_index}"
    return None


def track(
    statuses: Sequence[NotificationStatus],
    notifications: Sequence[policyspec.Notification],
    history: Sequence[HistoryEntry],
) -> list[NotificationStatus]:
    """Statuses with an entry for every notification in force, each new one starting
    after the history so far: a notification tells about the moments of a running
    release from when it first looked at it — never a finished release's past (a
    controller started with a default list must not tell about every release ever)."""
    known = {n.name for n in statuses}
    last = history[-1].seq if history else 0
    added = [
        NotificationStatus(name=n.name, delivered=last)
        for n in notifications
        if n.name not in known
    ]
    return [*statuses, *added] if added else list(statuses)


def _entry(status: ReleaseStatus, name: str) -> NotificationStatus | None:
    return next((n for n in status.notifications if n.name == name), None)


def _next(
    notification: policyspec.Notification, status: ReleaseStatus
) -> tuple[HistoryEntry, str] | None:
    sent_to = _entry(status, notification.name)
    if sent_to is None:
        return None  # not tracked while the release ran (`track`): nothing to tell
    after = sent_to.delivered
    sent = set(sent_to.sent)
    for entry in status.history:
        if entry.seq <= after:
            continue
        found = moment(entry)
        if found is not None and found[0] in notification.triggers and found[1] not in sent:
            return entry, found[1]
    return None


def due(
    notifications: Sequence[policyspec.Notification],
    spec: ReleaseSpec,
    status: ReleaseStatus,
    *,
    name: str,
    namespace: str,
) -> list[Delivery]:
    """The next message of each notification (at most one each), in history order."""
    found = []
    for notification in notifications:
        upcoming = _next(notification, status)
        if upcoming is not None:
            entry, key = upcoming
            body = render(
                notification.sink,
                entry,
                spec,
                status,
                name=name,
                namespace=namespace,
                notification_name=notification.name,
            )
            found.append(Delivery(notification, f"{entry.seq}|{key}", body))
    return found


def next_due(
    notifications: Sequence[policyspec.Notification],
    status: ReleaseStatus,
    now: datetime,
    in_flight: frozenset[str] = frozenset(),
) -> datetime | None:
    """Now, when a message is due that is not being sent; None otherwise."""
    for notification in notifications:
        if notification.name not in in_flight and _next(notification, status) is not None:
            return now
    return None


def fold(
    statuses: Sequence[NotificationStatus],
    answers: Sequence[observation.HookAnswer],
    now: datetime,
) -> tuple[list[NotificationStatus], list[actions.Event]]:
    """The statuses with `answers` in: each answered moment sent (or given up on)."""
    result = list(statuses)
    events: list[actions.Event] = []
    for answer in answers:
        seq_text, _, key = answer.basis.partition("|")
        index = next((i for i, n in enumerate(result) if n.name == answer.name), None)
        old = result[index] if index is not None else NotificationStatus(name=answer.name)
        new = old.model_copy(
            update={
                "delivered": max(old.delivered, int(seq_text)),
                "sent": [*old.sent, key] if key not in old.sent else old.sent,
                "last_sent_at": now if answer.ok else old.last_sent_at,
                "last_error": "" if answer.ok else (answer.error or "not a 2xx"),
                "failures": old.failures + (not answer.ok),
            }
        )
        if index is None:
            result.append(new)
        else:
            result[index] = new
        if not answer.ok:
            events.append(
                actions.Event(
                    "NotificationFailed",
                    f"notification {answer.name} ({key}): {answer.error or 'not a 2xx'}; given up",
                    warning=True,
                )
            )
    return result, events


# --- the messages ----------------------------------------------------------------------


def _what(trigger: NotificationTrigger, entry: HistoryEntry, spec: ReleaseSpec) -> str:
    if trigger is N.PAUSED:
        return "paused: a human is needed"
    if trigger is N.SUCCEEDED:
        return f"{spec.canary_revision} promoted to 100%"
    if trigger is N.STEP:
        return f"step {(entry.step_index or 0) + 1} started"
    return {N.ROLLED_BACK: "rolled back", N.ABORTED: "aborted", N.FAILED: "failed"}[trigger]


# Pauses whose history entry only names the event: what the person is waited for.
_WAITING = {
    "WaitingForPromotion": "waiting for `rollout promote` at a pause step",
    "Paused": "paused by a user",
}


def _why(entry: HistoryEntry, status: ReleaseStatus) -> str:
    """The history's words for the moment; for an end, why the release was ending."""
    if entry.phase is Phase.PAUSED and entry.event in _WAITING:
        return _WAITING[entry.event]
    if entry.phase in (Phase.ROLLED_BACK, Phase.ABORTED):
        for earlier in reversed(status.history):
            if earlier.seq < entry.seq and earlier.phase is Phase.ROLLING_BACK:
                return earlier.message
    return entry.message


def _command(entry: HistoryEntry, spec: ReleaseSpec, namespace: str) -> str:
    """The `rollout` command that acts on the moment ("" when there is none)."""
    target = spec.service if namespace == "default" else f"{spec.service} -n {namespace}"
    if entry.phase is Phase.PAUSED:
        return {
            "WaitingForPromotion": f"rollout promote {target}",
            "WaitingForConfirmation": f"rollout promote {target} --force  (or the gate's yes)",
            "Paused": f"rollout resume {target}",
            "AnalysisFailed": f"rollout retry {target}  (or rollout abort {target})",
        }.get(entry.event, f"rollout resume {target}  (or rollout abort {target})")
    if entry.phase in (Phase.ROLLED_BACK, Phase.ABORTED, Phase.FAILED):
        return f"rollout retry {target}"
    return ""


def render(
    sink: Sink,
    entry: HistoryEntry,
    spec: ReleaseSpec,
    status: ReleaseStatus,
    *,
    name: str,
    namespace: str,
    notification_name: str = "",
) -> dict[str, Any]:
    """The body of a message about `entry` for `sink` (see the module docstring)."""
    found = moment(entry)
    assert found is not None, "only moments are rendered"
    trigger = found[0]
    what, why = _what(trigger, entry, spec), _why(entry, status)
    command = _command(entry, spec, namespace)
    title = f"{spec.service}: release {name} {what}"
    weights = entry.weights
    split = f"canary {weights.canary}%" if weights is not None else "no traffic moved"
    if sink is Sink.SLACK:
        return _slack(title, why, command, spec, namespace, split)
    if sink is Sink.TEAMS:
        return _teams(title, why, command, spec, namespace, split)
    return {
        "trigger": trigger.value,
        "name": notification_name,
        "namespace": namespace,
        "service": spec.service,
        "release": name,
        "phase": (entry.phase or status.phase).value,
        "stepIndex": entry.step_index,
        "weights": (
            {"stable": weights.stable, "canary": weights.canary} if weights is not None else None
        ),
        "stableRevision": spec.stable_revision,
        "canaryRevision": spec.canary_revision,
        "reason": entry.event,
        "message": why,
        "command": command,
        "timestamp": entry.at,
    }


def _mrkdwn(text: str) -> str:
    """Text as Slack mrkdwn shows it literally (its three control characters escaped)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack(
    title: str, why: str, command: str, spec: ReleaseSpec, namespace: str, split: str
) -> dict[str, Any]:
    fields = [
        ("Service", f"{spec.service} ({namespace})"),
        ("Revisions", f"{spec.stable_revision or '—'} → {spec.canary_revision}"),
        ("Traffic", split),
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _mrkdwn(why or title)[:3000]},
            "fields": [
                {"type": "mrkdwn", "text": f"*{label}*\n{_mrkdwn(value)}"[:2000]}
                for label, value in fields
            ],
        },
    ]
    if command:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"`{_mrkdwn(command)}`"}]}
        )
    text = f"{title}: {why}" if why else title
    return {"text": _mrkdwn(text)[:3000], "blocks": blocks}


def _teams(
    title: str, why: str, command: str, spec: ReleaseSpec, namespace: str, split: str
) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "text": title, "wrap": True},
        {"type": "TextBlock", "text": why or title, "wrap": True},
        {
            "type": "FactSet",
            "facts": [
                {"title": "Service", "value": f"{spec.service} ({namespace})"},
                {
                    "title": "Revisions",
                    "value": f"{spec.stable_revision or '—'} → {spec.canary_revision}",
                },
                {"title": "Traffic", "value": split},
            ],
        },
    ]
    if command:
        body.append({"type": "TextBlock", "text": command, "fontType": "Monospace", "wrap": True})
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": body,
                },
            }
        ],
    }
