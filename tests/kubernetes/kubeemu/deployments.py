"""The Deployment controller's part of a cluster (kube-controller-manager's Deployment
and ReplicaSet controllers, the kubelet, Pod Security admission) as a Deployment's
status shows it, with failure modes a test chooses per Deployment.

    emu.deployments.start(ready_after=0.0, time_scale=1.0)   # off until started
    emu.deployments.fail("image-pull", name="web-00002")     # or namespace=, selector=
    emu.deployments.heal(name="web-00002")                   # back to the normal path
    emu.deployments.stop()                                   # emu.stop() does it too

Once started, a thread follows the store's events (no HTTP: nothing in
`emu.requests`) and, for every Deployment, writes the status the real controllers
would converge to. The clock of a Deployment's progress starts when the controller
first sees its current template at its current replica count (a new template or a
scale resets it).

Modes (what a test picks; the normal path when none):
- normal: pods not ready for `ready_after` seconds, then ready: `Available=True
  MinimumReplicasAvailable`, `Progressing=True NewReplicaSetAvailable`, every count
  at `spec.replicas`.
- `hold`: pods made, never ready (a slow start a test ends with `heal`).
- `image-pull`, `progress-deadline`: pods made, never ready. The two are the same
  at the Deployment's level, as on a cluster: why pods are not ready (a container
  waiting `ImagePullBackOff`, a failing readiness probe) is only in the Pods, which
  are not modelled — the controller under test does not read Pods (no RBAC grant).
- `pod-security`: no pod can be made: `ReplicaFailure=True FailedCreate` with the
  admission's message (`pods "<name>" is forbidden: violates PodSecurity
  "restricted:latest": ...`), `replicas: 0`.
Every mode but the normal one ends, after `progressDeadlineSeconds × time_scale`
seconds without becoming available, with `Progressing=False
ProgressDeadlineExceeded` (`ReplicaSet "<name>-<hash>" has timed out progressing.`);
before that `Progressing=True ReplicaSetUpdated`, `Available=False
MinimumReplicasUnavailable`. A Deployment at `replicas: 0` is `Available=True` at
once. `observedGeneration` follows `metadata.generation`; zero
counts are left out, as the API server's `omitempty` does.

Deliberate deviations: no ReplicaSets and no Pods (only the Deployment's status);
no rolling update (a new template's pods replace the old ones at once).

Called by `server.py` (`Emulator.deployments`); uses `storage` and `objects` directly.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubeemu import errors, objects, resources, selectors, storage

__all__ = ["MODES", "DeploymentController"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
MODES = ("hold", "image-pull", "progress-deadline", "pod-security")
DEPLOYMENTS: storage.GroupResource = ("apps", "deployments")
_WAIT = 0.05  # seconds at most between looks (a test's new mode is seen this fast)


@dataclass(frozen=True)
class _Rule:
    mode: str
    namespace: str | None
    name: str | None
    selector: selectors.LabelSelector | None

    def matches(self, deployment: Obj) -> bool:
        meta = deployment["metadata"]
        if self.namespace is not None and meta.get("namespace") != self.namespace:
            return False
        if self.name is not None and meta.get("name") != self.name:
            return False
        return self.selector is None or self.selector.matches(deployment)


class DeploymentController:
    """Writes Deployment statuses and Pods as a cluster would (see the module docstring)."""

    def __init__(
        self,
        store: storage.Store,
        registry: resources.Registry,
        clock: Callable[[], datetime.datetime],
    ) -> None:
        self._store = store
        self._registry = registry
        self._clock = clock
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        # per Deployment: (uid, template hash, replicas) and since when (monotonic)
        self._since: dict[tuple[str, str], tuple[str, float]] = {}
        self._due: dict[tuple[str, str], float] = {}  # when a Deployment changes by itself
        self._everything = False  # look at every Deployment again (modes changed)
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self.ready_after = 0.0
        self.time_scale = 1.0

    # --- what a test calls ------------------------------------------------------------

    def start(self, *, ready_after: float = 0.0, time_scale: float = 1.0) -> None:
        """Run the controller: pods ready `ready_after` s after their Deployment is seen;
        progress deadlines last `progressDeadlineSeconds × time_scale` seconds."""
        self.ready_after, self.time_scale = ready_after, time_scale
        with self._lock:
            self._everything = True
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="kubeemu-deployments", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(10)
            if self._thread.is_alive():
                raise RuntimeError("the kubeemu Deployment controller did not stop")

    def fail(
        self,
        mode: str,
        *,
        name: str | None = None,
        namespace: str | None = None,
        selector: str | None = None,
    ) -> None:
        """Deployments matching (by name, namespace and/or label selector; existing ones
        and those made later) take `mode` (one of `MODES`)."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}: one of {', '.join(MODES)}")
        parsed = selectors.parse_label_selector(selector) if selector else None
        with self._lock:
            self._rules.insert(0, _Rule(mode, namespace, name, parsed))
            self._everything = True

    def hold(self, name: str, namespace: str | None = None) -> None:
        self.fail("hold", name=name, namespace=namespace)

    def heal(self, *, name: str | None = None, namespace: str | None = None) -> None:
        """Forget the modes given to `name` (in `namespace`; None: any): the normal path."""
        with self._lock:
            self._rules = [
                r
                for r in self._rules
                if not (r.name == name and (namespace is None or r.namespace == namespace))
            ]
            self._everything = True

    def mode_of(self, deployment: Obj) -> str | None:
        with self._lock:
            return next((r.mode for r in self._rules if r.matches(deployment)), None)

    # --- the loop -----------------------------------------------------------------------

    def _run(self) -> None:
        """Follow the store's events (a Deployment written), and the
        timers of the Deployments in progress; a full pass at first, after a change of
        modes and when the history has moved past us."""
        rv = -1
        while not self._stopped.is_set() and not self._store.closed:
            with self._lock:
                everything, self._everything = self._everything, False
            dirty: set[tuple[str, str]] = set()
            if rv < 0 or everything:
                rv = self._store.resource_version
                dirty = {_key(d) for d in self._store.list(DEPLOYMENTS)[0]}
            else:
                now = time.monotonic()
                wait = min([max(t - now, 0.0) for t in self._due.values()] + [_WAIT])
                try:
                    events = self._store.events_after(rv, timeout=wait)
                except errors.Expired:
                    rv = -1
                    continue
                for event in events:
                    rv = max(rv, event.rv)
                    dirty |= _touched(event)
                now = time.monotonic()
                dirty |= {k for k, t in self._due.items() if t <= now}
            for key in sorted(dirty):
                self._due.pop(key, None)
                with self._store.locked():
                    current = self._store.get(DEPLOYMENTS, *key)
                    if current is None:
                        self._since.pop(key, None)
                        continue
                    try:
                        self._reconcile(current)
                    except Exception:  # a bug here must show, not stop the thread
                        log.exception("kubeemu Deployment controller: %s/%s", *key)

    def _reconcile(self, dep: Obj) -> None:
        meta, spec = dep["metadata"], dep.get("spec") or {}
        key = _key(dep)
        want = int(spec.get("replicas", 1))
        template = spec.get("template") or {}
        digest = _template_hash(template)
        progress = f"{meta['uid']}/{digest}/{want}"
        now = time.monotonic()
        if self._since.get(key, ("", 0.0))[0] != progress:
            self._since[key] = (progress, now)
        since = self._since[key][1]
        mode = self.mode_of(dep)
        deadline = since + float(spec.get("progressDeadlineSeconds", 600)) * self.time_scale
        ready = want == 0 or (mode is None and now >= since + self.ready_after)
        expired = not ready and now >= deadline
        if not ready and not expired:  # look again when it changes by itself
            self._due[key] = since + self.ready_after if mode is None else deadline
        rs = f"{meta['name']}-{digest}"
        forbidden = mode == "pod-security" and want > 0
        status = _status(
            dep,
            want=want,
            running=0 if forbidden else want,
            ready=ready,
            rs=rs,
            expired=expired,
            forbidden=_forbidden(rs, meta["uid"], template) if forbidden else "",
            now=self._now(),
        )
        if _same(dep.get("status") or {}, status):
            return
        rt = self._type(DEPLOYMENTS)
        new = objects.prepare_update(rt, dep, {**dep, "status": status}, subresource="status")
        self._store.replace(DEPLOYMENTS, new)

    # --- helpers ----------------------------------------------------------------------

    def _type(self, gr: storage.GroupResource) -> resources.ResourceType:
        version = "v1"
        rt = self._registry.lookup(gr[0], version, gr[1])
        assert rt is not None
        return rt

    def _now(self) -> str:
        return self._clock().strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- what the status says ----------------------------------------------------------------


