"""Notifications sent off the reconcile, each sink rate-limited; a failing sink never
holds up a release.

The release reconciler asks `take(key, deliveries, namespace)` with the messages due
(`rollout.release.notify.due`) and gets back the answers that are in and the
notifications still sending; the runner wakes the release when a message was sent or
given up on. It is a third user of the off-loop runner (`offloop`), on threads of its
own, so a slow chat service never delays a gate's call.

A message (`_Message.run`): the sink's URL read now from `urlFrom` (`env`, `file`, or a
Kubernetes Secret), the HMAC key from `secretRef` for webhook sinks, a token from the
sink's bucket (`Limiter`: `RATE` messages a second per URL, bursts of `BURST`; a
message waits for one at most `MAX_WAIT` seconds, then fails "rate limited"), then the
transport (`analysis.providers.hooks.call`: bounded attempts with backoff). A failed
message is counted in `rollout_notifications_failed_total{sink}` (`failed(sink)`, the
controller's metrics) and returned as a failed answer naming the cause — never the
URL, which is a credential.

Threads: `offloop`'s (`THREADS`, daemons). Called by the release reconciler (through
`base.Context.notices`); built by `manager.Controller`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import time
from collections.abc import Callable

from rollout.analysis.providers import hooks as transport
from rollout.analysis.providers import printable, secrets, web
from rollout.controller import offloop
from rollout.reconcilers import base
from rollout.release import notify, observation

__all__ = ["BURST", "MAX_WAIT", "RATE", "Limiter", "Runner"]

RATE = 1.0  # messages a second per sink URL
BURST = 5
MAX_WAIT = 30.0  # seconds a message waits for its sink's token
THREADS = 4
GRACE = 1.0
_WORDS = offloop.Words(
    call="message", thread="notification", late_event="notification.late", thread_name="notify"
)


class Limiter:
    """Token buckets by sink (a hash of its URL: the URL itself is not kept)."""

    def __init__(
        self,
        rate: float = RATE,
        burst: int = BURST,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._rate, self._burst = rate, burst
        self._clock, self._sleep = clock, sleep
        self._buckets: dict[str, tuple[float, float]] = {}  # sink → (tokens, at)
        self._lock = threading.Lock()

    def acquire(self, url: str, within: float) -> bool:
        """Take a token for `url`'s sink, waiting up to `within` seconds for one."""
        sink = hashlib.sha256(url.encode("utf-8")).hexdigest()
        ends = self._clock() + within
        while True:
            with self._lock:
                now = self._clock()
                tokens, at = self._buckets.get(sink, (float(self._burst), now))
                tokens = min(float(self._burst), tokens + (now - at) * self._rate)
                if tokens >= 1.0:
                    self._buckets[sink] = (tokens - 1.0, now)
                    return True
                self._buckets[sink] = (tokens, now)
                wait = (1.0 - tokens) / self._rate
            if now + wait > ends:
                return False
            self._sleep(wait)


@dataclasses.dataclass(frozen=True)
class _Message:
    """One message as an off-loop task (`offloop.Task`)."""

    delivery: notify.Delivery
    namespace: str
    secrets: secrets.SecretReader | None
    opener: web.Opener | None
    limiter: Limiter
    failed_sink: Callable[[str], None]

    @property
    def name(self) -> str:
        return self.delivery.notification.name

    @property
    def basis(self) -> str:
        return self.delivery.basis

    @property
    def timeout(self) -> float:
        n = self.delivery.notification
        return MAX_WAIT + transport.bound(n.timeout.total_seconds(), n.retries)

    @property
    def lane(self) -> None:
        return None  # the URL is known only when sending; the rate limit bounds each sink

    def run(self) -> observation.HookAnswer:
        n = self.delivery.notification
        try:
            url = secrets.resolve(n.url_from, namespace=self.namespace, reader=self.secrets)
            key = None
            if n.secret_ref is not None:
                value = secrets.resolve(n.secret_ref, namespace=self.namespace, reader=self.secrets)
                key = value.encode("utf-8")
            if not self.limiter.acquire(url, MAX_WAIT):
                return self.failed(f"rate limited: more than {RATE:g} a second to this sink")
            result = transport.call(
                url,
                transport.encode(self.delivery.body),
                timeout=n.timeout.total_seconds(),
                retries=n.retries,
                secret=key,
                opener=self.opener,
            )
        except secrets.SecretError as exc:
            return self.failed(f"the sink's URL or key: {exc}")
        except Exception as exc:  # the transport never raises; anything else is a failure
            return self.failed(f"sending failed: {type(exc).__name__}")
        if not result.ok:
            self.failed_sink(n.sink.value)
        return observation.HookAnswer(
            name=n.name,
            basis=self.delivery.basis,
            ok=result.ok,
            status=result.status,
            error=result.error,
            attempts=result.attempts,
        )

    def failed(self, reason: str) -> observation.HookAnswer:
        self.failed_sink(self.delivery.notification.sink.value)
        return observation.HookAnswer(
            name=self.delivery.notification.name,
            basis=self.delivery.basis,
            ok=False,
            error=printable.printable(reason),
            attempts=0,
        )


class Runner(offloop.Calls[notify.Delivery, observation.HookAnswer]):
    """Messages on worker threads of their own, each within a deadline (the module):
    `take(key, deliveries, namespace)` → the answers that are in, those still sending."""

    def __init__(
        self,
        *,
        wake: Callable[[base.Key], None],
        failed: Callable[[str], None] = lambda sink: None,
        secrets: secrets.SecretReader | None = None,
        opener: web.Opener | None = None,
        limiter: Limiter | None = None,
        threads: int = THREADS,
    ) -> None:
        bucket = limiter or Limiter()
        super().__init__(
            lambda d, namespace: _Message(d, namespace, secrets, opener, bucket, failed),
            wake=wake,
            threads=threads,
            grace=GRACE,
            words=_WORDS,
        )
