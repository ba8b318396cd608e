"""A gateway controller for the emulator: accepts or refuses HTTPRoutes and says so in
their `status.parents`, as a Gateway API implementation does.

    gw = GatewayController(emu, {"default/public": ACCEPT})   # thread started
    gw.set("default/public", Refuse("NotAllowedByListeners", "no listener allows ..."))
    gw.stop()

Tests choose which Gateways exist: a key `NAMESPACE/NAME` (or `*/NAME`: that name in
every namespace) mapped to `ACCEPT` or to a `Refuse(reason, message)`. For each
`parentRef` of an HTTPRoute that names a known Gateway the controller writes one
`status.parents` entry (its `controllerName`, the parentRef as written) with the
conditions `Accepted` (False with the refusal's reason and message for a refusing
Gateway) and `ResolvedRefs` (False, `BackendNotFound`, when a backendRef — or the
backendRef of a rule's RequestMirror filter — names a Service that does not exist in
its namespace), each with `observedGeneration` = the
route's `metadata.generation`. A parentRef naming an unknown Gateway gets no entry
(no controller owns it), as on a cluster. Entries of other controllers are kept.

Like a controller on a cluster it reacts within moments, not at once: it lists
HTTPRoutes over HTTP (as `gateway-controller`, so injected faults reach it too: it
tries again) every `interval` seconds, and writes a status only when it changed
(`emu.set_status`, so watchers see it; `lastTransitionTime` kept while a
condition's status stays). Services are looked up directly (`emu.get_object`), so a
backend Service created later resolves on the next round.

Test support; no change to the emulator's core. Used by the `cluster` fixture and
the route-acceptance tests.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import threading
from typing import TYPE_CHECKING, Any

from kubernetes import client

if TYPE_CHECKING:
    from kubeemu.server import Emulator

__all__ = ["ACCEPT", "CONTROLLER_NAME", "Accept", "GatewayController", "Refuse"]

GROUP = "gateway.networking.k8s.io"
CONTROLLER_NAME = "example.net/emulated-gateway"


@dataclasses.dataclass(frozen=True)
class Accept:
    """The Gateway accepts routes."""


@dataclasses.dataclass(frozen=True)
class Refuse:
    """The Gateway refuses routes with this reason and message (`Accepted=False`)."""

    reason: str = "NotAllowedByListeners"
    message: str = "no listener of the Gateway allows this route"


ACCEPT = Accept()
Verdict = Accept | Refuse


class GatewayController:
    """Writes `status.parents` of every HTTPRoute naming a Gateway it knows."""

    def __init__(
        self,
        emu: Emulator,
        gateways: dict[str, Verdict] | None = None,
        *,
        interval: float = 0.05,
    ) -> None:
        self.emu = emu
        self.interval = interval
        self._gateways = dict(gateways or {})
        self._lock = threading.Lock()
        self._api = client.CustomObjectsApi(emu.api_client(user_agent="gateway-controller"))
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gateway-controller")
        self._thread.start()

    def set(self, gateway: str, verdict: Verdict | None) -> None:
        """Make Gateway `NAMESPACE/NAME` (or `*/NAME`) accept, refuse, or (None) vanish."""
        with self._lock:
            if verdict is None:
                self._gateways.pop(gateway, None)
            else:
                self._gateways[gateway] = verdict

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(10)
        assert not self._thread.is_alive(), "the gateway controller did not stop"

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            try:
                raw = self._api.list_cluster_custom_object(
                    GROUP, "v1", "httproutes", _preload_content=False
                )
                routes = json.loads(raw.data)["items"]
            except Exception:  # an injected fault, or the emulator stopping: next round
                continue
            for route in routes:
                self._reconcile(route)

    def _reconcile(self, route: dict[str, Any]) -> None:
        meta = route["metadata"]
        namespace = meta.get("namespace") or "default"
        ours = [
            self._entry(route, ref, verdict)
            for ref in (route.get("spec") or {}).get("parentRefs") or []
            if (verdict := self._verdict(ref, namespace)) is not None
        ]
        old = route.get("status") or {}
        others = [p for p in old.get("parents") or [] if p.get("controllerName") != CONTROLLER_NAME]
        mine = [p for p in old.get("parents") or [] if p.get("controllerName") == CONTROLLER_NAME]
        if _bare(mine) == _bare(ours):
            return
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for entry in ours:
            before = next((p for p in mine if p["parentRef"] == entry["parentRef"]), None)
            for cond in entry["conditions"]:
                kept = _condition(before, cond["type"])
                same = kept is not None and kept.get("status") == cond["status"]
                cond["lastTransitionTime"] = kept["lastTransitionTime"] if same else now
        if not ours and not others:
            status: dict[str, Any] = {"parents": []}
        else:
            status = {"parents": [*others, *ours]}
        with contextlib.suppress(LookupError):  # deleted meanwhile
            self.emu.set_status(GROUP, "v1", "httproutes", namespace, meta["name"], status)

    def _verdict(self, ref: dict[str, Any], namespace: str) -> Verdict | None:
        if ref.get("group", GROUP) != GROUP or ref.get("kind", "Gateway") != "Gateway":
            return None
        where = ref.get("namespace") or namespace
        with self._lock:
            return self._gateways.get(f"{where}/{ref.get('name')}") or self._gateways.get(
                f"*/{ref.get('name')}"
            )

    def _entry(self, route: dict[str, Any], ref: dict[str, Any], verdict: Verdict) -> dict:
        generation = route["metadata"].get("generation", 1)
        namespace = route["metadata"].get("namespace") or "default"
        if isinstance(verdict, Refuse):
            accepted = ("False", verdict.reason, verdict.message)
        else:
            accepted = ("True", "Accepted", "the route is attached to the Gateway")
        missing = self._missing_backends(route, namespace)
        if missing:
            resolved = ("False", "BackendNotFound", f"Service {missing[0]} does not exist")
        else:
            resolved = ("True", "ResolvedRefs", "every reference is resolved")
        return {
            "parentRef": ref,
            "controllerName": CONTROLLER_NAME,
            "conditions": [
                {
                    "type": type_,
                    "status": status,
                    "reason": reason,
                    "message": message,
                    "observedGeneration": generation,
                }
                for type_, (status, reason, message) in (
                    ("Accepted", accepted),
                    ("ResolvedRefs", resolved),
                )
            ],
        }

    def _missing_backends(self, route: dict[str, Any], namespace: str) -> list[str]:
        missing = []
        for rule in (route.get("spec") or {}).get("rules") or []:
            mirrors = [
                (f.get("requestMirror") or {}).get("backendRef") or {}
                for f in rule.get("filters") or []
                if f.get("type") == "RequestMirror"
            ]
            for ref in [*(rule.get("backendRefs") or []), *mirrors]:
                if ref.get("group", "") != "" or ref.get("kind", "Service") != "Service":
                    continue
                where = ref.get("namespace") or namespace
                if self.emu.get_object("", "v1", "services", where, ref["name"]) is None:
                    missing.append(f"{where}/{ref['name']}")
        return missing


def _condition(entry: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    if entry is None:
        return None
    return next((c for c in entry.get("conditions") or [] if c.get("type") == type_), None)


def _bare(entries: list[dict[str, Any]]) -> list[Any]:
    """Entries without their transition times, for comparing."""
    return [
        (
            e.get("parentRef"),
            [
                {k: v for k, v in c.items() if k != "lastTransitionTime"}
                for c in e.get("conditions") or []
            ],
        )
        for e in entries
    ]
