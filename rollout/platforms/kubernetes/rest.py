"""The one path to the API server: plain-JSON access to any resource through the
official client's `ApiClient`, and the one error type for what the server refuses.

`Resources(api_client)` reads and writes objects as dicts (the JSON the API server
speaks) by `refs.Ref` (group/version/plural), so the store, the runtime, the routers,
events, the Secret reader and the leader lease share one transport instead of a typed
API class each:

    res = Resources(api_client)
    dep = res.get(refs.DEPLOYMENTS, "shop", "web-00001")      # dict, or raises ApiError
    res.create(refs.DEPLOYMENTS, "shop", body)
    res.patch(refs.DEPLOYMENTS, "shop", "web-00001", {"metadata": {...}})  # merge patch
    res.replace(ref, "shop", "web", body, sub="status")      # PUT, resourceVersion checked
    response = res.watch(ref, None, since="42", seconds=300)  # raw stream of JSON lines

Requests go through `ApiClient.param_serialize` / `call_api` (authentication, TLS and
the kubeconfig are the client's). Each takes a token of the API client's rate limit
first (`apiclient`: QPS/burst shared by every `Resources` on that `ApiClient`; a
watch once, when opened), and answers 429 and, where safe, 5xx are retried after
`Retry-After` or a jittered backoff (`retries` says which and how long). All of it —
waiting for a token, every attempt, every wait between them — fits in the request's
`timeout` (default 15 s; a watch: that to open it, its `seconds` plus that to
read): a token or a retry that would come later is not waited for, and the last
answer stands. A DELETE answered 5xx whose retry is answered 404 has succeeded (the
first attempt deleted the object). An answer outside 2xx is an `ApiError` — a subclass of the
client's `ApiException`, so the client's own status-0 TLS failures share its
handlers; no token within the deadline is an `ApiError` 429 too (`throttled`); a
network failure is the urllib3/OS error as raised. The store maps `ApiError` to
`rollout.store.errors` (`store.translate`); the other adapters test its status
(`is_status`).

With `may_write` (leader election's fence) a write is refused before each attempt
(`NotLeader`): a leader that loses its lease while waiting out a Retry-After sends
nothing more. Each adapter declares the RBAC verbs it calls (`USES`); the RBAC tests
compare what the controller calls with the install's Roles and ClusterRole.
"""

from __future__ import annotations

import builtins
import contextlib
import json
from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from rollout.platforms.kubernetes import apiclient, refs, retries

__all__ = ["ApiError", "NotLeader", "Resources", "is_status", "throttled"]


