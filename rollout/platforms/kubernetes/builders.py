"""Pure builders of the Kubernetes objects behind Revisions and Routes, and readers of
what the API server stored.

    Revision → apps/v1 Deployment + v1 Service (+ autoscaling/v2 HorizontalPodAutoscaler)
    Route    → v1 Service named after the service (the stable Service)
               + gateway.networking.k8s.io/v1 HTTPRoute or networking.istio.io VirtualService
    (any)    → core v1 Event

Objects are plain dicts in the JSON the API server expects (camelCase), owned by
their Revision or Route (`ownerReferences`, so the garbage collector removes them)
and labelled `rollout.dev/service`, `rollout.dev/revision` and
`app.kubernetes.io/managed-by: rollout`. Fields the API server would default are
written out where a read-back compares them (HTTPRoute matches, kinds, weights).

Decisions:
- The serving port is the first container's first `containerPort`, else 8080
  (declared on the container when absent), and `PORT` is set to it unless the
  template sets `PORT` — as on the local platform, where the first container serves.
- The stable Service selects the pods of the route's *primary* revision (highest
  percent, the first listed on a tie), not every pod of the service: selecting on
  `rollout.dev/service` would split in-cluster traffic by pod count, ignoring the
  weights. The weighted split applies to what passes through the gateway (or the
  mesh); in-cluster clients without a mesh reach the primary revision. With no
  traffic at all it selects nothing (a revision label of "" matches no pod).
- A target at 0% is not a weighted backend (a tag still reaches it). When no target
  carries traffic, the catch-all rule stays, with no backend (HTTPRoute: the gateway
  answers 500) or with a 100% abort (VirtualService: 503, since Istio requires a
  destination on every route): dropping the rule would let requests fall through
  to another route on the same hostname.
- Tag routes come first and match the header `Rollout-Tag: <tag>` exactly. Gateway
  API ranks header matches above plain ones anyway; Istio takes routes in order and
  requires lower-case header names (`rollout-tag`; HTTP header names are
  case-insensitive, so clients may send `Rollout-Tag`).
- Read-back (`applied_from_*`) reports what a stored object splits, for drift
  detection: weights are turned into percents summing to 100 (largest remainder);
  a tag's URL is the route's first concrete hostname/host (send the header there),
  None without one.

No I/O, no client import, no clock: `now` is passed in. Called by the Kubernetes
runtime and router adapters; table-tested in tests/unit/kubernetes/test_builders.py.
At ~700 lines (mostly object literals) it is longer than our usual module: each
builder and its read-back share names and shapes that are easier to check side by
side, and the adapters call one module, `builders`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from rollout.api import kinds, names, revision, route, routing, split, workload
from rollout.platforms import ports

__all__ = [
    "CLUSTER_DOMAIN",
    "DEFAULT_CPU_TARGET",
    "DEFAULT_PORT",
    "LABEL_MANAGED_BY",
    "LABEL_REVISION",
    "LABEL_SERVICE",
    "MANAGED_BY",
    "TAG_HEADER",
    "EventSubject",
    "applied_from_httproute",
    "applied_from_virtualservice",
    "container_port",
    "deployment_state",
    "httproute_url",
    "make_deployment",
    "make_event",
    "make_hpa",
    "make_httproute",
    "make_revision_service",
    "make_stable_service",
    "make_virtualservice",
    "primary_revision",
    "service_host",
    "virtualservice_url",
]

Obj = dict[str, Any]

LABEL_SERVICE = names.SERVICE_LABEL
LABEL_REVISION = names.REVISION_LABEL
LABEL_MANAGED_BY = names.MANAGED_BY_LABEL
MANAGED_BY = names.MANAGED_BY
TAG_HEADER = names.TAG_HEADER
CLUSTER_DOMAIN = names.CLUSTER_DOMAIN
DEFAULT_PORT = 8080
DEFAULT_CPU_TARGET = 80
SERVICE_PORT = 80
EVENT_NOTE_LIMIT = 1024  # the API server's limit for events.k8s.io notes


# ---- names and shared pieces ----------------------------------------------------


def service_host(name: str, namespace: str, cluster_domain: str = CLUSTER_DOMAIN) -> str:
    """The cluster DNS name of a v1 Service: `<name>.<namespace>.svc.<domain>`."""
    return f"{name}.{namespace}.svc.{cluster_domain}"


def _namespace(obj: kinds.Resource) -> str:
    return obj.metadata.namespace or "default"


def _owner(obj: kinds.Resource) -> Obj:
    if not obj.metadata.uid:
        raise ValueError(f"{obj.kind} {obj.metadata.name!r} has no uid: owners must be stored")
    return {
        "apiVersion": obj.api_version,
        "kind": obj.kind,
        "name": obj.metadata.name,
        "uid": obj.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _metadata(name: str, owner: kinds.Resource, labels: Mapping[str, str]) -> Obj:
    return {
        "name": name,
        "namespace": _namespace(owner),
        "labels": dict(labels),
        "ownerReferences": [_owner(owner)],
    }


def _revision_labels(rev: revision.Revision) -> dict[str, str]:
    """Template labels first, ours last so that a template cannot override them."""
    meta = rev.spec.template.metadata
    return {
        **(meta.labels if meta else {}),
        LABEL_SERVICE: rev.spec.service,
        LABEL_REVISION: rev.metadata.name,
        LABEL_MANAGED_BY: MANAGED_BY,
    }


def _route_labels(rt: route.Route) -> dict[str, str]:
    return {LABEL_SERVICE: rt.spec.service, LABEL_MANAGED_BY: MANAGED_BY}


# ---- Revision: Deployment, Service, HPA -----------------------------------------


def container_port(template: workload.WorkloadTemplate) -> int:
    """The serving port: the first container's first containerPort, else 8080."""
    ports_ = template.containers[0].ports if template.containers else []
    return ports_[0].container_port if ports_ else DEFAULT_PORT


