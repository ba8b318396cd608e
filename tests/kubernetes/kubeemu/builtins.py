"""Built-in types: the defaults the apiserver fills in, and the checks a controller can trip.

Built-ins are not validated against a schema, but a controller that compares what it
wants with what it reads back must see the apiserver's *defaults* (or it updates in a
loop on a real cluster), and one that writes a sloppy object must be refused as it
would be. So, for the built-ins the adapter writes:

- Deployment (`apps/v1`): `replicas: 1`, `strategy` RollingUpdate 25%/25%,
  `revisionHistoryLimit: 10`, `progressDeadlineSeconds: 600`; in the pod template
  `restartPolicy: Always`, `terminationGracePeriodSeconds: 30`,
  `dnsPolicy: ClusterFirst`, `securityContext: {}`, `schedulerName`,
  `metadata.creationTimestamp: null`; per container `terminationMessagePath`/`Policy`,
  `imagePullPolicy` (Always for `:latest` or no tag, else IfNotPresent),
  `resources: {}`, port `protocol: TCP`, probe timing (1s/10s/1/3) and
  `httpGet.scheme: HTTP`. Checked: a selector that matches the template's labels,
  at least one named container, and the selector is immutable.
- Service (`v1`): `type: ClusterIP`, `sessionAffinity: None`, port `protocol: TCP`,
  `targetPort` = `port`, `internalTrafficPolicy: Cluster`, single-stack IPv4, an
  allocated `clusterIP`/`clusterIPs` (kept when an update leaves them out; changing
  them is refused), NodePorts for NodePort/LoadBalancer; status
  `{loadBalancer: {}}`. Checked: ports (1–65535, named when several) unless headless
  or ExternalName.
- HorizontalPodAutoscaler (`autoscaling/v2`): `minReplicas: 1`, the 80% CPU metric
  when none is given; status `{desiredReplicas: 0, currentMetrics: null}`. Checked:
  `scaleTargetRef` kind and name, `1 <= minReplicas <= maxReplicas`.
- Event (core `v1`): an event with `eventTime` needs `reportingComponent`,
  `reportingInstance` and `action`; `involvedObject.namespace` must match.
  Event (`events.k8s.io/v1`): `eventTime`, `reportingController`,
  `reportingInstance`, `action`, `reason` and `type` Normal|Warning are required.
- ConfigMap: `data` is a map of strings with valid keys.
- Secret: `stringData` is folded into `data` (base64), `type` defaults to `Opaque`;
  `data` must be a map of base64 strings with valid keys.

Pure but for the ClusterIP/NodePort `Allocator` passed in. Called by `writes.py`
(defaults, checks) and `objects.py` (initial status).
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Callable
from typing import Any

from kubeemu import errors, selectors

__all__ = ["Allocator", "causes", "default", "initial_status"]

Obj = dict[str, Any]
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


class Allocator:
    """Hands out ClusterIPs (10.96.0.0/12) and NodePorts (30000–32767), never twice."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ip = 10
        self._port = 30000

    def cluster_ip(self) -> str:
        with self._lock:
            self._ip += 1
            return f"10.96.{self._ip // 256}.{self._ip % 256}"

    def node_port(self) -> int:
        with self._lock:
            self._port += 1
            return self._port


def initial_status(group_resource: tuple[str, str]) -> Obj:
    """The status a built-in with a status subresource starts with."""
    return {
        ("", "namespaces"): {"phase": "Active"},
        ("", "services"): {"loadBalancer": {}},
        ("autoscaling", "horizontalpodautoscalers"): {"desiredReplicas": 0, "currentMetrics": None},
    }.get(group_resource, {})


def _image_pull_policy(image: str) -> str:
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _default_probe(probe: Any) -> None:
    if not isinstance(probe, dict):
        return
    for key, value in (
        ("timeoutSeconds", 1),
        ("periodSeconds", 10),
        ("successThreshold", 1),
        ("failureThreshold", 3),
    ):
        probe.setdefault(key, value)
    if isinstance(probe.get("httpGet"), dict):
        probe["httpGet"].setdefault("scheme", "HTTP")


def _default_containers(containers: Any) -> None:
    for container in containers if isinstance(containers, list) else []:
        if not isinstance(container, dict):
            continue
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        if isinstance(container.get("image"), str):
            container.setdefault("imagePullPolicy", _image_pull_policy(container["image"]))
        container.setdefault("resources", {})
        for port in container.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            _default_probe(container.get(probe))


