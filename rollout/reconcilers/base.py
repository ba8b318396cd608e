"""What every reconciler shares: the key it reconciles, the result it returns, the
context it works in (store, platform, clock, measurements), and small helpers for
reads, labels, owner references, events and status writes.

Measurements are taken through `Context.measurements` (`Measurements`: the
controller's `measuring.Runner` or `measuring.Inline`), never by calling the
platform's metric provider: `take` returns the finished readings and the metrics
still in flight (`Taken`), and never waits.

Reads go through `read` and `read_list`, writes through `create`, `update` and
`write_status`: with the controller's cache (`Context.cache`) they hand out the
objects the cache holds — shared: read them, change a copy — and writes go to the
store through it; without, straight to the store.

A reconciler is `reconcile(ctx, key) -> Result`: observe (read the store and the
platform), decide (pure builders), apply (platform and child objects), persist (one
status write, skipped when nothing changed). An object being deleted
(`terminating`) gets no new children and no writes to them. It raises only for failures the
controller should retry with backoff (a store Conflict among them).

Called by `rollout.controller`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any, Protocol

import structlog

from rollout import clock as clocks
from rollout.analysis import measurement
from rollout.api import condition, kinds, meta, policyspec, release
from rollout.platforms import ports
from rollout.release import hooks as release_hooks
from rollout.release import notify, observation
from rollout.store import port

__all__ = [
    "Cache",
    "Context",
    "Key",
    "Measurements",
    "Reconcile",
    "Result",
    "Taken",
    "create",
    "owner_reference",
    "read",
    "read_list",
    "terminating",
    "update",
    "update_status",
    "without_error",
    "write_status",
]

log = structlog.get_logger(__name__)


@dataclasses.dataclass(frozen=True, order=True)
class Key:
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


@dataclasses.dataclass(frozen=True)
class Result:
    requeue_after: timedelta | None = None  # reconcile again after this much clock time


ReleaseHook = Callable[["Key", release.ReleaseStatus, tuple[release.Verdict, ...]], None]

ERROR_CONDITION = "ReconcileError"


class Cache(Protocol):
    """Reads and writes that hand out objects shared with a cache
    (`rollout.controller.cache.CachedStore`): never change what it returns."""

    def peek(self, kind: str, namespace: str, name: str) -> kinds.Resource: ...

    def peek_list(
        self, kind: str, namespace: str | None = None, *, labels: Mapping[str, str] | None = None
    ) -> list[kinds.Resource]: ...

    def create_shared(self, obj: kinds.Resource) -> kinds.Resource: ...

    def update_shared(self, obj: kinds.Resource) -> kinds.Resource: ...

    def update_status_shared(self, obj: kinds.Resource) -> kinds.Resource: ...


@dataclasses.dataclass(frozen=True)
class Taken:
    """What `Measurements.take` has: the finished readings, and the metrics whose reading
    is still being taken (their wake comes when it completes or its deadline passes)."""

    readings: tuple[measurement.Measurement, ...]
    pending: tuple[str, ...] = ()


class Measurements(Protocol):
    """Readings of due metrics, taken so that a reconcile never waits for one
    (`rollout.controller.measuring`)."""

    def take(
        self, key: Key, due: Sequence[tuple[policyspec.Metric, measurement.MeasureContext]]
    ) -> Taken: ...

    def forget(self, key: Key) -> None:
        """The release `key` ended: drop its readings."""
        ...


class Hooks(Protocol):
    """Webhook calls made so that a reconcile never waits for one
    (`rollout.controller.hooking`): the answers that are in, and the hooks still being
    called."""

    def take(
        self, key: Key, calls: Sequence[release_hooks.Call], namespace: str
    ) -> tuple[tuple[observation.HookAnswer, ...], tuple[str, ...]]: ...

    def forget(self, key: Key) -> None: ...


class Notices(Protocol):
    """Notifications sent so that a reconcile never waits for one
    (`rollout.controller.notifying`)."""

    def take(
        self, key: Key, deliveries: Sequence[notify.Delivery], namespace: str
    ) -> tuple[tuple[observation.HookAnswer, ...], tuple[str, ...]]: ...

    def forget(self, key: Key) -> None: ...


class NoHooks:
    """Hooks and notices for contexts that make no call (a policy with webhooks waits
    at its gates; no message is sent)."""

    def take(
        self, key: Key, calls: Sequence[Any], namespace: str
    ) -> tuple[tuple[observation.HookAnswer, ...], tuple[str, ...]]:
        return (), ()

    def forget(self, key: Key) -> None:
        pass


@dataclasses.dataclass
class Context:
    store: port.Store
    platform: ports.Platform
    clock: clocks.Clock
    # How the release reconciler takes readings (never waiting for one).
    measurements: Measurements
    # How the release reconciler calls webhooks (never waiting for one).
    hooks: Hooks = dataclasses.field(default_factory=NoHooks)
    # How it sends notifications, and the controller's own list for the releases whose
    # policy has none (`rollout controller --notifications FILE`).
    notices: Notices = dataclasses.field(default_factory=NoHooks)
    notifications: tuple[policyspec.Notification, ...] = ()
    # Called after each release decision with the new status and the verdicts of the
    # readings taken (the controller's metrics); None: nobody listens.
    on_release: ReleaseHook | None = None
    # The controller's read cache; None: reads and writes go to the store.
    cache: Cache | None = None
    # Called with each object a reconciler created or updated, as stored (the
    # controller: a write is no news to its writer); None: nobody listens.
    on_write: Callable[[kinds.Resource], None] | None = None

    def event(
        self, obj: kinds.Resource, reason: str, message: str, *, warning: bool = False
    ) -> None:
        self.platform.events.record(
            ports.RecordedEvent(
                kind=obj.kind,
                namespace=obj.metadata.namespace or port.DEFAULT_NAMESPACE,
                name=obj.metadata.name,
                reason=reason,
                message=message,
                warning=warning,
                at=self.clock.now(),
                uid=obj.metadata.uid,
            )
        )
        log.info(
            "event",
            kind=obj.kind,
            name=obj.metadata.name,
            reason=reason,
            message=message,
            warning=warning,
        )


Reconcile = Callable[[Context, Key], Result]


def read(ctx: Context, kind: str, namespace: str, name: str) -> kinds.Resource:
    """The stored object, read-only (it may be shared with the cache). Raises NotFound."""
    if ctx.cache is not None:
        return ctx.cache.peek(kind, namespace, name)
    return ctx.store.get(kind, namespace, name)


def read_list(
    ctx: Context, kind: str, namespace: str, *, labels: Mapping[str, str]
) -> list[kinds.Resource]:
    """The stored objects selected, read-only (they may be shared with the cache)."""
    if ctx.cache is not None:
        return ctx.cache.peek_list(kind, namespace, labels=labels)
    return ctx.store.list(kind, namespace, labels=labels).items


def create(ctx: Context, obj: kinds.Resource) -> kinds.Resource:
    """Create `obj`; the object as stored, read-only (it may be shared with the cache)."""
    if ctx.cache is not None:
        return _wrote(ctx, ctx.cache.create_shared(obj))
    return _wrote(ctx, ctx.store.create(obj))


def update(ctx: Context, obj: kinds.Resource) -> kinds.Resource:
    """Update `obj`'s metadata and spec; the object as stored, read-only (it may be shared
    with the cache)."""
    if ctx.cache is not None:
        return _wrote(ctx, ctx.cache.update_shared(obj))
    return _wrote(ctx, ctx.store.update(obj))


def update_status(ctx: Context, obj: kinds.Resource) -> kinds.Resource:
    """Update `obj`'s status; the object as stored, read-only (it may be shared with the
    cache)."""
    if ctx.cache is not None:
        return _wrote(ctx, ctx.cache.update_status_shared(obj))
    return _wrote(ctx, ctx.store.update_status(obj))


def _wrote(ctx: Context, written: kinds.Resource) -> kinds.Resource:
    if ctx.on_write is not None:
        ctx.on_write(written)
    return written


def terminating(obj: kinds.Resource) -> bool:
    """Whether `obj` is being deleted (a `deletionTimestamp`: a foreground deletion or
    a finalizer holds it): a reconciler then creates and updates nothing under it —
    what it owns is the garbage collector's, and one made again would outlive it."""
    return obj.metadata.deletion_timestamp is not None


