"""What a store raises.

    StoreError                 any store failure (a generic one is transient: retry)
    ├── NotFound               no object of that kind, namespace and name
    ├── AlreadyExists          create() of a name that is taken
    ├── Conflict               stale resourceVersion on update (re-read and retry)
    ├── Expired                watch from a resourceVersion the store no longer keeps
    ├── Invalid                the stored or written object is not a valid resource
    │   └── Undecodable        a stored object does not decode as its kind's model
    │                          (`.object`: the `port.InvalidObject` that says why)
    ├── NoState                a store opened without creating finds no state file
    ├── Busy                   another process held the lock longer than the wait
    └── Unusable               the state dir or file cannot be used as it is (not a
                               directory, no permission, read-only, not a database,
                               corrupted, a newer schema): a person must act

The CLI maps them to exit codes (`rollout.cli.common.exit_code_of`): Unusable 2, the
others 1. Pure data; no I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rollout.store import port

__all__ = [
    "AlreadyExists",
    "Busy",
    "Conflict",
    "Expired",
    "Invalid",
    "NoState",
    "NotFound",
    "StoreError",
    "Undecodable",
    "Unusable",
]


class StoreError(Exception):
    """Any store failure."""


class NotFound(StoreError):
    """No object of that kind, namespace and name."""


class AlreadyExists(StoreError):
    """create() of a name that is taken."""


class Conflict(StoreError):
    """The object changed since it was read (stale resourceVersion): re-read and retry."""


class Expired(StoreError):
    """Watch from a resourceVersion too old to resume from: list again (HTTP 410 Gone)."""


class Invalid(StoreError):
    """The object is not a valid resource (bad kind, missing namespace, …)."""


class Undecodable(Invalid):
    """A stored object does not decode as its kind's model; `object` says who and why."""

    def __init__(self, obj: port.InvalidObject) -> None:
        super().__init__(str(obj))
        self.object = obj


class NoState(StoreError):
    """The store was opened without creating and there is no state (no file, no schema)."""


class Busy(StoreError):
    """Another process held the store's lock for longer than this one would wait."""


class Unusable(StoreError):
    """The state directory or file cannot be used as it is; the message says why."""
