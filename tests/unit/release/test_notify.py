"""Notifications in the engine (`rollout.release.notify`), pure: which history entries
are moments, that each moment is sent once per notification and in order, and that the
Slack and Teams bodies match the shapes their public documentation gives (the schema
checks below are written from that documentation: Slack's Block Kit for incoming
webhooks, Microsoft's Adaptive Cards 1.4 in a Teams message)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rollout.api import policyspec
from rollout.api.release import (
    HistoryEntry,
    NotificationStatus,
    Phase,
    ReleaseSpec,
    ReleaseStatus,
    Weights,
)
from rollout.release import notify, observation

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
SPEC = ReleaseSpec.model_validate(
    {
        "service": "web",
        "stableRevision": "web-00001",
        "canaryRevision": "web-00002",
        "policy": {"steps": [{"setWeight": 10}, {"pause": {}}]},
    }
)


def notification(sink: str = "webhook", **fields: Any) -> policyspec.Notification:
    return policyspec.Notification.model_validate(
        {"name": sink, "sink": sink, "urlFrom": {"env": "SINK_URL"}} | fields
    )


def entry(
    seq: int, event: str, phase: Phase | None, step: int = 0, message: str = ""
) -> HistoryEntry:
    return HistoryEntry(
        at=T0 + timedelta(seconds=seq),
        event=event,
        message=message or event,
        seq=seq,
        phase=phase,
        step_index=step,
        weights=Weights(stable=90, canary=10),
    )


HISTORY = [
    entry(1, "ReleaseStarted", Phase.PROGRESSING, 0, "step 1: setWeight 10%"),
    entry(2, "StepAdvanced", Phase.PROGRESSING, 1, "step 2: pause"),
    entry(3, "WaitingForPromotion", Phase.PAUSED, 1),
    entry(4, "PromoteIgnored", None, 1, "nothing to promote"),
    entry(5, "AnalysisFailed", Phase.ROLLING_BACK, 1, "error-rate: 0.05 > max 0.01"),
    entry(6, "RolledBack", Phase.ROLLED_BACK, 1, "RolledBack: stable 100% / canary 0%"),
]


def status(history: list[HistoryEntry] = HISTORY, **fields: Any) -> ReleaseStatus:
    return ReleaseStatus(phase=Phase.ROLLED_BACK, history=history, **fields)


def tracked(st_: ReleaseStatus, *notifications: policyspec.Notification) -> ReleaseStatus:
    """`st_` as a release watched by `notifications` from its start."""
    return st_.model_copy(
        update={"notifications": notify.track(st_.notifications, notifications, [])}
    )


def due(n: policyspec.Notification, st_: ReleaseStatus) -> list[str]:
    st_ = tracked(st_, n)
    return [d.basis for d in notify.due([n], SPEC, st_, name="web-00002", namespace="default")]


def test_the_moments_of_a_history() -> None:
    assert [notify.moment(e) for e in HISTORY] == [
        (policyspec.NotificationTrigger.STEP, "Step/step 0"),
        (policyspec.NotificationTrigger.STEP, "Step/step 1"),
        (policyspec.NotificationTrigger.PAUSED, "Paused/step 1/WaitingForPromotion"),
        None,
        None,
        (policyspec.NotificationTrigger.ROLLED_BACK, "RolledBack"),
    ]


def test_the_default_triggers_skip_steps_and_send_in_order_one_at_a_time() -> None:
    n = notification()
    assert due(n, status()) == ["3|Paused/step 1/WaitingForPromotion"]
    after = status(
        notifications=[
            NotificationStatus(
                name="webhook", delivered=3, sent=["Paused/step 1/WaitingForPromotion"]
            )
        ]
    )
    assert due(n, after) == ["6|RolledBack"]


def test_step_is_sent_only_when_asked_for() -> None:
    n = notification(triggers=["Step"])
    assert due(n, status()) == ["1|Step/step 0"]


def test_a_moment_sent_is_never_sent_again_even_if_it_recurs() -> None:
    again = [*HISTORY[:3], entry(7, "WaitingForPromotion", Phase.PAUSED, 1)]
    sent = NotificationStatus(
        name="webhook", delivered=3, sent=["Paused/step 1/WaitingForPromotion"]
    )
    assert due(notification(), status(again, notifications=[sent])) == []


def test_answers_fold_into_the_sent_set_and_a_failure_is_given_up_with_an_event() -> None:
    answers = [
        observation.HookAnswer("webhook", "3|Paused/step 1/WaitingForPromotion", True, 200),
        observation.HookAnswer("webhook", "6|RolledBack", False, 500, "HTTP 500: down"),
    ]
    statuses, events = notify.fold([], answers, T0)
    (st_,) = statuses
    assert (st_.delivered, st_.sent, st_.failures) == (
        6,
        ["Paused/step 1/WaitingForPromotion", "RolledBack"],
        1,
    )
    assert st_.last_error == "HTTP 500: down"
    assert [(e.reason, e.warning) for e in events] == [("NotificationFailed", True)]


@given(
    st.lists(
        st.sampled_from([Phase.PAUSED, Phase.PROGRESSING, Phase.ROLLED_BACK, None]), max_size=30
    )
)
def test_walking_the_history_sends_each_moment_at_most_once(phases: list[Phase | None]) -> None:
    history = [
        entry(i + 1, "E" if p is not Phase.PROGRESSING else "StepAdvanced", p, i % 3)
        for i, p in enumerate(phases)
    ]
    n = notification(triggers=["Paused", "RolledBack", "Step"])
    st_ = tracked(status(history), n)
    keys: list[str] = []
    for _ in range(len(history) + 1):
        deliveries = notify.due([n], SPEC, st_, name="r", namespace="d")
        if not deliveries:
            break
        keys.append(deliveries[0].basis.partition("|")[2])
        answers = [observation.HookAnswer("webhook", deliveries[0].basis, True, 200)]
        statuses, _ = notify.fold(st_.notifications, answers, T0)
        st_ = st_.model_copy(update={"notifications": statuses})
    assert len(keys) == len(set(keys))
    expected = {m[1] for e in history if (m := notify.moment(e)) is not None}
    assert set(keys) == expected


# --- the bodies ---------------------------------------------------------------------------


def render(sink: str, which: int = 5) -> dict[str, Any]:
    return notify.render(
        policyspec.Sink(sink), HISTORY[which], SPEC, status(), name="web-00002", namespace="shop"
    )


def test_the_webhook_body_says_the_trigger_the_cause_and_the_command() -> None:
    body = render("webhook")
    assert body["trigger"] == "RolledBack"
    assert "name" in body
    assert body["message"] == "error-rate: 0.05 > max 0.01"  # why it was ending
    assert body["command"] == "rollout retry web -n shop"
    assert (body["service"], body["release"], body["canaryRevision"]) == (
        "web",
        "web-00002",
        "web-00002",
    )


TEXT_TYPES = {"plain_text", "mrkdwn"}


def check_text_object(obj: Any, *, limit: int, plain_only: bool = False) -> None:
    assert isinstance(obj, dict)
    assert set(obj) <= {"type", "text", "emoji", "verbatim"}
    assert obj["type"] in ({"plain_text"} if plain_only else TEXT_TYPES)
    assert isinstance(obj["text"], str)
    assert 1 <= len(obj["text"]) <= limit
    if obj["type"] == "mrkdwn":
        assert "emoji" not in obj
        raw = obj["text"].replace("&amp;", "").replace("&lt;", "").replace("&gt;", "")
        assert not set(raw) & {"&", "<", ">"}, "mrkdwn control characters must be escaped"


def check_slack_message(body: Any) -> None:
    """An incoming-webhook message: `text` (the notification fallback) and up to 50
    blocks of the kinds a message may carry, each within Block Kit's limits."""
    assert isinstance(body, dict)
    assert set(body) <= {"text", "blocks", "mrkdwn", "thread_ts"}
    assert isinstance(body["text"], str)
    assert body["text"]
    blocks = body.get("blocks", [])
    assert isinstance(blocks, list)
    assert len(blocks) <= 50
    for block in blocks:
        kind = block["type"]
        assert kind in {"header", "section", "context", "divider", "actions", "image"}
        assert len(block.get("block_id", "")) <= 255
        if kind == "header":
            assert set(block) <= {"type", "text", "block_id"}
            check_text_object(block["text"], limit=150, plain_only=True)
        elif kind == "section":
            assert set(block) <= {"type", "text", "fields", "block_id", "accessory"}
            assert "text" in block or "fields" in block
            if "text" in block:
                check_text_object(block["text"], limit=3000)
            fields = block.get("fields", [])
            assert len(fields) <= 10
            for field in fields:
                check_text_object(field, limit=2000)
        elif kind == "context":
            assert set(block) <= {"type", "elements", "block_id"}
            assert 1 <= len(block["elements"]) <= 10
            for element in block["elements"]:
                check_text_object(element, limit=3000)


