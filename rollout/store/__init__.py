"""Where resources live: the Store port and its implementations.

port      the Store protocol, WatchEvent, Listed — Kubernetes API semantics
errors    NotFound, AlreadyExists, Conflict, Expired, Invalid
objects   pure rules shared by every store (create defaults, generation, selection)
memory    in one process (tests, rehearsal)
sqlite    one file under the state dir (the local platform)
"""

from rollout.store.errors import AlreadyExists, Conflict, Expired, Invalid, NotFound, StoreError
from rollout.store.port import DEFAULT_NAMESPACE, EventType, Listed, Store, WatchEvent, key_of

__all__ = [
    "DEFAULT_NAMESPACE",
    "AlreadyExists",
    "Conflict",
    "EventType",
    "Expired",
    "Invalid",
    "Listed",
    "NotFound",
    "Store",
    "StoreError",
    "WatchEvent",
    "key_of",
]
