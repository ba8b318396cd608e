"""The SecretReader port on Kubernetes: a metric provider's `secretKeyRef` credential,
read from a Secret in the release's namespace when a measurement is taken.

`KubernetesSecrets(resources, namespaces=…)` gets the Secret through the same REST
layer as the other adapters (`rest.Resources`) — one `get` by name, never `list` or
`watch`, so RBAC can grant exactly the Secrets named at install
(`rollout install --secret-names`, `resourceNames`). With `--watch-namespaces` it
reads only in those namespaces and refuses any other before a request is sent.

A value is kept for `ttl` seconds (default 30), so a metric measured every few
seconds costs one request per Secret per half minute, and a rotated Secret is seen
within that time. Every failure is a `SecretError` with one line naming the Secret,
the key and the cause (not found, not allowed and how to grant it, no such key, not
UTF-8 text, the API server not answering) — never the value.

I/O: the API server. Called by the metric providers of the kubernetes platform
(`platform.make`).
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from collections.abc import Callable

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from rollout.analysis.providers import secrets
from rollout.platforms.kubernetes import refs, rest

__all__ = ["DEFAULT_TTL", "KubernetesSecrets"]

DEFAULT_TTL = 30.0

USES: tuple[tuple[str, str, tuple[str, ...]], ...] = (  # for the Roles (see store.USES)
    ("", "secrets", ("get",)),
)


class KubernetesSecrets:
    """SecretReader port: `read(namespace, name, key)` from a Secret's `data`."""

    def __init__(
        self,
        resources: rest.Resources,
        *,
        namespaces: tuple[str, ...] | None = None,
        ttl: float = DEFAULT_TTL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.res = resources
        self.namespaces = namespaces
        self.ttl = ttl
        self._monotonic = monotonic
        self._kept: dict[tuple[str, str], tuple[float, dict[str, str]]] = {}
        self._lock = threading.Lock()

    def read(self, namespace: str, name: str, key: str) -> str:
        where = f"Secret {namespace}/{name}"
        if self.namespaces is not None and namespace not in self.namespaces:
            raise secrets.SecretError(
                f"{where}: namespace {namespace} is not watched by this controller"
            )
        data = self._data(namespace, name, where)
        if key not in data:
            raise secrets.SecretError(f"{where} has no key {key!r}")
        try:
            return base64.b64decode(data[key], validate=True).decode("utf-8")
        except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
            raise secrets.SecretError(f"{where}: key {key!r} is not UTF-8 text") from None

    def _data(self, namespace: str, name: str, where: str) -> dict[str, str]:
        now = self._monotonic()
        with self._lock:
            kept = self._kept.get((namespace, name))
        if kept is not None and now - kept[0] < self.ttl:
            return kept[1]
        try:
            obj = self.res.get(refs.SECRETS, namespace, name)
        except ApiException as exc:
            raise secrets.SecretError(_cause(exc, where, name)) from None
        except (HTTPError, OSError) as exc:
            raise secrets.SecretError(
                f"{where}: the API server did not answer ({type(exc).__name__})"
            ) from None
        raw = obj.get("data") or {}
        data = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
        with self._lock:
            self._kept[(namespace, name)] = (now, data)
        return data


def _cause(exc: ApiException, where: str, name: str) -> str:
    if exc.status == 404:
        return f"{where} not found"
    if exc.status in (401, 403):
        return (
            f"{where}: the controller may not read it"
            f" (grant it with `rollout install --secret-names {name}`)"
        )
    return f"{where}: the API server answered {exc.status} {exc.reason or ''}".rstrip()