def check_adaptive_element(element: Any) -> None:
    kind = element["type"]
    if kind == "TextBlock":
        assert set(element) <= {
            "type",
            "text",
            "wrap",
            "size",
            "weight",
            "fontType",
            "color",
            "isSubtle",
        }
        assert isinstance(element["text"], str)
        assert element.get("size", "default").lower() in {
            "default",
            "small",
            "medium",
            "large",
            "extralarge",
        }
        assert element.get("weight", "default").lower() in {"default", "lighter", "bolder"}
        assert element.get("fontType", "default").lower() in {"default", "monospace"}
        assert isinstance(element.get("wrap", False), bool)
    elif kind == "FactSet":
        assert set(element) <= {"type", "facts"}
        for fact in element["facts"]:
            assert set(fact) == {"title", "value"}
            assert all(isinstance(v, str) for v in fact.values())
    else:
        raise AssertionError(f"an element this check does not know: {kind}")


def check_teams_message(body: Any) -> None:
    """A Teams message carrying one Adaptive Card (version 1.0–1.5)."""
    assert set(body) == {"type", "attachments"}
    assert body["type"] == "message"
    (attachment,) = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment.get("contentUrl") is None or isinstance(attachment["contentUrl"], str)
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    assert card.get("$schema", "http://adaptivecards.io/schemas/adaptive-card.json").startswith(
        "http://adaptivecards.io/schemas/"
    )
    assert card["version"] in {"1.0", "1.1", "1.2", "1.3", "1.4", "1.5"}
    assert card["body"]
    for element in card["body"]:
        check_adaptive_element(element)


