"""What the release engine sees: a frozen snapshot gathered before it decides.

The release reconciler (or the simulator) builds an `Observation` from the platform —
revision readiness, the weights and request rules the router reports as applied, new
metric readings,
the answers of the webhooks called for it (`HookAnswer`), whether a newer revision
supersedes the release — and the time. Conditions of the state machine read only this
and the status.

Pure data.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from rollout.analysis import measurement
from rollout.api import policyspec, route
from rollout.api.release import Weights

__all__ = ["HookAnswer", "Observation"]


@dataclasses.dataclass(frozen=True)
class HookAnswer:
    """What one webhook call came to: `ok` is a 2xx; `status` and `error` (one printable
    line, never the URL or the secret) of its last attempt. `basis` is what the call was
    asked for (`rollout.release.hooks`): an answer counts only for that."""

    name: str
    basis: str
    ok: bool
    status: int | None = None
    error: str | None = None
    attempts: int = 1


@dataclasses.dataclass(frozen=True)
class Observation:
    now: datetime
    canary_ready: bool = False
    canary_failure: str | None = None  # e.g. "crash loop: 5 restarts"; None when healthy
    applied: Weights | None = None  # what the traffic router reports it applied
    # The request rules (header routes, mirrors, sticky session) the Route reads back
    # from its data plane (`RouteStatus`): with `applied`, what a step waits for.
    applied_rules: route.Rules = dataclasses.field(default_factory=route.Rules)
    # Which attempt of its canary this release is (1, or more after `retry` of a finished
    # one): the sticky session's cookie names it (`names.sticky_value`).
    attempt: int = 1
    # Why the Route's split is not in effect, when its router says (the Route's Ready
    # reason and message, e.g. "RouteNotAccepted: gateway default/public did not …").
    route_problem: str | None = None
    readings: tuple[measurement.Measurement, ...] = ()
    superseded_by: str | None = None  # the newer revision, when there is one
    # The caller decides again on every change of the canary's readiness (the
    # controller's wiring does), so waiting for it needs no poll.
    readiness_wakes: bool = False
    # Metrics whose reading was asked for and is still being taken: not due again now
    # (the caller decides again when the reading arrives or its deadline passes).
    in_flight: frozenset[str] = frozenset()
    # Webhook answers that arrived since the last decision, and the hooks whose call is
    # still being made (not due again now; the caller is woken when it ends).
    hooks: tuple[HookAnswer, ...] = ()
    hooks_in_flight: frozenset[str] = frozenset()
    # The notifications in force (the policy's, else the controller's default), the
    # answers of messages sent since the last decision, and those still being sent.
    notifications: tuple[policyspec.Notification, ...] = ()
    notices: tuple[HookAnswer, ...] = ()
    notices_in_flight: frozenset[str] = frozenset()