def make_deployment(rev: revision.Revision) -> Obj:
    """The Deployment that runs a revision's pods (replicas = scaling.minReplicas).

    Raises ValueError when a container has no image (valid locally, not here)."""
    template = rev.spec.template
    missing = [c.name for c in template.containers if not c.image]
    if missing:
        raise ValueError(f"container(s) {', '.join(missing)} have no image: Kubernetes needs one")
    labels = _revision_labels(rev)
    port = container_port(template)
    pod_meta: Obj = {"labels": labels}
    if template.metadata and template.metadata.annotations:
        pod_meta["annotations"] = dict(template.metadata.annotations)
    containers = [
        _container(c, serving_port=port if i == 0 else None, probe_port=port)
        for i, c in enumerate(template.containers)
    ]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(rev.metadata.name, rev, labels),
        "spec": {
            "replicas": template.scaling.min_replicas if template.scaling else 1,
            "selector": {"matchLabels": {LABEL_REVISION: rev.metadata.name}},
            "progressDeadlineSeconds": max(1, int(rev.spec.progress_deadline.total_seconds())),
            "template": {"metadata": pod_meta, "spec": {"containers": containers}},
        },
    }


def _container(c: workload.Container, *, serving_port: int | None, probe_port: int) -> Obj:
    out: Obj = {"name": c.name, "image": c.image}
    if c.command:
        out["command"] = list(c.command)
    if c.args:
        out["args"] = list(c.args)
    if c.working_dir:
        out["workingDir"] = c.working_dir
    env = [{"name": e.name, "value": e.value} for e in c.env]
    if serving_port is not None and all(e.name != "PORT" for e in c.env):
        env.append({"name": "PORT", "value": str(serving_port)})
    if env:
        out["env"] = env
    declared = [
        {"containerPort": p.container_port, "protocol": p.protocol, **_named(p.name)}
        for p in c.ports
    ]
    if serving_port is not None and not declared:
        declared = [{"containerPort": serving_port, "protocol": "TCP", "name": "http"}]
    if declared:
        out["ports"] = declared
    if c.readiness_probe is not None:
        own = c.ports[0].container_port if c.ports else probe_port
        out["readinessProbe"] = _probe(c.readiness_probe, default_port=own)
    if c.resources is not None and (c.resources.requests or c.resources.limits):
        out["resources"] = {
            key: dict(value)
            for key, value in (("requests", c.resources.requests), ("limits", c.resources.limits))
            if value
        }
    return out


