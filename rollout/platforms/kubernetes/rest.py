"""Plain-JSON access to any Kubernetes resource through the official client.

`Resources(api_client)` reads and writes objects as dicts (the JSON the API server
speaks) by group/version/plural, so the runtime, the routers, events and the leader
lease share one small path to the server instead of a typed API class each:

    res = Resources(api_client)
    dep = res.get(DEPLOYMENTS, "shop", "web-00001")      # dict, or raises ApiException
    res.create(DEPLOYMENTS, "shop", body)
    res.patch(DEPLOYMENTS, "shop", "web-00001", {"metadata": {...}})   # JSON merge patch

Requests go through `ApiClient.param_serialize` / `call_api` (authentication, TLS and
the kubeconfig are the client's); errors are the client's `ApiException`.
Each adapter declares the RBAC verbs it calls (`USES`); the RBAC tests compare what
the controller calls with the install's Roles and ClusterRole.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import json
from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

__all__ = [
    "DEPLOYMENTS",
    "EVENTS",
    "HPAS",
    "HTTPROUTES",
    "LEASES",
    "SECRETS",
    "SERVICES",
    "VIRTUALSERVICES",
    "ApiError",
    "NotLeader",
    "Ref",
    "Resources",
    "is_status",
]


@dataclasses.dataclass(frozen=True)
class Ref:
    """Where a kind of object lives on the API server."""

    group: str  # "" for the core group
    version: str
    plural: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str, name: str | None = None) -> str:
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        path = f"{root}/namespaces/{namespace}/{self.plural}"
        return f"{path}/{name}" if name is not None else path


DEPLOYMENTS = Ref("apps", "v1", "deployments")
SERVICES = Ref("", "v1", "services")
HPAS = Ref("autoscaling", "v2", "horizontalpodautoscalers")
HTTPROUTES = Ref("gateway.networking.k8s.io", "v1", "httproutes")
VIRTUALSERVICES = Ref("networking.istio.io", "v1beta1", "virtualservices")
LEASES = Ref("coordination.k8s.io", "v1", "leases")
EVENTS = Ref("", "v1", "events")
SECRETS = Ref("", "v1", "secrets")


class ApiError(ApiException):
    """An API error that prints as one line: what was asked, the status, the server's
    message (the client's own exception prints headers and bodies)."""

    def __init__(self, method: str, path: str, response: Any) -> None:
        super().__init__(http_resp=response)
        self.request = f"{method} {path}"

    def __str__(self) -> str:
        message = ""
        with contextlib.suppress(TypeError, ValueError, AttributeError):
            message = str(json.loads(self.body or "").get("message", ""))
        return f"{self.request}: {self.status} {self.reason}" + (f": {message}" if message else "")


class NotLeader(Exception):
    """A write refused before it was sent: leader election says this replica must not
    write now."""


def is_status(exc: BaseException, *codes: int) -> bool:
    """Whether `exc` is an API error with one of `codes`."""
    return isinstance(exc, ApiException) and exc.status in codes


class Resources:
    """get/list/create/replace/patch/delete of any namespaced resource, as dicts."""

    def __init__(
        self,
        api_client: client.ApiClient,
        *,
        timeout: float = 15.0,
        may_write: Callable[[], bool] | None = None,
    ) -> None:
        self._client = api_client
        self._timeout = timeout
        self._may_write = may_write  # leader election's fence: False → writes refused

    def get(self, ref: Ref, namespace: str, name: str) -> dict[str, Any]:
        return self._request("GET", ref.path(namespace, name))

    def find(self, ref: Ref, namespace: str, name: str) -> dict[str, Any] | None:
        """The object, or None when there is none."""
        try:
            return self.get(ref, namespace, name)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def list(self, ref: Ref, namespace: str, *, labels: str = "") -> builtins.list[dict[str, Any]]:
        query = [("labelSelector", labels)] if labels else []
        items: list[dict[str, Any]] = self._request("GET", ref.path(namespace), query=query).get(
            "items", []
        )
        return items

    def create(self, ref: Ref, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._request("POST", ref.path(namespace), body=body)

    def replace(self, ref: Ref, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """PUT: the whole object; `metadata.resourceVersion` in it is the precondition."""
        return self._request("PUT", ref.path(namespace, name), body=body)

    def patch(self, ref: Ref, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        """A JSON merge patch (RFC 7386)."""
        return self._request(
            "PATCH",
            ref.path(namespace, name),
            body=patch,
            content_type="application/merge-patch+json",
        )

    def delete(self, ref: Ref, namespace: str, name: str) -> None:
        """Delete, letting the garbage collector remove what it owns; absent is fine."""
        try:
            self._request(
                "DELETE",
                ref.path(namespace, name),
                body={
                    "kind": "DeleteOptions",
                    "apiVersion": "v1",
                    "propagationPolicy": "Background",
                },
            )
        except ApiException as exc:
            if exc.status != 404:
                raise

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: builtins.list[tuple[str, str]] | None = None,
        body: dict[str, Any] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        if method != "GET" and self._may_write is not None and not self._may_write():
            raise NotLeader(f"{method} {path}: this replica does not hold the lease")
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        params = self._client.param_serialize(
            method,
            path,
            query_params=query or [],
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self._client.call_api(*params, _request_timeout=self._timeout)
        data = response.read()  # type: ignore[no-untyped-call]
        if not 200 <= response.status <= 299:
            raise ApiError(method, path, response)
        if not data:
            return {}
        parsed: dict[str, Any] = json.loads(data)
        return parsed