def _default_deployment(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    template = spec.get("template")
    if not isinstance(template, dict):
        return
    template.setdefault("metadata", {}).setdefault("creationTimestamp", None)
    pod = template.setdefault("spec", {})
    pod.setdefault("restartPolicy", "Always")
    pod.setdefault("terminationGracePeriodSeconds", 30)
    pod.setdefault("dnsPolicy", "ClusterFirst")
    pod.setdefault("securityContext", {})
    pod.setdefault("schedulerName", "default-scheduler")
    _default_containers(pod.get("containers"))
    _default_containers(pod.get("initContainers"))


def _default_service(obj: Obj, old: Obj | None, allocator: Allocator) -> None:
    spec = obj.setdefault("spec", {})
    old_spec = (old or {}).get("spec") or {}
    kind = spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    old_ports = {p.get("port"): p for p in old_spec.get("ports") or [] if isinstance(p, dict)}
    for port in spec.get("ports") or []:
        if not isinstance(port, dict):
            continue
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))
        if kind in ("NodePort", "LoadBalancer") and not port.get("nodePort"):
            previous = old_ports.get(port.get("port"), {}).get("nodePort")
            port["nodePort"] = previous or allocator.node_port()
    if kind == "ExternalName":
        return
    spec.setdefault("internalTrafficPolicy", "Cluster")
    if kind in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if not spec.get("clusterIP"):
        spec["clusterIP"] = old_spec.get("clusterIP") or allocator.cluster_ip()
    spec.setdefault("clusterIPs", old_spec.get("clusterIPs") or [spec["clusterIP"]])
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")


def _default_hpa(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("minReplicas", 1)
    if not spec.get("metrics"):
        spec["metrics"] = [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 80},
                },
            }
        ]


def default(
    group_resource: tuple[str, str], obj: Obj, old: Obj | None, allocator: Allocator
) -> None:
    """Fill the apiserver's defaults into a built-in object being written (in place)."""
    if not isinstance(obj.get("spec", {}), dict):
        return
    if group_resource == ("apps", "deployments"):
        _default_deployment(obj)
    elif group_resource == ("", "services"):
        _default_service(obj, old, allocator)
    elif group_resource == ("autoscaling", "horizontalpodautoscalers"):
        _default_hpa(obj)
    elif group_resource == ("", "secrets"):
        _default_secret(obj)


def _default_secret(obj: Obj) -> None:
    obj.setdefault("type", "Opaque")
    plain = obj.pop("stringData", None)
    if isinstance(plain, dict) and plain:
        data = obj.get("data") if isinstance(obj.get("data"), dict) else {}
        encoded = {k: base64.b64encode(str(v).encode()).decode() for k, v in plain.items()}
        obj["data"] = {**data, **encoded}


def _cause(field: str, message: str, reason: str = "FieldValueInvalid") -> errors.Cause:
    return errors.Cause(field, message, reason)


def _required(field: str) -> errors.Cause:
    return errors.Cause(field, "Required value", "FieldValueRequired")