def _named(name: str | None) -> Obj:
    return {"name": name} if name else {}


def _probe(probe: workload.Probe, *, default_port: int) -> Obj:
    """The probe's port defaults to the container's own port (the pod shares one network)."""
    return {
        "httpGet": {"path": probe.http_get.path, "port": probe.http_get.port or default_port},
        "initialDelaySeconds": probe.initial_delay_seconds,
        "periodSeconds": probe.period_seconds,
        "timeoutSeconds": probe.timeout_seconds,
        "failureThreshold": probe.failure_threshold,
    }


def make_revision_service(rev: revision.Revision) -> Obj:
    """The v1 Service of one revision: port 80 → its serving port, on its pods only."""
    return _service(
        rev.metadata.name,
        rev,
        _revision_labels(rev),
        selector={LABEL_REVISION: rev.metadata.name},
        target_port=container_port(rev.spec.template),
    )


def _service(
    name: str,
    owner: kinds.Resource,
    labels: Mapping[str, str],
    *,
    selector: Mapping[str, str],
    target_port: int,
) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(name, owner, labels),
        "spec": {
            "type": "ClusterIP",
            "selector": dict(selector),
            "ports": [
                {"name": "http", "port": SERVICE_PORT, "targetPort": target_port, "protocol": "TCP"}
            ],
        },
    }


def make_hpa(rev: revision.Revision) -> Obj | None:
    """An HPA on CPU utilization when `scaling.maxReplicas` > `minReplicas`, else None.

    The target defaults to 80% (0, meaningless for an HPA, counts as unset); it needs
    CPU requests on the containers to measure against."""
    scaling = rev.spec.template.scaling
    if scaling is None or scaling.max_replicas is None:
        return None
    if scaling.max_replicas <= scaling.min_replicas:
        return None
    target = scaling.target_cpu_utilization_percentage or DEFAULT_CPU_TARGET
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(rev.metadata.name, rev, _revision_labels(rev)),
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": rev.metadata.name,
            },
            "minReplicas": scaling.min_replicas,
            "maxReplicas": scaling.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": target},
                    },
                }
            ],
        },
    }


def deployment_state(
    deployment: Obj, now: datetime, *, cluster_domain: str = CLUSTER_DOMAIN
) -> ports.RuntimeState:
    """What a stored Deployment says about its revision.

    Only a status that has observed the current generation counts. Reasons: `Ready`
    (available and updated replicas reach spec.replicas), `ProgressDeadlineExceeded`
    (the Deployment controller gave up: failed), `ReplicaFailure` (pods cannot be
    created, e.g. quota), `Unavailable` (it had completed, then lost pods), else
    `Starting`. `now` only words the message of a Deployment that no Deployment
    controller observed within its progress deadline."""
    meta = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    name = str(meta.get("name", ""))
    host = service_host(name, str(meta.get("namespace") or "default"), cluster_domain)
    want = _count(spec.get("replicas"), 1)
    available = _count(status.get("availableReplicas"))
    updated = _count(status.get("updatedReplicas"))
    counts: Obj = {
        "replicas": _count(status.get("replicas")),
        "ready_replicas": _count(status.get("readyReplicas")),
        "url": f"http://{host}",
    }
    generation, observed = meta.get("generation"), status.get("observedGeneration")
    if not isinstance(observed, int) or (isinstance(generation, int) and observed < generation):
        return ports.RuntimeState(False, "Starting", _unobserved(deployment, now), **counts)
    if available >= want and updated >= want:
        return ports.RuntimeState(True, "Ready", "", **counts)
    conditions = {c.get("type"): c for c in status.get("conditions") or [] if isinstance(c, dict)}
    progressing = conditions.get("Progressing") or {}
    if progressing.get("status") == "False" and (
        progressing.get("reason") == "ProgressDeadlineExceeded"
    ):
        message = progressing.get("message") or f"{name} did not progress within its deadline"
        return ports.RuntimeState(False, "ProgressDeadlineExceeded", message, failed=True, **counts)
    failure = conditions.get("ReplicaFailure") or {}
    if failure.get("status") == "True":
        message = failure.get("message") or failure.get("reason") or "pods cannot be created"
        return ports.RuntimeState(False, "ReplicaFailure", message, **counts)
    message = f"{available}/{want} replicas available"
    if updated < want:
        message += f", {updated}/{want} updated"
    if progressing.get("reason") == "NewReplicaSetAvailable":
        detail = (conditions.get("Available") or {}).get("message")
        return ports.RuntimeState(
            False, "Unavailable", f"{message}: {detail}" if detail else message, **counts
        )
    return ports.RuntimeState(False, "Starting", message, **counts)