def owner_reference(owner: kinds.Resource) -> meta.OwnerReference:
    """An owner reference to `owner` (a stored object, so it has a uid)."""
    assert owner.metadata.uid is not None, "owners are stored objects"
    return meta.OwnerReference(
        api_version=owner.api_version,
        kind=owner.kind,
        name=owner.metadata.name,
        uid=owner.metadata.uid,
        controller=True,
        block_owner_deletion=True,
    )


def write_status(ctx: Context, obj: Any, status: Any) -> Any:
    """Persist `status` unless it equals `obj.status`; return the object as stored
    (read-only, like `read`'s).

    A successful reconcile clears the controller's `ReconcileError` condition, and a
    Ready condition left `InvalidSpec` from when the object did not decode
    (`rollout.controller.invalid`)."""
    status = without_error(status)
    if status == obj.status:
        return obj
    return update_status(ctx, obj.model_copy(update={"status": status}))


def without_error(status: Any) -> Any:
    """`status` without the `ReconcileError` condition (set when a reconcile raised) and
    without a Ready condition of reason `InvalidSpec` (set while the object did not
    decode: a reconcile that writes this status has read it valid)."""
    conditions = getattr(status, "conditions", None)
    if not conditions or not any(_controllers(c) for c in conditions):
        return status
    kept = [c for c in conditions if not _controllers(c)]
    return status.model_copy(update={"conditions": kept})


def _controllers(c: condition.Condition) -> bool:
    """A condition the controller set, not the reconciler: dropped when one succeeds."""
    return c.type == ERROR_CONDITION or (
        c.type == condition.ConditionType.READY and c.reason == condition.INVALID_SPEC
    )