def _key(obj: Obj) -> tuple[str, str]:
    return (obj["metadata"].get("namespace") or "", obj["metadata"]["name"])


def _touched(event: storage.Event) -> set[tuple[str, str]]:
    """The Deployment an event is about."""
    return {_key(event.obj)} if event.group_resource == DEPLOYMENTS else set()


def _template_hash(template: Obj) -> str:
    text = json.dumps(template, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def _same(old: Obj, new: Obj) -> bool:
    """Equal but for the conditions' times (a status is rewritten only on a change)."""

    def strip(status: Obj) -> Obj:
        conditions = [
            {k: v for k, v in c.items() if not k.startswith("last")}
            for c in status.get("conditions") or []
        ]
        return {**status, "conditions": conditions}

    return strip(old) == strip(new)


def _status(
    dep: Obj,
    *,
    want: int,
    running: int,
    ready: bool,
    rs: str,
    expired: bool,
    forbidden: str,
    now: str,
) -> Obj:
    old = {c.get("type"): c for c in (dep.get("status") or {}).get("conditions") or []}

    def condition(type_: str, status: str, reason: str, message: str) -> Obj:
        before = old.get(type_) or {}
        changed = before.get("status") != status
        return {
            "type": type_,
            "status": status,
            "lastUpdateTime": now if before.get("reason") != reason else before["lastUpdateTime"],
            "lastTransitionTime": now if changed else before.get("lastTransitionTime", now),
            "reason": reason,
            "message": message,
        }

    available = want if ready else 0
    counts = {
        "replicas": running,
        "updatedReplicas": running,
        "readyReplicas": available,
        "availableReplicas": available,
        "unavailableReplicas": want - available,
    }
    status: Obj = {"observedGeneration": dep["metadata"].get("generation", 1)}
    status.update({k: v for k, v in counts.items() if v})
    if ready:
        available_c = condition(
            "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability."
        )
        progressing = condition(
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            f'ReplicaSet "{rs}" has successfully progressed.',
        )
    else:
        available_c = condition(
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
        )
        progressing = (
            condition(
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                f'ReplicaSet "{rs}" has timed out progressing.',
            )
            if expired
            else condition(
                "Progressing", "True", "ReplicaSetUpdated", f'ReplicaSet "{rs}" is progressing.'
            )
        )
    conditions = [available_c, progressing]
    if forbidden:
        conditions.append(condition("ReplicaFailure", "True", "FailedCreate", forbidden))
    status["conditions"] = conditions
    return status


def _containers(spec: Obj) -> list[Obj]:
    return [c for c in spec.get("containers") or [] if isinstance(c, dict)]


def _forbidden(rs: str, uid: str, template: Obj) -> str:
    """Pod Security admission's refusal of the template, for the `restricted` level."""
    names = [str(c.get("name")) for c in _containers(template.get("spec") or {})]
    quoted = ", ".join(f'"{n}"' for n in names)
    noun = "container" if len(names) == 1 else "containers"
    return (
        f'pods "{rs}-{uid[:5]}" is forbidden: violates PodSecurity'
        f' "restricted:latest": allowPrivilegeEscalation != false ({noun} {quoted} must set'
        " securityContext.allowPrivilegeEscalation=false), unrestricted capabilities"
        f' ({noun} {quoted} must set securityContext.capabilities.drop=["ALL"]),'
        f" runAsNonRoot != true (pod or {noun} {quoted} must set"
        " securityContext.runAsNonRoot=true), seccompProfile (pod or"
        f' {noun} {quoted} must set securityContext.seccompProfile.type to "RuntimeDefault"'
        ' or "Localhost")'
    )