def _count(value: object, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _unobserved(deployment: Obj, now: datetime) -> str:
    waiting = "waiting for the Deployment controller to observe the latest generation"
    created = _timestamp((deployment.get("metadata") or {}).get("creationTimestamp"))
    deadline = _count((deployment.get("spec") or {}).get("progressDeadlineSeconds"), 600)
    if created is None or (now - created).total_seconds() < deadline:
        return waiting
    return (
        f"no Deployment controller has observed it within {deadline}s:"
        " is kube-controller-manager running?"
    )


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# ---- Route: stable Service, HTTPRoute, VirtualService ---------------------------


def primary_revision(rt: route.Route) -> str | None:
    """The revision with the highest percent (the first listed on a tie); None: no traffic."""
    best: split.TrafficTarget | None = None
    for target in rt.spec.traffic:
        if target.percent > 0 and (best is None or target.percent > best.percent):
            best = target
    return best.revision_name if best else None


def make_stable_service(rt: route.Route, *, port: int) -> Obj:
    """The v1 Service named after the service, on the primary revision's pods.

    `port` is the primary revision's serving port (`container_port` of its template)."""
    primary = primary_revision(rt)
    return _service(
        rt.spec.service,
        rt,
        _route_labels(rt),
        selector={LABEL_SERVICE: rt.spec.service, LABEL_REVISION: primary or ""},
        target_port=port,
    )


def _weighted(rt: route.Route) -> list[split.TrafficTarget]:
    return [t for t in rt.spec.traffic if t.percent > 0]


def _tagged(rt: route.Route) -> list[tuple[str, str]]:
    return [(t.tag, t.revision_name) for t in rt.spec.traffic if t.tag]


def make_httproute(rt: route.Route, *, backend_port: int = SERVICE_PORT) -> Obj:
    """A Gateway API HTTPRoute: a rule per tag, then the weighted catch-all rule."""
    spec_routing = rt.spec.routing or routing.Routing()
    every_path = {"path": {"type": "PathPrefix", "value": "/"}}

    def backend(name: str, weight: int) -> Obj:
        return {
            "group": "",
            "kind": "Service",
            "name": name,
            "port": backend_port,
            "weight": weight,
        }

    rules: list[Obj] = [
        {
            "matches": [
                {**every_path, "headers": [{"type": "Exact", "name": TAG_HEADER, "value": tag}]}
            ],
            "backendRefs": [backend(name, 1)],  # the only backend: all of the tag's requests
        }
        for tag, name in _tagged(rt)
    ]
    rules.append(
        {
            "matches": [every_path],
            "backendRefs": [backend(t.revision_name, t.percent) for t in _weighted(rt)],
        }
    )
    spec: Obj = {}
    if spec_routing.parent_refs:
        spec["parentRefs"] = [_parent_ref(p) for p in spec_routing.parent_refs]
    if spec_routing.hostnames:
        spec["hostnames"] = list(spec_routing.hostnames)
    spec["rules"] = rules
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": _metadata(rt.spec.service, rt, _route_labels(rt)),
        "spec": spec,
    }


def _parent_ref(ref: routing.ParentRef) -> Obj:
    out: Obj = {"group": ref.group, "kind": ref.kind, "name": ref.name}
    if ref.namespace:
        out["namespace"] = ref.namespace
    if ref.section_name:
        out["sectionName"] = ref.section_name
    return out