@pytest.mark.parametrize("which", [2, 5])
def test_the_slack_body_is_a_block_kit_message(which: int) -> None:
    body = render("slack", which)
    check_slack_message(body)
    text = str(body)
    assert "web" in text
    assert "rollout " in text


def test_a_pause_says_what_the_person_is_waited_for() -> None:
    body = render("webhook", 2)
    assert body["trigger"] == "Paused"
    assert body["message"] == "waiting for `rollout promote` at a pause step"
    assert body["command"] == "rollout promote web -n shop"


def test_slack_text_is_escaped() -> None:
    spec = SPEC.model_copy(update={"canary_revision": "web-00002"})
    odd = entry(9, "AnalysisFailed", Phase.PAUSED, 1, "p99 <b> & 0.9 > 0.5")
    body = notify.render(policyspec.Sink.SLACK, odd, spec, status(), name="r", namespace="default")
    check_slack_message(body)
    assert "p99 &lt;b&gt; &amp; 0.9 &gt; 0.5" in body["blocks"][1]["text"]["text"]


@pytest.mark.parametrize("which", [2, 5])
def test_the_teams_body_is_an_adaptive_card_message(which: int) -> None:
    body = render("teams", which)
    check_teams_message(body)
    texts = [e.get("text", "") for e in body["attachments"][0]["content"]["body"]]
    assert any("rollout " in t for t in texts)


def test_the_checks_catch_what_they_check() -> None:
    """The schema checks are not vacuous: a malformed body fails them."""
    bad = render("slack")
    bad["blocks"][0]["text"]["type"] = "mrkdwn"
    with pytest.raises(AssertionError):
        check_slack_message(bad)
    bad_card = render("teams")
    bad_card["attachments"][0]["content"]["version"] = "2.0"
    with pytest.raises(AssertionError):
        check_teams_message(bad_card)


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"secretRef": {"env": "K"}, "sink": "slack", "name": "s"}, "not supported for slack"),
        ({"triggers": []}, "at least 1"),
        ({"triggers": ["Paused", "Paused"]}, "listed twice"),
        ({"urlFrom": None}, "valid dictionary"),
    ],
)
def test_bad_notifications_are_refused(fields: dict[str, Any], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        notification(**fields)


def test_a_release_never_tracked_is_never_told_about() -> None:
    """A controller started with a default list must not send every finished release's
    past: only releases it watched while they ran get messages."""
    n = notification()
    untracked = status()
    assert notify.due([n], SPEC, untracked, name="r", namespace="d") == []
    assert notify.next_due([n], untracked, datetime(2025, 1, 1, tzinfo=UTC)) is None


def test_tracking_starts_after_the_history_so_far() -> None:
    n = notification(triggers=["Paused", "RolledBack", "Step"])
    (entry_,) = notify.track([], [n], HISTORY[:3])
    assert (entry_.name, entry_.delivered, entry_.sent) == ("webhook", 3, [])
    later = status(notifications=[entry_])
    assert due(n, later) == ["6|RolledBack"]
    assert notify.track([entry_], [n], HISTORY) == [entry_]  # never reset
