"""Webhook calls off the reconcile: a hanging endpoint never holds up a release.

The release reconciler asks `take(key, calls, namespace)` with the calls due
(`rollout.release.hooks.due`) and gets back the answers that are in, and the names of
the hooks still being called; the engine decides with what it has, and the runner
wakes the release (`wake(key)`, the controller's) when a call ends or its deadline
passes. It is the second user of the off-loop runner (`offloop`), beside the
metric readings, with the same rules: one call in flight per (release, hook); an
answer is handed out only for the basis it was asked for; `forget(key)` drops a
release's calls.

A call (`_Call.run`): the HMAC key read now from the hook's `secretRef` (`env`,
`file`, or a Kubernetes Secret through the platform's `SecretReader`; an unreadable
key is a failed call naming the source, never the value), the payload encoded as
canonical JSON, then the transport (`analysis.providers.hooks.call`: bounded
attempts, retries only where another try may answer differently). Its deadline is
the transport's own bound — `timeout × (retries + 1)` plus the backoffs — and
`GRACE`; past it the answer is a failure ("no complete answer within …"). Calls to one
endpoint (scheme, host, port) hold at most `LANE_LIMIT` of the `MAX_THREADS` threads:
an approval service that hangs for every release delays its own gates, not the
others'.

Threads: `offloop`'s, daemons; `close()` stops the idle ones. On every platform —
the rehearsal platform too: its hooks are real HTTP calls (a rehearsal of the gates).
Called by the release reconciler (through `base.Context.hooks`); built by
`manager.Controller`.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Callable

import structlog

from rollout.analysis.providers import hooks as transport
from rollout.analysis.providers import printable, secrets, web
from rollout.controller import offloop
from rollout.reconcilers import base
from rollout.release import hooks, observation

__all__ = ["GRACE", "LANE_LIMIT", "MAX_THREADS", "Runner", "deadline_of", "endpoint_of"]

log = structlog.get_logger(__name__)

GRACE = 1.0  # seconds past the transport's own bound before the runner gives up
MAX_THREADS = 16
LANE_LIMIT = 4  # calls to one endpoint at once (of MAX_THREADS)
_WORDS = offloop.Words(
    call="call", thread="webhook", late_event="webhook.call_late", thread_name="webhook"
)


def endpoint_of(url: str) -> str:
    """`scheme://host:port` of a URL (the lane its calls share)."""
    try:
        parts = urllib.parse.urlsplit(url)
        return f"{parts.scheme}://{parts.hostname}:{parts.port or ''}"
    except ValueError:
        return url


def deadline_of(call: hooks.Call) -> float:
    """The longest a call of this hook can take: every attempt and every backoff."""
    return transport.bound(call.hook.timeout.total_seconds(), call.hook.retries)


@dataclasses.dataclass(frozen=True)
class _Call:
    """One webhook call as an off-loop task (`offloop.Task`)."""

    call: hooks.Call
    namespace: str
    secrets: secrets.SecretReader | None
    opener: web.Opener | None

    @property
    def name(self) -> str:
        return self.call.hook.name

    @property
    def basis(self) -> str:
        return self.call.basis

    @property
    def timeout(self) -> float:
        return deadline_of(self.call)

    @property
    def lane(self) -> str:
        """The endpoint (scheme, host and port): one hanging gate shared by many releases
        holds at most `LANE_LIMIT` threads."""
        return endpoint_of(self.call.hook.url)

    def run(self) -> observation.HookAnswer:
        hook = self.call.hook
        try:
            key = None
            if hook.secret_ref is not None:
                value = secrets.resolve(
                    hook.secret_ref, namespace=self.namespace, reader=self.secrets
                )
                key = value.encode("utf-8")
            body = transport.encode(self.call.payload)
            result = transport.call(
                hook.url,
                body,
                timeout=hook.timeout.total_seconds(),
                retries=hook.retries,
                secret=key,
                opener=self.opener,
            )
        except secrets.SecretError as exc:
            return self.failed(f"the webhook's secretRef: {exc}")
        except Exception as exc:  # the transport never raises; anything else is a failure
            log.warning("webhook.call_raised", hook=hook.name, error=type(exc).__name__)
            return self.failed(f"the webhook call failed: {type(exc).__name__}")
        return observation.HookAnswer(
            name=hook.name,
            basis=self.call.basis,
            ok=result.ok,
            status=result.status,
            error=result.error,
            attempts=result.attempts,
        )

    def failed(self, reason: str) -> observation.HookAnswer:
        return observation.HookAnswer(
            name=self.call.hook.name,
            basis=self.call.basis,
            ok=False,
            error=printable.printable(reason),
            attempts=0,
        )


class Runner(offloop.Calls[hooks.Call, observation.HookAnswer]):
    """Webhook calls on worker threads, each within a deadline (see the module):
    `take(key, calls, namespace)` → the answers that are in, the hooks still called."""

    def __init__(
        self,
        *,
        wake: Callable[[base.Key], None],
        secrets: secrets.SecretReader | None = None,
        opener: web.Opener | None = None,
        threads: int = MAX_THREADS,
        grace: float = GRACE,
    ) -> None:
        super().__init__(
            lambda call, namespace: _Call(call, namespace, secrets, opener),
            wake=wake,
            threads=threads,
            grace=grace,
            words=_WORDS,
            lane_limit=LANE_LIMIT,
        )