def make_virtualservice(
    rt: route.Route, *, backend_port: int = SERVICE_PORT, cluster_domain: str = CLUSTER_DOMAIN
) -> Obj:
    """An Istio VirtualService: a route per tag, then the weighted route.

    Hosts default to the stable Service's cluster DNS name; gateways are passed as
    given (none: the mesh's sidecars only)."""
    spec_routing = rt.spec.routing or routing.Routing()
    namespace = _namespace(rt)

    def destination(name: str, weight: int) -> Obj:
        host = service_host(name, namespace, cluster_domain)
        return {"destination": {"host": host, "port": {"number": backend_port}}, "weight": weight}

    http: list[Obj] = [
        {
            "name": f"tag-{tag}",
            "match": [{"headers": {TAG_HEADER.lower(): {"exact": tag}}}],
            "route": [destination(name, 100)],
        }
        for tag, name in _tagged(rt)
    ]
    weighted = _weighted(rt)
    if weighted:
        http.append(
            {
                "name": "weighted",
                "route": [destination(t.revision_name, t.percent) for t in weighted],
            }
        )
    else:  # every route needs a destination: this one is never reached
        http.append(
            {
                "name": "no-traffic",
                "fault": {"abort": {"httpStatus": 503, "percentage": {"value": 100.0}}},
                "route": [destination(rt.spec.service, 100)],
            }
        )
    spec: Obj = {
        "hosts": list(spec_routing.hosts)
        or [service_host(rt.spec.service, namespace, cluster_domain)]
    }
    if spec_routing.gateways:
        spec["gateways"] = list(spec_routing.gateways)
    spec["http"] = http
    return {
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "VirtualService",
        "metadata": _metadata(rt.spec.service, rt, _route_labels(rt)),
        "spec": spec,
    }


# ---- read-back ------------------------------------------------------------------


def httproute_url(obj: Obj) -> str | None:
    """`http://<first hostname>` of a stored HTTPRoute; None without a concrete one."""
    return _url((obj.get("spec") or {}).get("hostnames") or [])


def virtualservice_url(obj: Obj) -> str | None:
    """`http://<first host>` of a stored VirtualService; None without a concrete one."""
    return _url((obj.get("spec") or {}).get("hosts") or [])


def _url(hosts: Iterable[object]) -> str | None:
    for host in hosts:
        if isinstance(host, str) and host and "*" not in host:
            return f"http://{host}"
    return None


def applied_from_httproute(obj: Obj) -> list[split.TrafficStatus]:
    """The split a stored HTTPRoute applies: the first rule without a tag match gives
    the weights, each rule matching `Rollout-Tag` gives a tag. Other rules are ignored."""
    weights: list[tuple[str, int]] = []
    tags: list[tuple[str, str]] = []
    found_weighted = False
    for rule in (obj.get("spec") or {}).get("rules") or []:
        refs = [
            (str(ref.get("name", "")), _count(ref.get("weight"), 1))
            for ref in rule.get("backendRefs") or []
            if ref.get("kind", "Service") == "Service"
        ]
        tag = _httproute_tag(rule.get("matches") or [])
        if tag is not None:
            if refs:
                tags.append((tag, max(refs, key=lambda r: r[1])[0]))
        elif not found_weighted:
            found_weighted = True
            weights = refs
    return _assemble(weights, tags, httproute_url(obj))


def _httproute_tag(matches: Sequence[Obj]) -> str | None:
    for match in matches:
        for header in match.get("headers") or []:
            if str(header.get("name", "")).lower() == TAG_HEADER.lower() and (
                header.get("type", "Exact") == "Exact"
            ):
                return str(header.get("value", ""))
    return None


def applied_from_virtualservice(obj: Obj) -> list[split.TrafficStatus]:
    """The split a stored VirtualService applies: the first route without a
    `rollout-tag` match gives the weights (none when it aborts every request), each
    route matching it gives a tag. Revisions are the first label of destination hosts."""
    weights: list[tuple[str, int]] = []
    tags: list[tuple[str, str]] = []
    found_weighted = False
    for http in (obj.get("spec") or {}).get("http") or []:
        destinations = http.get("route") or []
        single = len(destinations) == 1
        refs = [
            (
                str((d.get("destination") or {}).get("host", "")).split(".", 1)[0],
                _count(d.get("weight"), 100 if single else 0),
            )
            for d in destinations
        ]
        tag = _virtualservice_tag(http.get("match") or [])
        if tag is not None:
            if refs:
                tags.append((tag, max(refs, key=lambda r: r[1])[0]))
        elif not found_weighted:
            found_weighted = True
            weights = [] if _aborts_all(http) else refs
    return _assemble(weights, tags, virtualservice_url(obj))


