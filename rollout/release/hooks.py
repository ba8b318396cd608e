"""A policy's webhooks inside the engine: which calls are due, and what answers mean.

Flagger's eight types (`rollout.api.hookspec`), each with its moment and its effect.
A call is made for a `basis` — what it asks about — and its answer counts for that
basis only (a 2xx for step 2 never opens step 3):

- `confirm-rollout` (basis `rollout`): asked while Pending, and while Paused waiting for
  it (no traffic moved yet); `start` needs its 2xx.
- `pre-rollout` (`pre-rollout`): asked while Pending once the canary is ready and
  confirm-rollout said yes; `start` needs its 2xx; more than `failureLimit` non-2xx
  answers → RolledBack with 0% ever sent to the canary.
- `confirm-traffic-increase` (`step N`): asked while Paused waiting at a step whose end
  raises the canary's weight; the increase waits for its 2xx.
- `confirm-promotion` (`step N`): the same at the last step; the promotion waits.
- `rollout` (`step N`): called every interval while Progressing at an analysis step; a
  check like a metric's reading: more than `failureLimit` non-2xx in the step fail the
  analysis, and the step ends only after a 2xx in it, with the latest answer a 2xx.
- `rollback` (`running`): polled every interval while Progressing or Paused; a 2xx
  rolls back.
- `post-rollout` (`outcome`): once the release ended; delivered once, no effect.
- `event` (`event N`): each history entry (its `seq`), in order; delivered once each.

A gate or check that has not said yes is asked again every interval (the analysis
interval; `INTERVAL` without analysis); a call in flight is not due again (its answer
wakes the release). A notification that failed after its retries is given up on (an
event says so): it never holds up the next one or the release.

- `due(...)`: the calls to make now, with their payloads; `next_due(...)`: when the
  next one falls due (for the requeue);
- `fold(policy, status, answers, now)`: the webhook statuses with the answers in, and
  the events to record — one when a hook's answer changes, not one per call (the
  answers' events are not history entries, so an `event` hook is never sent its own
  calls);
- the predicates the table's conditions read (`confirmed`, `pre_rollout_failed`,
  `checks_failed`, `checks_passed`, `rollback_requested`), `waiting_gate` (which gate
  a release Paused for confirmation waits on) and `override` (`promote --force`).

The payload: `name` and `type` of the hook, `namespace`, `service`, `release`,
`phase`, `stepIndex`, `weights`, `stableRevision`, `canaryRevision`, `reason`,
`message`, the hook's `metadata`, and `timestamp` (the event's time for `event`
hooks, the decision's otherwise).

Pure; `now` is passed in. Read by `conditions`, `effects`, `schedule` and `engine`;
`due` by the release reconciler.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from rollout.api import policyspec
from rollout.api.hookspec import WebhookType
from rollout.api.release import (
    TERMINAL_PHASES,
    HistoryEntry,
    PauseReason,
    Phase,
    ReleaseSpec,
    ReleaseStatus,
    WebhookStatus,
)
from rollout.release import actions, observation

__all__ = [
    "INTERVAL",
    "Call",
    "checks_failed",
    "checks_passed",
    "confirmed",
    "due",
    "fold",
    "next_due",
    "override",
    "pre_rollout_failed",
    "reset_step",
    "rollback_requested",
    "waiting_gate",
]

T = WebhookType
INTERVAL = timedelta(seconds=15)  # between calls of a gate or check, without analysis


@dataclasses.dataclass(frozen=True)
class Call:
    """One call due now: the hook, what it asks about, and the body to send."""

    hook: policyspec.Webhook
    basis: str
    payload: dict[str, Any]


# --- what the statuses say -------------------------------------------------------------


def interval(policy: policyspec.RolloutPolicySpec) -> timedelta:
    return policy.analysis.interval if policy.analysis is not None else INTERVAL


def failure_limit(policy: policyspec.RolloutPolicySpec) -> int:
    return policy.analysis.failure_limit if policy.analysis is not None else 1


def _entry(status: ReleaseStatus, name: str) -> WebhookStatus | None:
    return next((w for w in status.webhooks if w.name == name), None)


def _of(policy: policyspec.RolloutPolicySpec, kind: WebhookType) -> list[policyspec.Webhook]:
    return [h for h in policy.webhooks if h.type is kind]


def _step_basis(status: ReleaseStatus) -> str:
    return f"step {status.step_index}"


def basis_of(kind: WebhookType, status: ReleaseStatus) -> str:
    """What a call of `kind` asks about for a release in `status`."""
    if kind is T.CONFIRM_ROLLOUT:
        return "rollout"
    if kind is T.PRE_ROLLOUT:
        return "pre-rollout"
    if kind is T.ROLLBACK:
        return "running"
    if kind is T.POST_ROLLOUT:
        return "outcome"
    return _step_basis(status)


def gate_at(policy: policyspec.RolloutPolicySpec, status: ReleaseStatus) -> WebhookType:
    """The gate before the next traffic shift of a release in `status`."""
    if status.weights is None:
        return T.CONFIRM_ROLLOUT
    if status.step_index >= len(policy.expanded_steps()) - 1:
        return T.CONFIRM_PROMOTION
    return T.CONFIRM_TRAFFIC_INCREASE


def waiting_gate(policy: policyspec.RolloutPolicySpec, status: ReleaseStatus) -> WebhookType | None:
    """The gate a release paused for confirmation waits on; None when it does not.
    (By the pause reason alone: within a decision the phase is the machine's.)"""
    if status.pause_reason is not PauseReason.CONFIRMATION:
        return None
    return gate_at(policy, status)


def confirmed(
    policy: policyspec.RolloutPolicySpec, status: ReleaseStatus, kind: WebhookType
) -> bool:
    """Every hook of gate `kind` said yes for what the release is at (True: none)."""
    want = basis_of(kind, status)
    return all(_yes(_entry(status, h.name), want) for h in _of(policy, kind))


def _yes(entry: WebhookStatus | None, basis: str) -> bool:
    return entry is not None and entry.basis == basis and entry.passed


def pending_gates(
    policy: policyspec.RolloutPolicySpec, status: ReleaseStatus, kind: WebhookType
) -> list[WebhookStatus | policyspec.Webhook]:
    """The hooks of gate `kind` that have not said yes: their status when they answered
    for this basis, else the hook (not asked yet)."""
    want = basis_of(kind, status)
    found: list[WebhookStatus | policyspec.Webhook] = []
    for hook in _of(policy, kind):
        entry = _entry(status, hook.name)
        if not _yes(entry, want):
            found.append(entry if entry is not None and entry.basis == want else hook)
    return found


def _over_limit(
    policy: policyspec.RolloutPolicySpec, status: ReleaseStatus, kind: WebhookType
) -> list[str]:
    want, limit = basis_of(kind, status), failure_limit(policy)
    found = []
    for hook in _of(policy, kind):
        entry = _entry(status, hook.name)
        if entry is not None and entry.basis == want and entry.failures > limit:
            found.append(
                f"{kind.value} webhook {hook.name}: {entry.failures} failed calls"
                f" (failureLimit {limit}; last: {entry.error or 'not a 2xx'})"
            )
    return found


def pre_rollout_failed(policy: policyspec.RolloutPolicySpec, status: ReleaseStatus) -> list[str]:
    """The pre-rollout hooks that failed more than `failureLimit` times."""
    return _over_limit(policy, status, T.PRE_ROLLOUT)


def checks_failed(policy: policyspec.RolloutPolicySpec, status: ReleaseStatus) -> list[str]:
    """The rollout hooks that failed more than `failureLimit` times in this step."""
    return _over_limit(policy, status, T.ROLLOUT)


def checks_passed(
    policy: policyspec.RolloutPolicySpec, status: ReleaseStatus, step: policyspec.Step | None
) -> bool:
    """The evidence of the rollout hooks for ending this step: at an analysis step,
    each answered 2xx in it and its latest answer is a 2xx (True elsewhere)."""
    if step is None or step.analysis is None:
        return True
    want = _step_basis(status)
    for hook in _of(policy, T.ROLLOUT):
        entry = _entry(status, hook.name)
        if entry is None or entry.basis != want or not entry.passes or not entry.passed:
            return False
    return True


def rollback_requested(policy: policyspec.RolloutPolicySpec, status: ReleaseStatus) -> str | None:
    """The name of a rollback hook that answered 2xx while the release ran."""
    for hook in _of(policy, T.ROLLBACK):
        if _yes(_entry(status, hook.name), "running"):
            return hook.name
    return None


# --- when calls are due ----------------------------------------------------------------


def _wanted(
    spec: ReleaseSpec, status: ReleaseStatus, *, canary_ready: bool
) -> list[tuple[policyspec.Webhook, str]]:
    """The hooks to call for a release in `status`, with their basis: gates and
    pre-rollout until they said yes, rollout and rollback hooks always (every
    interval), notifications until delivered."""
    policy, phase = spec.policy, status.phase
    found: list[tuple[policyspec.Webhook, str]] = []
    waiting = waiting_gate(policy, status) if phase is Phase.PAUSED else None
    for hook in policy.webhooks:
        kind = hook.type
        basis = basis_of(kind, status)
        if kind is T.CONFIRM_ROLLOUT:
            asks = phase is Phase.PENDING or waiting is T.CONFIRM_ROLLOUT
            if asks and not _yes(_entry(status, hook.name), basis):
                found.append((hook, basis))
        elif kind is T.PRE_ROLLOUT:
            asks = phase is Phase.PENDING and canary_ready
            if (
                asks
                and confirmed(policy, status, T.CONFIRM_ROLLOUT)
                and not _yes(_entry(status, hook.name), basis)
            ):
                found.append((hook, basis))
        elif kind in (T.CONFIRM_TRAFFIC_INCREASE, T.CONFIRM_PROMOTION):
            if waiting is kind and not _yes(_entry(status, hook.name), basis):
                found.append((hook, basis))
        elif kind is T.ROLLOUT:
            step = _step(policy, status)
            if phase is Phase.PROGRESSING and step is not None and step.analysis is not None:
                found.append((hook, basis))
        elif kind is T.ROLLBACK:
            if phase in (Phase.PROGRESSING, Phase.PAUSED):
                found.append((hook, basis))
        elif kind is T.POST_ROLLOUT:
            entry = _entry(status, hook.name)
            if phase in TERMINAL_PHASES and (entry is None or not entry.delivered):
                found.append((hook, basis))
        elif kind is T.EVENT:
            entry = _entry(status, hook.name)
            upcoming = _next_event(status, entry.delivered if entry else 0)
            if upcoming is not None:
                found.append((hook, f"event {upcoming.seq}"))
    return found


def _step(policy: policyspec.RolloutPolicySpec, status: ReleaseStatus) -> policyspec.Step | None:
    expanded = policy.expanded_steps()
    i = status.step_index
    return expanded[i] if 0 <= i < len(expanded) else None


def _next_event(status: ReleaseStatus, delivered: int) -> HistoryEntry | None:
    return next((h for h in status.history if h.seq > delivered), None)


def _when(
    spec: ReleaseSpec, status: ReleaseStatus, hook: policyspec.Webhook, basis: str
) -> datetime | None:
    """When the call of `hook` for `basis` is due (None: now)."""
    entry = _entry(status, hook.name)
    if entry is None or entry.basis != basis or entry.last_call_at is None:
        return None
    return entry.last_call_at + interval(spec.policy)


def due(
    spec: ReleaseSpec,
    status: ReleaseStatus,
    now: datetime,
    *,
    name: str,
    namespace: str,
    canary_ready: bool,
) -> list[Call]:
    """The calls to make now for release `namespace/name`, with their payloads."""
    calls = []
    for hook, basis in _wanted(spec, status, canary_ready=canary_ready):
        at = _when(spec, status, hook, basis)
        if at is None or at <= now:
            body = payload(
                hook, basis, spec=spec, status=status, now=now, name=name, namespace=namespace
            )
            calls.append(Call(hook, basis, body))
    return calls


def next_due(
    spec: ReleaseSpec,
    status: ReleaseStatus,
    now: datetime,
    *,
    canary_ready: bool,
    in_flight: Iterable[str] = (),
) -> datetime | None:
    """When the next call falls due (the calls in flight wake the release themselves)."""
    busy = set(in_flight)
    times = [
        _when(spec, status, hook, basis) or now
        for hook, basis in _wanted(spec, status, canary_ready=canary_ready)
        if hook.name not in busy
    ]
    return min(times) if times else None


# --- the payload -----------------------------------------------------------------------


_REASONS = {
    T.CONFIRM_ROLLOUT: "WaitingForConfirmation",
    T.CONFIRM_TRAFFIC_INCREASE: "WaitingForConfirmation",
    T.CONFIRM_PROMOTION: "WaitingForConfirmation",
    T.PRE_ROLLOUT: "PreRollout",
    T.ROLLOUT: "Analysis",
    T.ROLLBACK: "RollbackPoll",
}


def payload(
    hook: policyspec.Webhook,
    basis: str,
    *,
    spec: ReleaseSpec,
    status: ReleaseStatus,
    now: datetime,
    name: str,
    namespace: str,
) -> dict[str, Any]:
    """The JSON body of a call of `hook` for `basis` (see the module docstring)."""
    phase, step, weights, at = status.phase, status.step_index, status.weights, now
    message = status.message
    if hook.type is T.EVENT:
        seq = int(basis.removeprefix("event "))
        entry = next(h for h in status.history if h.seq == seq)
        reason, message, at = entry.event, entry.message, entry.at
        phase = entry.phase or phase
        step = entry.step_index if entry.step_index is not None else step
        weights = entry.weights
    elif hook.type is T.POST_ROLLOUT:
        reason = status.phase.value
    else:
        reason = _REASONS[hook.type]
    return {
        "name": hook.name,
        "type": hook.type.value,
        "namespace": namespace,
        "service": spec.service,
        "release": name,
        "phase": phase.value,
        "stepIndex": step,
        "weights": (
            {"stable": weights.stable, "canary": weights.canary} if weights is not None else None
        ),
        "stableRevision": spec.stable_revision,
        "canaryRevision": spec.canary_revision,
        "reason": reason,
        "message": message,
        "metadata": dict(hook.metadata),
        "timestamp": at,
    }


# --- answers ---------------------------------------------------------------------------


def fold(
    policy: policyspec.RolloutPolicySpec,
    status: ReleaseStatus,
    answers: Sequence[observation.HookAnswer],
    now: datetime,
) -> tuple[list[WebhookStatus], list[actions.Event]]:
    """The webhook statuses with `answers` in (in order), and an event per answer
    worth one (not a rollback poll's "no", not an event delivered)."""
    by_name = {h.name: h for h in policy.webhooks}
    statuses = list(status.webhooks)
    events: list[actions.Event] = []
    for answer in answers:
        hook = by_name.get(answer.name)
        if hook is None:
            continue
        index = next((i for i, w in enumerate(statuses) if w.name == hook.name), None)
        old = (
            statuses[index] if index is not None else WebhookStatus(name=hook.name, type=hook.type)
        )
        same = old.basis == answer.basis
        new = old.model_copy(
            update={
                "basis": answer.basis,
                "step_index": status.step_index if answer.basis.startswith("step ") else None,
                "last_call_at": now,
                "http_status": answer.status,
                "error": "" if answer.ok else (answer.error or "not a 2xx"),
                "attempts": answer.attempts,
                "passed": answer.ok,
                "calls": old.calls + 1,
                "passes": (old.passes if same else 0) + answer.ok,
                "failures": (old.failures if same else 0) + (not answer.ok),
                "delivered": _delivered(hook, answer, old.delivered),
            }
        )
        if index is None:
            statuses.append(new)
        else:
            statuses[index] = new
        # An event when the answer changes (a gate asked every interval that keeps
        # saying no is one event, not one a quarter-minute).
        changed = (
            not same
            or old.calls == 0
            or (old.passed, old.http_status, old.error)
            != (
                new.passed,
                new.http_status,
                new.error,
            )
        )
        event = _event(hook, answer) if changed else None
        if event is not None:
            events.append(event)
    return statuses, events


def _delivered(hook: policyspec.Webhook, answer: observation.HookAnswer, before: int) -> int:
    if hook.type is T.EVENT:
        return max(before, int(answer.basis.removeprefix("event ")))
    if hook.type is T.POST_ROLLOUT:
        return 1
    return before


def _event(hook: policyspec.Webhook, answer: observation.HookAnswer) -> actions.Event | None:
    what = f"{hook.type.value} webhook {hook.name} ({answer.basis})"
    if answer.ok:
        if hook.type is T.EVENT:
            return None
        return actions.Event("WebhookPassed", f"{what}: HTTP {answer.status}")
    if hook.type is T.ROLLBACK:
        return None  # "no rollback" is what a poll answers all day
    if hook.gate:
        return actions.Event("WebhookDenied", f"{what}: {answer.error or 'not a 2xx'}")
    return actions.Event("WebhookFailed", f"{what}: {answer.error or 'not a 2xx'}", warning=True)


def reset_step(statuses: Sequence[WebhookStatus], index: int) -> list[WebhookStatus]:
    """Statuses for step `index` started afresh: no answer for it counts any more."""
    basis = f"step {index}"
    return [
        w.model_copy(update={"basis": "", "passed": False, "passes": 0, "failures": 0})
        if w.basis == basis
        else w
        for w in statuses
    ]


def override(
    policy: policyspec.RolloutPolicySpec, status: ReleaseStatus, by: str | None
) -> list[WebhookStatus]:
    """Statuses with the gate the release waits on taken as passed (`promote --force`)."""
    kind = waiting_gate(policy, status)
    if kind is None:
        return list(status.webhooks)
    basis = basis_of(kind, status)
    statuses = [w for w in status.webhooks if w.type != kind.value]
    for hook in _of(policy, kind):
        old = _entry(status, hook.name) or WebhookStatus(name=hook.name, type=hook.type)
        statuses.append(
            old.model_copy(
                update={
                    "basis": basis,
                    "step_index": status.step_index if basis.startswith("step ") else None,
                    "passed": True,
                    "error": f"overridden by {by or 'a user'} (promote --force)",
                }
            )
        )
    return statuses


def describe_wait(policy: policyspec.RolloutPolicySpec, status: ReleaseStatus) -> str | None:
    """`waiting for confirm-promotion (last: HTTP 403: denied from https://gate.example/…)`,
    or None when the release waits on no gate."""
    kind = waiting_gate(policy, status)
    if kind is None:
        return None
    hooks = {h.name: h for h in policy.webhooks}
    lasts = []
    for item in pending_gates(policy, status, kind):
        if isinstance(item, WebhookStatus):
            answer = item.error or (f"HTTP {item.http_status}" if item.http_status else "no")
            lasts.append(f"{answer} from {where(hooks[item.name].url)}")
    text = f"waiting for {kind.value}"
    return f"{text} (last: {'; '.join(lasts)})" if lasts else f"{text} (not answered yet)"


def where(url: str) -> str:
    """A webhook's address as shown to people: scheme and host only (`https://host/…`);
    its path and query may be a credential (a Slack incoming-webhook URL is one)."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1].split("?", 1)[0]
    return f"{scheme}://{host}/…"
