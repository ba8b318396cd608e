"""Which answers of the API server a request retries, and how long it waits first.

`delay(method, status, retry_after, attempt=…, remaining=…, draw=…)` is the whole
policy, pure (the caller, `rest.py`, sends, sleeps and counts):

- **429 TooManyRequests**, any verb: the apiserver (max-in-flight or API Priority
  and Fairness) refused the request before processing it, so sending it again is
  always safe — a create included.
- **500, 502, 503, 504**, only where sending twice cannot do harm: GET (get, list,
  the opening of a watch); PUT (the whole object, with its `resourceVersion` as a
  precondition when the caller set one: if the first attempt was stored after all,
  the retry is a 409 Conflict the caller already handles by re-reading); PATCH (our
  patches are JSON merge patches, idempotent: applying one twice gives what applying
  it once gives); DELETE (a 404 on the retry means the first attempt deleted it —
  `rest.py` answers that as success).
- **Never POST (create) on 5xx.** A 500/504 may come after the object was stored
  ("ServerTimeout: … may still be processing"); the retry would then get 409
  AlreadyExists for our own object and the caller would take it as someone else's.
  The 5xx reaches the caller, whose reconcile is retried from a fresh read (level
  triggered: it finds the object if the create was stored, else creates it again).
- Nothing else (4xx are answers, not transient).

The wait is the `Retry-After` header (whole seconds, as the apiserver sends it; its
Status `details.retryAfterSeconds` carries the same) when present, else a capped
exponential backoff with equal jitter: `BACKOFF_BASE * 2**attempt`, at most
`BACKOFF_CAP`, of which a random half (`draw` in [0, 1)). At most `MAX_RETRIES`
retries (client-go's default for Retry-After answers), and never one that would start
after the request's deadline: when the wait is not shorter than `remaining`, the
answer stands (a controller never blocks past its request timeout). Network errors
are not retried here: they reach the caller as before.
"""

from __future__ import annotations

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_CAP",
    "MAX_RETRIES",
    "RETRIED_5XX",
    "backoff",
    "delay",
    "parse_retry_after",
]

MAX_RETRIES = 10
BACKOFF_BASE = 0.25  # seconds before the first retry without Retry-After (0.125–0.25)
BACKOFF_CAP = 4.0  # seconds, before jitter
RETRIED_5XX = frozenset({500, 502, 503, 504})
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE"})


def parse_retry_after(value: str | None) -> float | None:
    """A `Retry-After` header's seconds; None when absent or not delay-seconds (an
    HTTP-date is not what the apiserver sends: treated as absent)."""
    if value is None:
        return None
    text = value.strip()
    if not text.isdigit():
        return None
    return float(int(text))


def backoff(attempt: int, draw: float) -> float:
    """The wait before retry number `attempt + 1` when the server gave no Retry-After."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2.0 ** min(attempt, 16))
    return ceiling / 2.0 + ceiling / 2.0 * draw


def retryable(method: str, status: int) -> bool:
    """Whether an answer `status` to `method` may be sent again (see the docstring)."""
    if status == 429:
        return True
    return status in RETRIED_5XX and method.upper() in IDEMPOTENT


def delay(
    method: str,
    status: int,
    retry_after: str | None,
    *,
    attempt: int,
    remaining: float,
    draw: float,
) -> float | None:
    """Seconds to wait before retrying, or None: the answer stands. `attempt` is the
    number of retries already made, `remaining` the seconds left before the request's
    deadline, `draw` a uniform random number in [0, 1)."""
    if attempt >= MAX_RETRIES or not retryable(method, status):
        return None
    wait = parse_retry_after(retry_after)
    if wait is None:
        wait = backoff(attempt, draw)
    if wait >= remaining:
        return None
    return wait