class ApiError(ApiException):
    """An API error that prints as one line: what was asked, the status, the server's
    message (the client's own exception prints headers and bodies).

    Made from the server's answer (`http_resp`), or from the status and reason of an
    ERROR event in a watch stream."""

    def __init__(
        self,
        request: str,
        *,
        http_resp: Any = None,
        status: int | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(status=status, reason=reason, http_resp=http_resp)
        self.request = request

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
    """get/list/watch/create/replace/patch/delete of any resource, as dicts."""

    def __init__(
        self,
        api_client: client.ApiClient,
        *,
        timeout: float = 15.0,
        may_write: Callable[[], bool] | None = None,
    ) -> None:
        self._client = api_client
        self._traffic = apiclient.of(api_client)  # rate limit and counters, shared
        self._timeout = timeout
        self._may_write = may_write  # leader election's fence: False → writes refused

    def get(self, ref: refs.Ref, namespace: str, name: str) -> dict[str, Any]:
        return self._request("GET", ref.path(namespace, name))

    def find(self, ref: refs.Ref, namespace: str, name: str) -> dict[str, Any] | None:
        """The object, or None when there is none."""
        try:
            return self.get(ref, namespace, name)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def list(
        self,
        ref: refs.Ref,
        namespace: str | None,
        *,
        labels: str = "",
        fields: str = "",
        limit: int | None = None,
        after: str = "",
    ) -> dict[str, Any]:
        """The List object (`items`, `metadata.resourceVersion`) of one namespace, or of
        every namespace when `namespace` is None; `fields`: a field selector; `limit`:
        one page of at most that many, the next from `after` (the page's
        `metadata.continue`)."""
        query = [("labelSelector", labels)] if labels else []
        query += [("fieldSelector", fields)] if fields else []
        query += [("limit", str(limit))] if limit is not None else []
        query += [("continue", after)] if after else []
        return self._request("GET", ref.path(namespace), query=query)

    def watch(
        self, ref: refs.Ref, namespace: str | None, *, since: str, seconds: int, labels: str = ""
    ) -> Any:
        """A watch from resourceVersion `since` (with bookmarks) that the server ends
        after `seconds`: the open urllib3 response, one JSON event per line. The
        caller reads it, and `release_conn()`s it; `shutdown()` unblocks a read."""
        query = [("labelSelector", labels)] if labels else []
        query += [
            ("allowWatchBookmarks", "true"),
            ("resourceVersion", since),
            ("timeoutSeconds", str(seconds)),
            ("watch", "true"),
        ]
        path = ref.path(namespace)
        response = self._send("GET", path, query, None, "", read_for=seconds, verb="WATCH")
        if not 200 <= response.status <= 299:
            response.read()
            raise ApiError(f"WATCH {path}", http_resp=response)
        return response.response

    def create(self, ref: refs.Ref, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._request("POST", ref.path(namespace), body=body)

    def replace(
        self, ref: refs.Ref, namespace: str, name: str, body: dict[str, Any], *, sub: str = ""
    ) -> dict[str, Any]:
        """PUT: the whole object (or its subresource `sub`, e.g. "status");
        `metadata.resourceVersion` in it is the precondition."""
        return self._request("PUT", ref.path(namespace, name, sub), body=body)

    def patch(
        self, ref: refs.Ref, namespace: str, name: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        """A JSON merge patch (RFC 7386)."""
        return self._request(
            "PATCH",
            ref.path(namespace, name),
            body=patch,
            content_type="application/merge-patch+json",
        )

    def delete(self, ref: refs.Ref, namespace: str, name: str, *, missing_ok: bool = True) -> None:
        """Delete, letting the garbage collector remove what it owns (background
        cascade); absent is fine unless `missing_ok` is False (then a 404 ApiError)."""
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
            if exc.status != 404 or not missing_ok:
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
        response = self._send(method, path, query or [], body, content_type)
        data = response.read()
        if not 200 <= response.status <= 299:
            raise ApiError(f"{method} {path}", http_resp=response)
        if not data:
            return {}
        parsed: dict[str, Any] = json.loads(data)
        return parsed

    def _send(
        self,
        method: str,
        path: str,
        query: builtins.list[tuple[str, str]],
        body: dict[str, Any] | None,
        content_type: str,
        *,
        read_for: float = 0.0,
        verb: str = "",
    ) -> Any:
        """Send within the deadline: a token of the rate limit first, then (a write only
        while `may_write` says so) the request, again after each retryable answer
        (`retries.delay`); the last answer, read or not. A watch (`read_for` its
        seconds) may read `read_for` beyond the deadline."""
        traffic = self._traffic
        verb = verb or method
        deadline = traffic.clock() + self._timeout
        attempt = 0
        after_5xx = False
        while True:
            self._fence(method, path)
            wait = traffic.bucket.reserve(max(0.0, deadline - traffic.clock()))
            if wait is None:
                raise throttled(f"{verb} {path}", traffic.bucket.qps)
            if wait > 0:
                traffic.sleep(wait)
                traffic.waited(wait)
                self._fence(method, path)  # the lease may have ended while waiting
            remaining = max(0.001, deadline - traffic.clock())
            timeout = (remaining, read_for + remaining) if read_for else remaining
            try:
                response = self._call(method, path, query, body, content_type, timeout)
            except BaseException:
                traffic.sent(verb, 0)
                raise
            traffic.sent(verb, response.status)
            if method == "DELETE" and after_5xx and response.status == 404:
                response.read()
                return _Deleted()  # our earlier attempt deleted it
            pause = retries.delay(
                method,
                response.status,
                response.headers.get("Retry-After"),
                attempt=attempt,
                remaining=deadline - traffic.clock(),
                draw=traffic.draw(),
            )
            if pause is None:
                return response
            response.read()  # the answer is dropped: free its connection
            traffic.retried(verb, response.status)
            after_5xx = after_5xx or response.status != 429
            traffic.sleep(pause)
            attempt += 1

    def _fence(self, method: str, path: str) -> None:
        if method != "GET" and self._may_write is not None and not self._may_write():
            raise NotLeader(f"{method} {path}: this replica does not hold the lease")

    def _call(
        self,
        method: str,
        path: str,
        query: builtins.list[tuple[str, str]],
        body: dict[str, Any] | None,
        content_type: str,
        timeout: float | tuple[float, float],
    ) -> Any:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        params = self._client.param_serialize(
            method,
            path,
            query_params=query,
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        return self._client.call_api(*params, _request_timeout=timeout)


class _Deleted:
    """The answer to a DELETE whose retry found the object gone: success, no body."""

    status = 200

    def read(self) -> bytes:
        return b""


def throttled(request: str, qps: float) -> ApiError:
    """No token of the client-side rate limit before the request's deadline: a 429, as
    the server would answer an overloaded client."""
    return ApiError(
        request,
        status=429,
        reason=f"TooManyRequests: the client-side rate limit ({qps:g}/s) left no slot"
        " before the request's deadline",
    )
