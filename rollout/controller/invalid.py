"""Stored objects that do not decode (`port.InvalidObject`): what the controller says
on them, once per generation.

A stored object our model refuses — applied with kubectl past what the CRD schema
checks (a Route whose percents sum to 140), written by another version, edited by
hand — is listed apart by every store and never stops the others of its kind from
being reconciled. The controller meets it as the reconcile of its own key failing
with `errors.Undecodable` (the store or the read cache raised it when the reconciler
read the object): instead of a retry with backoff, `record` says so on the object,
and the key waits for the object's next change:

- `Ready=False, reason=InvalidSpec`, with the message `rollout validate` would give
  (`FIELD.PATH: message; …`) and the object's generation, in its status — the rest
  of its status is kept as stored;
- a Warning Event, reason `InvalidSpec`, with the same message.

Once per generation, not in a loop: `ready_wanted` (pure) compares the Ready
condition stored with the one wanted, so the write's own watch event, a relist or a
restart finds it done and writes nothing; the Event goes with the write. A kind
without a status (RolloutPolicy) has nowhere to keep that: its Event is sent once per
generation per controller run (`Seen`, in memory), and the Services that name it say
on themselves that it is invalid (their reconcile fails reading it). The gauge
`rollout_invalid_objects{kind}` counts the objects invalid now (`Seen`).

When the object is fixed its reconciler runs again and sets Ready its own way; an
`InvalidSpec` condition left over (a Release has no Ready of its own) is dropped by
its next status write (`rollout.reconcilers.base.without_error`).

Called by `rollout.controller.manager`; writes through the Store port
(`update_invalid_status`) and the platform's event recorder.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import pydantic
import structlog

from rollout.api import condition, kinds
from rollout.platforms import ports
from rollout.reconcilers import base
from rollout.store import errors, port

__all__ = ["MAX_MESSAGE", "Seen", "ready_wanted", "record", "with_ready"]

log = structlog.get_logger(__name__)

MAX_MESSAGE = 2000  # characters of the message kept in the condition and the Event


def ready_wanted(obj: port.InvalidObject, now: datetime) -> condition.Condition | None:
    """The Ready condition `obj` should carry, or None when it carries it already."""
    old = _stored_ready(obj.status)
    wanted = condition.invalid_spec(old, _message(obj), now=now, generation=obj.metadata.generation)
    return None if old == wanted else wanted


def with_ready(status: Mapping[str, Any], ready: condition.Condition) -> dict[str, Any]:
    """The stored status (JSON) with `ready` in place of its Ready condition."""
    raw = status.get("conditions")
    conditions = list(raw) if isinstance(raw, list) else []
    new = ready.model_dump(mode="json", by_alias=True, exclude_none=True)
    at = next((i for i, c in enumerate(conditions) if _is_ready(c)), None)
    if at is None:
        conditions.append(new)
    else:
        conditions[at] = new
    return {**status, "conditions": conditions}


def _stored_ready(status: Mapping[str, Any]) -> condition.Condition | None:
    raw = status.get("conditions")
    for each in raw if isinstance(raw, list) else []:
        if _is_ready(each):
            try:
                return condition.Condition.model_validate(each)
            except pydantic.ValidationError:
                return None
    return None


def _is_ready(raw: object) -> bool:
    return isinstance(raw, Mapping) and raw.get("type") == condition.ConditionType.READY


def _message(obj: port.InvalidObject) -> str:
    text = obj.message
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


class Seen:
    """The keys the controller found invalid, with their generation; the gauge of them
    by kind. Thread-safe (workers share it)."""

    def __init__(self, gauge: Callable[[str, int], None]) -> None:
        self._gauge = gauge
        self._keys: dict[base.Key, int | None] = {}
        self._lock = threading.Lock()

    def add(self, key: base.Key, generation: int | None) -> bool:
        """Remember `key` invalid at `generation`; False when it already was."""
        with self._lock:
            if key in self._keys and self._keys[key] == generation:
                return False
            self._keys[key] = generation
            count = sum(1 for k in self._keys if k.kind == key.kind)
        self._gauge(key.kind, count)
        return True

    def discard(self, key: base.Key) -> None:
        """`key` decodes (or is gone)."""
        if key not in self._keys:  # most keys, on every reconcile: no lock to look
            return
        with self._lock:
            if key not in self._keys:
                return
            del self._keys[key]
            count = sum(1 for k in self._keys if k.kind == key.kind)
        self._gauge(key.kind, count)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._keys


def record(ctx: base.Context, seen: Seen, key: base.Key, obj: port.InvalidObject) -> None:
    """Say on `obj` (the object of `key`) that it is invalid, once per generation: the
    Ready condition, then the Event (raises what the store raises: the controller
    retries)."""
    new = seen.add(key, obj.metadata.generation)
    has_status = kinds.KINDS[key.kind].has_status
    if has_status:
        ready = ready_wanted(obj, ctx.clock.now())
        if ready is None:
            return
        try:
            ctx.store.update_invalid_status(obj, with_ready(obj.status, ready))
        except errors.NotFound:
            return  # deleted meanwhile: its deletion queues it again
    elif not new:
        return
    ctx.platform.events.record(
        ports.RecordedEvent(
            kind=key.kind,
            namespace=key.namespace,
            name=key.name,
            reason=condition.INVALID_SPEC,
            message=_message(obj),
            warning=True,
            at=ctx.clock.now(),
            uid=obj.metadata.uid,
        )
    )
    log.warning(
        "invalid object",
        kind=key.kind,
        namespace=key.namespace,
        name=key.name,
        generation=obj.metadata.generation,
        error=obj.message,
    )
