"""A policy's webhooks: gates a release waits on, checks it counts, hooks it notifies.

Flagger's eight types, under Flagger's names so people moving over recognise them:

| type | when | effect |
|---|---|---|
| `confirm-rollout` | before the first traffic shift | waits until a 2xx |
| `pre-rollout` | once, before the first shift | a non-2xx is a failed check |
| `rollout` | every analysis interval while a step analyses | a non-2xx is a failed check |
| `confirm-traffic-increase` | before each weight increase | waits until a 2xx |
| `confirm-promotion` | before the last shift to 100% | waits until a 2xx |
| `post-rollout` | after the release ends | notification only |
| `rollback` | polled while Progressing/Paused | a 2xx rolls back |
| `event` | every Event the release emits | notification only |

A webhook is POSTed a JSON payload (the release, its phase, step, weights, revisions,
the reason, the hook's `metadata`), signed with `X-Rollout-Signature: sha256=<HMAC>`
when it has a `secretRef`: a key read when the call is made (`env`, `file`, or a
Kubernetes Secret's key) — never written in the policy. `timeout` bounds each attempt
(at most 60s), `retries` (at most 10) the attempts after the first.

Pure data and rules; no I/O. Re-exported by `policyspec`.
"""

from __future__ import annotations

import enum
import re
from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator, Field, Strict, WithJsonSchema
from pydantic_core import PydanticCustomError

from rollout.api import base, durations, endpoints

__all__ = [
    "CHECKS",
    "GATES",
    "MAX_METADATA",
    "MAX_RETRIES",
    "MAX_TIMEOUT",
    "NOTIFICATIONS",
    "Webhook",
    "WebhookType",
]

MAX_TIMEOUT = timedelta(seconds=60)
MAX_RETRIES = 10
MAX_METADATA = 32  # entries
MAX_METADATA_VALUE = 1024  # bytes
_METADATA_KEY = re.compile(r"[A-Za-z0-9]([-._A-Za-z0-9]{0,61}[A-Za-z0-9])?")


class WebhookType(enum.StrEnum):
    CONFIRM_ROLLOUT = "confirm-rollout"
    PRE_ROLLOUT = "pre-rollout"
    ROLLOUT = "rollout"
    CONFIRM_TRAFFIC_INCREASE = "confirm-traffic-increase"
    CONFIRM_PROMOTION = "confirm-promotion"
    POST_ROLLOUT = "post-rollout"
    ROLLBACK = "rollback"
    EVENT = "event"


T = WebhookType
GATES = frozenset({T.CONFIRM_ROLLOUT, T.CONFIRM_TRAFFIC_INCREASE, T.CONFIRM_PROMOTION})
CHECKS = frozenset({T.PRE_ROLLOUT, T.ROLLOUT})
NOTIFICATIONS = frozenset({T.POST_ROLLOUT, T.EVENT})


def _check_timeout(value: timedelta) -> timedelta:
    if value > MAX_TIMEOUT:
        raise PydanticCustomError("too_big", "must be at most 60s (each attempt)")
    return value


def _check_retries(value: int) -> int:
    if not 0 <= value <= MAX_RETRIES:
        raise PydanticCustomError("range", "must be from 0 to {high}", {"high": MAX_RETRIES})
    return value


def _check_metadata(value: dict[str, str]) -> dict[str, str]:
    if len(value) > MAX_METADATA:
        raise PydanticCustomError(
            "too_big", "at most {n} entries (got {got})", {"n": MAX_METADATA, "got": len(value)}
        )
    for key in value:
        if not _METADATA_KEY.fullmatch(key):
            raise PydanticCustomError(
                "metadata_key",
                "key {key}: letters, digits, '-', '_' and '.', at most 63, starting and"
                " ending with a letter or digit",
                {"key": repr(key[:80])},
            )
    return value


HookTimeout = Annotated[durations.PositiveDuration, AfterValidator(_check_timeout)]
Retries = Annotated[
    int,
    Strict(),
    AfterValidator(_check_retries),
    WithJsonSchema({"type": "integer", "format": "int32", "minimum": 0, "maximum": MAX_RETRIES}),
]
MetadataValue = Annotated[str, base.checked_text(base.NUL, max_bytes=MAX_METADATA_VALUE)]


class Webhook(base.ApiModel):
    name: base.Name
    """The webhook's name, unique in the policy."""
    type: WebhookType
    """When it is called and what its answer does: confirm-rollout, pre-rollout, rollout, confirm-
    traffic-increase, confirm-promotion, post-rollout, rollback or event."""
    url: endpoints.HttpUrl
    """The URL POSTed to."""
    timeout: HookTimeout = timedelta(seconds=10)
    """How long each attempt may take (at most 60s)."""
    retries: Retries = 2
    """Attempts after the first (at most 10)."""
    metadata: Annotated[dict[str, MetadataValue], AfterValidator(_check_metadata)] = Field(
        default_factory=dict
    )
    """Entries added to the payload."""
    secret_ref: endpoints.ValueFrom | None = None  # the HMAC key; read when calling
    """Where the HMAC key that signs the payload (X-Rollout-Signature) is read from when calling."""

    @property
    def gate(self) -> bool:
        return self.type in GATES
