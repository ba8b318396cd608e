"""The request handlers: one `Api.handle(request)` per HTTP request, transport-free.

`handle` classifies the request (`routing.py`), answers discovery
(`discovery.py`), or for a resource request: looks up its `ResourceType`, checks the
verb and subresource are served, draws the injected fault (`faults.py` — before
anything is written, so a faulted write changes nothing) and runs the verb:
get/list/watch in `reads.py`, create/update/patch/delete/deletecollection in
`writes.py`. Under `enforcement` (`authz.py`), the named client's requests are
first decided by the RBAC objects stored here (403 `Forbidden` when refused), and
its creates and updates pass OwnerReferencesPermissionEnforcement (`_admit`,
`authz.owner_checks`: every client's checks are recorded with its request).
Every outcome is an `exchange.Response`, `WatchStream` or `Drop`; every
failure is an `ApiError` turned into a `Status` body, and an unexpected exception is
a 500 `InternalError` Status — it never reaches the server loop. Each resource
request is appended to the request log (`recording.py`).

Deliberate deviations (see also the other modules' docstrings): `limit`/`continue`
are ignored (a list always returns every object; no `continue` token);
`resourceVersion` on list/get is ignored (always the latest state); `dryRun=All`
validates and answers without storing; `fieldManager` is ignored, `fieldValidation`
decides what unknown fields of a custom resource do (`writes.py`); server-side apply
is refused with 415, and so are protobuf bodies (kubectl's generator commands such as
`kubectl create namespace` send protobuf: use `kubectl apply -f`/`create -f`, which
send JSON); PUT of a missing object is 404 for every type; creating in a missing
namespace is 404, as on a real cluster (`default`, `kube-system`, `kube-public`,
`kube-node-lease` exist).

Called by `server.py`, which owns the sockets and threads.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from kubeemu import (
    authz,
    collector,
    discovery,
    errors,
    exchange,
    faults,
    reads,
    recording,
    resources,
    routing,
    storage,
    writes,
)

__all__ = ["Api"]

log = logging.getLogger(__name__)

INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class Api:
    """Answers requests over one store and registry."""

    def __init__(
        self,
        *,
        store: storage.Store,
        registry: resources.Registry,
        injector: faults.FaultInjector,
        requests: recording.RequestLog,
        clock: Callable[[], datetime.datetime],
        stop: threading.Event,
        server_address: Callable[[], str],
        bookmark_interval: float,
        gc_delay: float = 0.0,
    ) -> None:
        self.registry = registry
        self.store = store
        self.enforcement: authz.Enforcement | None = None  # RBAC for one named client
        self.injector = injector
        self.requests = requests
        self.server_address = server_address
        self.reads = reads.Reads(
            store=store,
            clock=clock,
            injector=injector,
            stop=stop,
            bookmark_interval=bookmark_interval,
        )
        self.collector = collector.Collector(
            store=store, clock=clock, delay=gc_delay, stopping=stop
        )
        self.writes = writes.Writes(
            store=store, registry=registry, clock=clock, collector=self.collector
        )
        self.writes.admit = self._admit
        self._local = threading.local()  # the admission checks of the request being handled
        namespaces = registry.lookup("", "v1", "namespaces")
        assert namespaces is not None
        for name in INITIAL_NAMESPACES:
            ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
            store.create(writes.NAMESPACES, self.writes.prepare_create(namespaces, ns))

    # --- entry point ---------------------------------------------------------------

    def handle(self, req: exchange.Request) -> exchange.Outcome:
        arrived = time.monotonic()
        info = routing.parse(req.method, req.path, req.query)
        if not isinstance(info, routing.RequestInfo):
            return self._guard(lambda: self._discovery(req, info))
        self._local.checks = []
        outcome = self._guard(lambda: self._resource(req, info))
        self.requests.append(
            recording.RequestRecord(
                verb=info.verb,
                group=info.group,
                version=info.version,
                resource=info.resource,
                subresource=info.subresource,
                namespace=info.namespace,
                name=info.name,
                user_agent=req.header("User-Agent"),
                status_code=outcome.status,
                admission=tuple(self._local.checks),
                at=arrived,
            )
        )
        return outcome

    def _guard(self, answer: Callable[[], exchange.Outcome]) -> exchange.Outcome:
        try:
            return answer()
        except errors.ApiError as exc:
            return exchange.Response(exc.code, exc.status())
        except Exception as exc:
            log.exception("kubeemu handler error")
            error = errors.InternalError(f"Internal error occurred: {type(exc).__name__}: {exc}")
            return exchange.Response(500, error.status())

    def _discovery(self, req: exchange.Request, info: routing.Discovery | None) -> exchange.Outcome:
        if info is None or req.method.upper() != "GET":
            raise errors.NotFound("the server could not find the requested resource")
        parts = [p for p in info.path.split("/") if p]
        body: Any = None
        if parts == ["version"]:
            body = discovery.version_info()
        elif parts in (["healthz"], ["readyz"], ["livez"]):
            return exchange.Response(200, "ok", content_type="text/plain")
        elif parts == ["api"]:
            body = discovery.api_versions(self.server_address())
        elif len(parts) == 2 and parts[0] == "api":
            body = discovery.resource_list(self.registry, "", parts[1])
        elif parts == ["apis"]:
            body = discovery.api_group_list(self.registry)
        elif len(parts) == 2 and parts[0] == "apis":
            body = discovery.api_group(self.registry, parts[1])
        elif len(parts) == 3 and parts[0] == "apis":
            body = discovery.resource_list(self.registry, parts[1], parts[2])
        elif parts == ["openapi", "v3"]:
            body = discovery.openapi_v3_paths(self.registry)
        elif len(parts) == 5 and parts[:3] == ["openapi", "v3", "apis"]:
            body = discovery.openapi_v3_document(self.registry, parts[3], parts[4])
        if body is None:
            raise errors.NotFound("the server could not find the requested resource")
        return exchange.Response(200, body)

    # --- resource requests ---------------------------------------------------------

    def _policy(self) -> authz.Policy:
        rbac = "rbac.authorization.k8s.io"
        return authz.Policy(
            cluster_roles=tuple(self.store.list((rbac, "clusterroles"))[0]),
            cluster_role_bindings=tuple(self.store.list((rbac, "clusterrolebindings"))[0]),
            roles=tuple(self.store.list((rbac, "roles"))[0]),
            role_bindings=tuple(self.store.list((rbac, "rolebindings"))[0]),
        )

    def _enforced(self, req: exchange.Request) -> authz.Enforcement | None:
        enforcement = self.enforcement
        if enforcement is None or enforcement.user_agent not in req.header("User-Agent"):
            return None
        return enforcement

    def _owner_resource(self, api_version: str, kind: str) -> tuple[str, str] | None:
        group, _, version = api_version.rpartition("/")
        for rt in self.registry.all():
            if (rt.group, rt.version, rt.kind) == (group, version, kind):
                return rt.group, rt.plural
        return None

    def _admit(
        self,
        req: exchange.Request,
        info: routing.RequestInfo,
        rt: resources.ResourceType,
        new: dict[str, Any],
        old: dict[str, Any] | None,
    ) -> None:
        """OwnerReferencesPermissionEnforcement (`authz.owner_checks`): the checks are
        recorded with the request; the enforced client is refused what RBAC denies."""
        request = authz.Attributes(
            verb=info.verb,
            group=rt.group,
            resource=rt.plural,
            subresource=info.subresource,
            namespace=str(new["metadata"].get("namespace") or "") if rt.namespaced else "",
            name=str(new["metadata"].get("name") or ""),
        )
        checks = authz.owner_checks(request, new, old, self._owner_resource)
        self._local.checks = [*getattr(self._local, "checks", []), *checks]
        enforcement = self._enforced(req)
        if enforcement is None or not checks:
            return
        policy = self._policy()
        for check in checks:
            alternative = check.alternative
            if authz.allowed(check.attributes, enforcement.subject, policy) or (
                alternative is not None and authz.allowed(alternative, enforcement.subject, policy)
            ):
                continue
            raise errors.Forbidden(
                authz.admission_denial(request, check),
                name=request.name,
                group=rt.group,
                kind=rt.plural,
            )

    def _authorize(
        self, req: exchange.Request, info: routing.RequestInfo, rt: resources.ResourceType
    ) -> None:
        enforcement = self._enforced(req)
        if enforcement is None:
            return
        policy = self._policy()
        attributes = authz.Attributes(
            verb=info.verb,
            group=info.group,
            resource=info.resource,
            subresource=info.subresource,
            namespace=info.namespace if rt.namespaced else "",
            name=info.name,
        )
        if not authz.allowed(attributes, enforcement.subject, policy):
            raise errors.Forbidden(
                authz.denial(attributes, enforcement.subject),
                name=info.name,
                group=info.group,
                kind=info.resource,
            )

    def _resource(self, req: exchange.Request, info: routing.RequestInfo) -> exchange.Outcome:
        rt = self.registry.lookup(info.group, info.version, info.resource)
        if rt is None or info.verb not in resources.ALL_VERBS:
            raise errors.NotFound("the server could not find the requested resource")
        if info.namespace and not rt.namespaced:
            raise errors.NotFound("the server could not find the requested resource")
        if info.subresource and (info.subresource != "status" or not rt.status_subresource):
            raise errors.NotFound("the server could not find the requested resource")
        if info.subresource and info.verb not in resources.STATUS_VERBS:
            raise errors.MethodNotAllowed(f"{info.verb} is not supported on {info.subresource}")
        if info.verb not in rt.verbs:
            raise errors.MethodNotAllowed(f"{info.verb} is not supported on {rt.plural}")
        if rt.namespaced and not info.namespace and info.verb not in ("list", "watch"):
            raise errors.NotFound("the server could not find the requested resource")

        self._authorize(req, info, rt)
        fault = self.injector.decide(verb=info.verb, user_agent=req.header("User-Agent"))
        if fault is faults.Fault.TIMEOUT:
            return exchange.Drop(hold_s=self.injector.faults.timeout_s + 0.25)
        if fault is faults.Fault.ERROR:
            raise errors.InternalError("Internal error occurred: injected by kubeemu")
        if fault is faults.Fault.CONFLICT:
            raise exchange.conflict(rt, info.name, exchange.STALE + " (injected by kubeemu)")
        if fault is faults.Fault.THROTTLE:
            raise errors.TooManyRequests(
                "Too many requests, please try again later.",
                retry_after_s=self.injector.faults.retry_after_s,
            )
        if fault is faults.Fault.UNAVAILABLE:
            raise errors.ServiceUnavailable(
                "the server is currently unable to handle the request (injected by kubeemu)"
            )

        handler = {
            "get": self.reads.get,
            "list": self.reads.list,
            "watch": self.reads.watch,
            "create": self.writes.create,
            "update": self.writes.update,
            "patch": self.writes.patch,
            "delete": self.writes.delete,
            "deletecollection": self.writes.delete_collection,
        }[info.verb]
        return handler(req, info, rt)
