"""Notifications: telling people when a release needs them, failed, or is done.

A policy (or the controller, for every policy without its own: `rollout controller
--notifications FILE`) lists `notifications`, each a sink:

- `webhook`: the webhook payload (`rollout.release.hooks`) plus `trigger`, POSTed as
  JSON, signed with `secretRef` like a webhook;
- `slack`: a Slack incoming-webhook message (`text` and `blocks`);
- `teams`: a Microsoft Teams message carrying an Adaptive Card (what Teams'
  workflow webhooks take).

`urlFrom` says where the sink's URL is read when a message is sent — an environment
variable, a file, or a Kubernetes Secret's key — never the policy text: a Slack or
Teams webhook URL is itself a credential. `triggers` lists when to send (default: every one
but `Step`): `Paused` (a human is needed; once per step it pauses at), `RolledBack`,
`Aborted`, `Failed`, `Succeeded`, and `Step` (every step started).

Pure data and rules; no I/O. Re-exported by `policyspec`.
"""

from __future__ import annotations

import enum
from datetime import timedelta
from typing import Annotated

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from rollout.api import base, endpoints, hookspec

__all__ = ["DEFAULT_TRIGGERS", "Notification", "NotificationTrigger", "Notifications", "Sink"]


class Sink(enum.StrEnum):
    WEBHOOK = "webhook"
    SLACK = "slack"
    TEAMS = "teams"


class NotificationTrigger(enum.StrEnum):
    PAUSED = "Paused"
    ROLLED_BACK = "RolledBack"
    ABORTED = "Aborted"
    FAILED = "Failed"
    SUCCEEDED = "Succeeded"
    STEP = "Step"


DEFAULT_TRIGGERS = (
    NotificationTrigger.PAUSED,
    NotificationTrigger.ROLLED_BACK,
    NotificationTrigger.ABORTED,
    NotificationTrigger.FAILED,
    NotificationTrigger.SUCCEEDED,
)


class Notification(base.ApiModel):
    name: base.Name
    """The notification's name, unique in the policy."""
    sink: Sink
    """The kind of receiver: webhook, slack or teams."""
    url_from: endpoints.ValueFrom  # the sink's URL, read when sending; never in the policy
    """Where the sink's URL is read from when sending: env, file or secretKeyRef."""
    # Not `on`: YAML 1.1 (PyYAML, kubectl) reads an `on:` key as the boolean true.
    triggers: Annotated[list[NotificationTrigger], Field(min_length=1, max_length=16)] = Field(
        default_factory=lambda: list(DEFAULT_TRIGGERS)
    )
    """What is sent: Paused, RolledBack, Aborted, Failed, Succeeded, Step."""
    timeout: hookspec.HookTimeout = timedelta(seconds=10)
    """How long each attempt may take (at most 60s)."""
    retries: hookspec.Retries = 2
    """Attempts after the first (at most 10)."""
    secret_ref: endpoints.ValueFrom | None = None  # `webhook` sinks: the HMAC key
    """webhook sinks: where the HMAC key that signs the payload is read from."""

    @model_validator(mode="after")
    def _rules(self) -> Notification:
        if self.secret_ref is not None and self.sink is not Sink.WEBHOOK:
            raise PydanticCustomError(
                "not_supported",
                "secretRef: not supported for {sink} sinks (they check no signature;"
                " their URL is the credential)",
                {"sink": self.sink.value},
            )
        if len(set(self.triggers)) != len(self.triggers):
            raise PydanticCustomError("duplicate", "triggers: one is listed twice")
        return self


class Notifications(base.ApiModel):
    """The controller's default notifications (`rollout controller --notifications
    FILE`): `notifications: [...]`, for every release whose policy lists none."""

    notifications: list[Notification]

    @model_validator(mode="after")
    def _unique(self) -> Notifications:
        names = [n.name for n in self.notifications]
        if len(set(names)) != len(names):
            raise PydanticCustomError("duplicate", "notification names must be unique")
        return self