def _virtualservice_tag(matches: Sequence[Obj]) -> str | None:
    for match in matches:
        for name, value in (match.get("headers") or {}).items():
            if str(name).lower() == TAG_HEADER.lower() and isinstance(value, dict):
                return str(value["exact"]) if "exact" in value else None
    return None


def _aborts_all(http: Obj) -> bool:
    abort = (http.get("fault") or {}).get("abort")
    if not isinstance(abort, dict):
        return False
    share = (abort.get("percentage") or {}).get("value", 100)
    return isinstance(share, int | float) and share >= 100


def _assemble(
    weights: list[tuple[str, int]], tags: list[tuple[str, str]], url: str | None
) -> list[split.TrafficStatus]:
    """Weighted entries in rule order, each tag on its revision's first untagged entry,
    tags of revisions without weight as 0% entries."""
    percents = _percents([w for _, w in weights])
    entries: list[list[Any]] = [
        [name, p, None] for (name, _), p in zip(weights, percents, strict=True)
    ]
    for tag, name in tags:
        spot = next((e for e in entries if e[0] == name and e[2] is None), None)
        if spot is None:
            entries.append([name, 0, tag])
        else:
            spot[2] = tag
    return [
        split.TrafficStatus(revision_name=name, percent=percent, tag=tag, url=url if tag else None)
        for name, percent, tag in entries
    ]


def _percents(weights: list[int]) -> list[int]:
    """Proportional weights as whole percents summing to 100 (largest remainder,
    earlier entries first on a tie); all 0 when every weight is 0."""
    total = sum(weights)
    if total <= 0:
        return [0] * len(weights)
    floors = [w * 100 // total for w in weights]
    order = sorted(range(len(weights)), key=lambda i: (-(weights[i] * 100 % total), i))
    for i in order[: 100 - sum(floors)]:
        floors[i] += 1
    return floors


# ---- events ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class EventSubject:
    """The object an Event is about, when the caller holds a reference, not the object
    (the EventRecorder port receives kind, namespace and name)."""

    api_version: str
    kind: str
    name: str
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None


def _subject(involved: kinds.Resource | EventSubject) -> EventSubject:
    if isinstance(involved, EventSubject):
        return involved
    meta = involved.metadata
    return EventSubject(
        involved.api_version,
        involved.kind,
        meta.name,
        meta.namespace,
        meta.uid,
        meta.resource_version,
    )


def make_event(
    involved: kinds.Resource | EventSubject,
    reason: str,
    message: str,
    warning: bool,
    now: datetime,
    *,
    component: str = "rollout-controller",
    instance: str | None = None,
    action: str = "Reconcile",
) -> Obj:
    """A core v1 Event about `involved` (a resource, or a reference to one), named
    `<name>.<hex nanoseconds>` as client-go names them.

    `instance` (reportingInstance, e.g. the pod name) defaults to `component`; the API
    server requires it, and `action`, on events that carry `eventTime`."""
    at = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
    since = at - datetime(1970, 1, 1, tzinfo=UTC)
    nanos = (since.days * 86_400 + since.seconds) * 10**9 + since.microseconds * 1000
    subject = _subject(involved)
    namespace = subject.namespace or "default"
    reference: Obj = {
        "apiVersion": subject.api_version,
        "kind": subject.kind,
        "name": subject.name,
        "namespace": namespace,
    }
    if subject.uid:
        reference["uid"] = subject.uid
    if subject.resource_version:
        reference["resourceVersion"] = subject.resource_version
    seconds = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{subject.name}.{nanos:x}", "namespace": namespace},
        "involvedObject": reference,
        "reason": reason,
        "message": message[:EVENT_NOTE_LIMIT],
        "type": "Warning" if warning else "Normal",
        "firstTimestamp": seconds,
        "lastTimestamp": seconds,
        "eventTime": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "count": 1,
        "action": action,
        "source": {"component": component},
        "reportingComponent": component,
        "reportingInstance": instance or component,
    }