def _deployment_causes(obj: Obj, old: Obj | None) -> list[errors.Cause]:
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    found: list[errors.Cause] = []
    selector = spec.get("selector")
    template = spec.get("template") if isinstance(spec.get("template"), dict) else {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if not isinstance(selector, dict) or not (
        selector.get("matchLabels") or selector.get("matchExpressions")
    ):
        found.append(_required("spec.selector"))
    else:
        wanted = selector.get("matchLabels") or {}
        if any(labels.get(k) != v for k, v in wanted.items()):
            found.append(
                _cause(
                    "spec.template.metadata.labels",
                    f"Invalid value: {labels}: `selector` does not match template `labels`",
                )
            )
        old_selector = ((old or {}).get("spec") or {}).get("selector")
        if old is not None and old_selector != selector:
            found.append(_cause("spec.selector", f"Invalid value: {selector}: field is immutable"))
    containers = (template.get("spec") or {}).get("containers")
    if not isinstance(containers, list) or not containers:
        found.append(_required("spec.template.spec.containers"))
    else:
        for n, container in enumerate(containers):
            if not isinstance(container, dict) or not container.get("name"):
                found.append(_required(f"spec.template.spec.containers[{n}].name"))
    return found


def _service_causes(obj: Obj, old: Obj | None) -> list[errors.Cause]:
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    found: list[errors.Cause] = []
    old_ip = ((old or {}).get("spec") or {}).get("clusterIP")
    if old_ip and spec.get("clusterIP") != old_ip:
        found.append(
            _cause(
                "spec.clusterIPs[0]",
                f"Invalid value: {spec.get('clusterIP')!r}: field is immutable",
            )
        )
    ports = spec.get("ports") or []
    if not ports and spec.get("type") != "ExternalName" and spec.get("clusterIP") != "None":
        found.append(_required("spec.ports"))
    for n, port in enumerate(ports):
        number = port.get("port") if isinstance(port, dict) else None
        if not isinstance(number, int) or not 1 <= number <= 65535:
            found.append(
                _cause(f"spec.ports[{n}].port", f"Invalid value: {number!r}: must be 1-65535")
            )
        if len(ports) > 1 and isinstance(port, dict) and not port.get("name"):
            found.append(_required(f"spec.ports[{n}].name"))
    return found


def _hpa_causes(obj: Obj) -> list[errors.Cause]:
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    found: list[errors.Cause] = []
    target = spec.get("scaleTargetRef") if isinstance(spec.get("scaleTargetRef"), dict) else {}
    for key in ("kind", "name"):
        if not target.get(key):
            found.append(_required(f"spec.scaleTargetRef.{key}"))
    high, low = spec.get("maxReplicas"), spec.get("minReplicas", 1)
    if not isinstance(high, int) or high < 1:
        found.append(_cause("spec.maxReplicas", f"Invalid value: {high!r}: must be at least 1"))
    elif not isinstance(low, int) or not 1 <= low <= high:
        found.append(
            _cause("spec.minReplicas", f"Invalid value: {low!r}: must be in 1..maxReplicas")
        )
    return found


def _event_causes(obj: Obj, *, core: bool) -> list[errors.Cause]:
    found: list[errors.Cause] = []
    namespace = (obj.get("metadata") or {}).get("namespace")
    controller = "reportingComponent" if core else "reportingController"
    if core:
        involved = obj.get("involvedObject") if isinstance(obj.get("involvedObject"), dict) else {}
        if not obj.get("involvedObject"):
            found.append(_required("involvedObject"))
        elif involved.get("namespace") and involved["namespace"] != namespace:
            found.append(
                _cause(
                    "involvedObject.namespace",
                    f"Invalid value: {involved['namespace']!r}: does not match event.namespace",
                )
            )
        if not obj.get("eventTime"):
            return found
    else:
        if not obj.get("eventTime"):
            found.append(_required("eventTime"))
        if not obj.get("reason"):
            found.append(_required("reason"))
        if obj.get("type") not in ("Normal", "Warning"):
            found.append(
                errors.Cause(
                    "type",
                    f"Unsupported value: {obj.get('type')!r}:"
                    ' supported values: "Normal", "Warning"',
                    "FieldValueNotSupported",
                )
            )
    value = obj.get(controller)
    if not value:
        found.append(_required(controller))
    elif not isinstance(value, str) or not selectors.valid_label_key(value):
        found.append(_cause(controller, f"Invalid value: {value!r}: must be a qualified name"))
    for key in ("reportingInstance", "action"):
        if not obj.get(key):
            found.append(_required(key))
    return found


def _configmap_causes(obj: Obj) -> list[errors.Cause]:
    data = obj.get("data")
    if data is None:
        return []
    if not isinstance(data, dict):
        return [_cause("data", "Invalid value: must be a map of strings")]
    found = []
    for key, value in data.items():
        if not _CONFIG_KEY.match(key) or len(key) > 253:
            found.append(_cause("data", f'Invalid value: "{key}": a valid config key'))
        if not isinstance(value, str):
            found.append(_cause(f"data[{key}]", f"Invalid value: {value!r}: must be a string"))
    return found


def _secret_causes(obj: Obj) -> list[errors.Cause]:
    data = obj.get("data")
    if data is None:
        return []
    if not isinstance(data, dict):
        return [_cause("data", "Invalid value: must be a map of base64 strings")]
    found = []
    for key, value in data.items():
        if not _CONFIG_KEY.match(key) or len(key) > 253:
            found.append(_cause("data", f'Invalid value: "{key}": a valid config key'))
        try:
            base64.b64decode(value, validate=True)
        except (TypeError, ValueError):
            found.append(_cause(f"data[{key}]", "Invalid value: must be base64"))
    return found


def causes(group_resource: tuple[str, str], obj: Obj, old: Obj | None) -> list[errors.Cause]:
    """What the apiserver's validation of this built-in would refuse (empty: fine)."""
    check: dict[tuple[str, str], Callable[[], list[errors.Cause]]] = {
        ("apps", "deployments"): lambda: _deployment_causes(obj, old),
        ("", "services"): lambda: _service_causes(obj, old),
        ("autoscaling", "horizontalpodautoscalers"): lambda: _hpa_causes(obj),
        ("", "events"): lambda: _event_causes(obj, core=True),
        ("events.k8s.io", "events"): lambda: _event_causes(obj, core=False),
        ("", "configmaps"): lambda: _configmap_causes(obj),
        ("", "secrets"): lambda: _secret_causes(obj),
    }
    run = check.get(group_resource)
    return run() if run is not None else []
