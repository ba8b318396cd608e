"""Injected API faults: what `emu.faults` configures and the seeded decision per request.

`Faults` is the mutable knob set tests change at any time:

- `conflict_rate` — share of `update`/`patch` requests answered `409 Conflict`
  (a Status with reason `Conflict`, as for a stale resourceVersion);
- `error_rate` — share of requests answered `500 InternalError`;
- `timeout_rate` — share of requests held `timeout_s` (+0.25 s) and then dropped
  without an answer (the client sees its read timeout, or a closed connection);
- `throttle_rate` — share of requests answered `429 TooManyRequests`, as the
  apiserver's max-in-flight limit or API Priority and Fairness answer: the Status
  message "Too many requests, please try again later.", `details.retryAfterSeconds`
  and a `Retry-After` header of `retry_after_s` (whole seconds, default 1);
- `unavailable_rate` — share of requests answered `503 ServiceUnavailable` (no
  Retry-After);
- `drop_watch_after_s` — watch streams are cut (connection closed, no final chunk)
  this many seconds after they start; `None` never;
- `seed` — the random sequence; changing it (or assigning a new `Faults` to
  `emu.faults`) restarts the sequence;
- `user_agent_contains` — faults apply only to requests whose `User-Agent` contains it
  (`""`: all).

A request gets at most one fault: one uniform draw `u` per eligible request against
consecutive bands of the unit interval, in this order: timeout (`timeout_rate`
wide), error, conflict (update/patch only: another verb drawing in its band gets no
fault), throttle, unavailable.
The decision is made before the handler runs, so a faulted write changes nothing.
Faults apply to resource requests only — not to discovery, `/version` or
`/openapi`, and never to the emulator's helper methods (`get_object`, `set_status`).
Given the seed and the same sequence of requests, the same requests fail.

Called by `api.py` (decide) and `server.py` (watch drops). No I/O.
"""

from __future__ import annotations

import enum
import random
import threading
from dataclasses import dataclass

__all__ = ["Fault", "FaultInjector", "Faults"]

CONFLICT_VERBS = frozenset({"update", "patch"})


@dataclass
class Faults:
    """Fault rates and settings (mutable: tests change them between requests)."""

    conflict_rate: float = 0.0
    error_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_s: float = 1.0
    throttle_rate: float = 0.0
    retry_after_s: int = 1
    unavailable_rate: float = 0.0
    drop_watch_after_s: float | None = None
    seed: int = 0
    user_agent_contains: str = ""


class Fault(enum.StrEnum):
    """What happens to one request."""

    NONE = "none"
    CONFLICT = "conflict"
    ERROR = "error"
    TIMEOUT = "timeout"
    THROTTLE = "throttle"
    UNAVAILABLE = "unavailable"


class FaultInjector:
    """Draws the fault of each eligible request from a generator seeded by `faults.seed`."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._lock = threading.Lock()
        self._seed: int | None = None
        self._rng = random.Random()

    def replace(self, faults: Faults) -> None:
        """Use new settings; the next decision starts the sequence of their seed afresh."""
        with self._lock:
            self.faults = faults
            self._seed = None

    def applies_to(self, user_agent: str) -> bool:
        return self.faults.user_agent_contains in user_agent

    def decide(self, *, verb: str, user_agent: str) -> Fault:
        """The fault for one resource request (drawn only when its User-Agent matches)."""
        faults = self.faults
        if not self.applies_to(user_agent):
            return Fault.NONE
        with self._lock:
            if self._seed != faults.seed:
                self._seed = faults.seed
                self._rng = random.Random(faults.seed)
            draw = self._rng.random()
        bound = faults.timeout_rate
        if draw < bound:
            return Fault.TIMEOUT
        bound += faults.error_rate
        if draw < bound:
            return Fault.ERROR
        bound += faults.conflict_rate
        if draw < bound:
            return Fault.CONFLICT if verb in CONFLICT_VERBS else Fault.NONE
        bound += faults.throttle_rate
        if draw < bound:
            return Fault.THROTTLE
        bound += faults.unavailable_rate
        if draw < bound:
            return Fault.UNAVAILABLE
        return Fault.NONE
