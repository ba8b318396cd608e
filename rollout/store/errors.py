"""What a store raises.

    StoreError                 any store failure
    ├── NotFound               no object of that kind, namespace and name
    ├── AlreadyExists          create() of a name that is taken
    ├── Conflict               stale resourceVersion on update (re-read and retry)
    ├── Expired                watch from a resourceVersion the store no longer keeps
    └── Invalid                the stored or written object is not a valid resource

Pure data; no I/O.
"""

from __future__ import annotations

__all__ = ["AlreadyExists", "Conflict", "Expired", "Invalid", "NotFound", "StoreError"]


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
