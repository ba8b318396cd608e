"""Where resources live: the Store port and its implementations.

port      the Store protocol, WatchEvent, Listed, InvalidObject — Kubernetes API semantics
errors    NotFound, AlreadyExists, Conflict, Expired, Invalid, Undecodable
objects   pure rules shared by every store (create defaults, generation, selection)
memory    in one process (tests, rehearsal)
sqlite    one file under the state dir (the local platform)
"""

from rollout.store.errors import (
    AlreadyExists,
    Conflict,
    Expired,
    Invalid,
    NotFound,
    StoreError,
    Undecodable,
)
from rollout.store.port import (
    DEFAULT_NAMESPACE,
    EventType,
    InvalidObject,
    Listed,
    Store,
    WatchEvent,
    key_of,
)

__all__ = [
    "DEFAULT_NAMESPACE",
    "AlreadyExists",
    "Conflict",
    "EventType",
    "Expired",
    "Invalid",
    "InvalidObject",
    "Listed",
    "NotFound",
    "Store",
    "StoreError",
    "Undecodable",
    "WatchEvent",
    "key_of",
]
