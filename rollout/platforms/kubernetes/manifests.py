"""The install manifests: CRDs, Namespace, RBAC, the controller and its NetworkPolicy,
as plain dicts.

`render(settings)` is what `rollout install --print` prints, in the order
`kubectl apply` needs: the CRDs (from `rollout.api.crds`, the same as `crds/`), the
Namespace, the RBAC objects, the controller Deployment and its metrics Service, then
the NetworkPolicy. `files(settings)` is what `deploy/` holds — the same objects
without the CRDs, which are committed in `crds/` — written by `make deploy`
(`rollout install --write deploy`) with the default settings; a test fails when
either drifts.

RBAC (rules from `rbac.py`): by default a ClusterRole and ClusterRoleBinding for
what the controller does in every namespace; with `Settings.watch_namespaces` a Role
and a RoleBinding in each listed namespace instead (and the controller is run with
the same list, so it lists and watches only there). In both modes the Lease is
granted by a Role in the controller's namespace only, and Secrets only by name
(`Settings.secret_names`). What stays cluster-wide in the namespaced mode: the CRDs
and the controller's Namespace, which are cluster-scoped objects by nature — no
grant.

The controller runs as 65532 on a read-only root filesystem, with no privilege and
the runtime's seccomp profile (the Pod Security `restricted` level, which the
Namespace enforces), two replicas of which one leads (a coordination.k8s.io Lease).
It serves /metrics, /healthz and /readyz on `Settings.metrics_addr` (default
0.0.0.0:9464: inside the pod, every interface, as the kubelet's probes and Prometheus
come over the pod IP); the container port, the probes, the Service and the
NetworkPolicy follow that port.

The NetworkPolicy isolates the controller's pods both ways. In: only the metrics
port, from pods of every namespace (or of the namespaces `Settings.metrics_from`
selects); the kubelet's probes come from the node, which NetworkPolicy always
allows. Out: DNS (port 53 to any address: cluster DNS is a pod on some clusters, a
node-local cache on others), the API server (TCP 443 and 6443: it is not a pod on
most clusters, so no pod selector can name it, and whether the `kubernetes` Service
address is matched before or after it is translated depends on the network plugin;
`Settings.api_server_cidrs` narrows it to the endpoints' addresses), and metric
providers, webhooks and notification sinks on `Settings.provider_ports` (default 9090,
Prometheus; HTTPS endpoints — Slack, Teams, most gates — use 443, already open unless
narrowed).

`Settings` checks every value it is given (`SettingsError`, one line naming the
option) so that no invalid manifest is ever printed.

Pure; no I/O. Called by the `install` command and by tests.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import urllib.parse
from collections.abc import Callable
from typing import Any

import yaml

from rollout import __version__
from rollout.analysis.providers import presets
from rollout.api import crds, endpoints, kinds, routing
from rollout.platforms.kubernetes import rbac, scope

__all__ = [
    "DEFAULT_IMAGE",
    "DEFAULT_METRICS_ADDR",
    "DEFAULT_NAMESPACE",
    "DEFAULT_PROVIDER_PORTS",
    "DEFAULT_REPLICAS",
    "FILES",
    "LEADER_NAME",
    "METRICS_PORT",
    "NAME",
    "USER_ID",
    "Settings",
    "SettingsError",
    "files",
    "parse_metrics_addr",
    "render",
    "to_yaml",
]

Obj = dict[str, Any]

NAME = "rollout-controller"
LEADER_NAME = f"{NAME}-leader"  # the Role and RoleBinding for the Lease
DEFAULT_NAMESPACE = "rollout-system"
DEFAULT_IMAGE = f"rollout:{__version__}"
DEFAULT_REPLICAS = 2
METRICS_PORT = 9464
DEFAULT_METRICS_ADDR = f"0.0.0.0:{METRICS_PORT}"
DEFAULT_PROVIDER_PORTS = (9090,)  # Prometheus
DNS_PORT = 53
API_SERVER_PORTS = (443, 6443)  # the `kubernetes` Service, and the endpoints behind it
USER_ID = 65532  # the conventional "nonroot" user; the Dockerfile runs as it too
SELECTOR = {"app.kubernetes.io/name": NAME}
LABELS = {**SELECTOR, "app.kubernetes.io/part-of": "rollout"}
RBAC_API = "rbac.authorization.k8s.io"

# deploy/ file → the comment lines that open it
FILES: dict[str, tuple[str, ...]] = {
    "namespace.yaml": ("The controller's namespace; Pod Security `restricted` is enforced.",),
    "rbac.yaml": (
        "ServiceAccount; ClusterRole and ClusterRoleBinding (rules from rbac.py) for every",
        "namespace; Role and RoleBinding for the leader-election Lease in this namespace.",
        "`rollout install --watch-namespaces a,b` grants Roles in those namespaces instead.",
    ),
    "controller.yaml": (
        "The controller (one leader among the replicas) and its metrics Service.",
        f"It serves /metrics, /healthz and /readyz on {DEFAULT_METRICS_ADDR} inside the pod",
        "(`rollout install --metrics-addr`; the probes and the Service follow the port).",
    ),
    "networkpolicy.yaml": (
        "The controller's pods: in, only the metrics port; out, DNS, the API server",
        "(TCP 443/6443: not selectable by pod label) and metric providers (TCP 9090).",
    ),
}
_GENERATED = (
    "# Generated by `make deploy` from rollout/platforms/kubernetes/manifests.py;"
    " do not edit by hand.\n"
)

_IMAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@+-]*")
_LABEL_NAME = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")


class SettingsError(ValueError):
    """An install setting that would make an invalid manifest; one line, naming the
    option."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """What `rollout install` was asked for; every value is checked on creation.

    `watch_namespaces` empty: every namespace (ClusterRole); else Roles there only.
    `metrics_from` empty: scrapes from every namespace; else `key=value`, a label of
    the namespaces allowed. `api_server_cidrs` empty: TCP 443/6443 to any address."""

    namespace: str = DEFAULT_NAMESPACE
    image: str = DEFAULT_IMAGE
    replicas: int = DEFAULT_REPLICAS
    watch_namespaces: tuple[str, ...] = ()
    metrics_addr: str = DEFAULT_METRICS_ADDR
    metrics_from: str = ""
    api_server_cidrs: tuple[str, ...] = ()
    provider_ports: tuple[int, ...] = DEFAULT_PROVIDER_PORTS
    secret_names: tuple[str, ...] = ()
    # Request stats from Prometheus (`controller --metrics prometheus`): its URL and the
    # preset of the counters the mesh exports; "" / None: none.
    prometheus_url: str = ""
    preset: str | None = None
    # `controller --gateway`: the parent of HTTPRoutes whose Service names none; "": none.
    gateway: str = ""

    def __post_init__(self) -> None:
        if self.gateway:
            _checked("--gateway", self.gateway, routing.parse_gateway)
        _checked("--namespace", self.namespace, scope.check_namespace)
        for name in self.watch_namespaces:
            _checked("--watch-namespaces", name, scope.check_namespace)
        for name in self.secret_names:
            _checked("--secret-names", name, scope.check_secret_name)
        if len(self.image) > 512 or not _IMAGE.fullmatch(self.image):
            raise SettingsError(f"--image {self.image!r}: not an image reference")
        if self.replicas < 1:
            raise SettingsError(f"--replicas {self.replicas}: at least 1")
        _checked("--metrics-addr", self.metrics_addr, parse_metrics_addr)
        if bool(self.prometheus_url) != (self.preset is not None):
            raise SettingsError("--prometheus-url and --preset go together")
        if self.prometheus_url:
            problem = endpoints.http_url_problem(self.prometheus_url)
            if problem is not None:
                raise SettingsError(f"--prometheus-url: {problem}")
        if self.preset is not None and self.preset not in presets.PRESETS:
            raise SettingsError(
                f"--preset {self.preset!r}: one of {', '.join(sorted(presets.PRESETS))}"
            )
        if self.metrics_from:
            _checked("--metrics-from", self.metrics_from, _label_pair)
        for cidr in self.api_server_cidrs:
            _checked("--api-server-cidr", cidr, _cidr)
        for port in self.provider_ports:
            if not 1 <= port <= 65535:
                raise SettingsError(f"--provider-port {port}: a port is 1 to 65535")

    @property
    def metrics_port(self) -> int:
        return parse_metrics_addr(self.metrics_addr)[1]


def _checked(option: str, value: str, check: Callable[[str], object]) -> None:
    try:
        check(value)
    except ValueError as exc:
        message = str(exc)
        raise SettingsError(
            f"{option}: {message}"
            if message.startswith(repr(value))
            else f"{option} {value!r}: {message}"
        ) from None


def parse_metrics_addr(addr: str) -> tuple[str, int]:
    """(host, port) of a metrics address for a pod: `HOST:PORT`, HOST an IP address
    that is not loopback (the probes and Prometheus come over the pod IP)."""
    if addr == "off":
        raise ValueError("the liveness and readiness probes need the metrics listener")
    host, sep, port_text = addr.rpartition(":")
    if not sep or not host:
        raise ValueError("needs HOST:PORT, e.g. 0.0.0.0:9464")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError("HOST must be an IP address (0.0.0.0 for IPv4, :: for both)") from None
    if ip.is_loopback:
        raise ValueError(
            "a loopback address cannot be reached by the kubelet's probes nor by"
            " Prometheus: use 0.0.0.0 (or ::)"
        )
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError("PORT must be 1 to 65535")
    return host, int(port_text)


def _label_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    prefix, slash, name = key.rpartition("/")
    valid = (
        sep
        and name
        and len(name) <= 63
        and _LABEL_NAME.fullmatch(name)
        and (not slash or scope.is_subdomain(prefix))
        and len(value) <= 63
        and _LABEL_NAME.fullmatch(value)
    )
    if not valid:
        raise ValueError(
            "needs a namespace label KEY=VALUE, e.g. kubernetes.io/metadata.name=monitoring"
        )
    return key, value


def _cidr(text: str) -> str:
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise ValueError("not a CIDR block (e.g. 10.0.0.1/32)") from None


def render(settings: Settings | None = None) -> list[Obj]:
    """Everything `kubectl apply` needs to run rollout on a cluster, in apply order."""
    crd_docs = [crds.crd(kind) for kind in kinds.KINDS.values()]
    parts = _parts(settings or Settings())
    return [*crd_docs, *(doc for name in FILES for doc in parts[name])]


def files(settings: Settings | None = None) -> dict[str, str]:
    """The text of each file of `deploy/` (no CRDs: those are in `crds/`)."""
    parts = _parts(settings or Settings())
    return {
        name: _GENERATED + "".join(f"# {line}\n" for line in about) + to_yaml(parts[name])
        for name, about in FILES.items()
    }


def to_yaml(docs: list[Obj]) -> str:
    """A multi-document YAML stream, documents separated by `---`."""
    return "---\n".join(yaml.safe_dump(doc, sort_keys=False, width=100) for doc in docs)


def _parts(s: Settings) -> dict[str, list[Obj]]:
    return {
        "namespace.yaml": [_namespace(s.namespace)],
        "rbac.yaml": [_object("v1", "ServiceAccount", s.namespace), *_rbac(s)],
        "controller.yaml": [_deployment(s), _metrics_service(s)],
        "networkpolicy.yaml": [_network_policy(s)],
    }


def _object(api_version: str, kind: str, namespace: str | None = None, name: str = NAME) -> Obj:
    metadata: Obj = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    metadata["labels"] = dict(LABELS)
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata}


def _role(kind: str, namespace: str | None, name: str, rules: list[Obj]) -> Obj:
    return {**_object(f"{RBAC_API}/v1", kind, namespace, name), "rules": rules}


def _binding(kind: str, namespace: str | None, name: str, role_kind: str, s: Settings) -> Obj:
    return {
        **_object(f"{RBAC_API}/v1", kind, namespace, name),
        "roleRef": {"apiGroup": RBAC_API, "kind": role_kind, "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": s.namespace}],
    }


def _rbac(s: Settings) -> list[Obj]:
    """The grants: where the controller works (cluster-wide, or Roles in each watched
    namespace), then the Lease in its own namespace."""
    rules = [*rbac.policy_rules(rbac.NAMESPACED), *rbac.secret_rules(s.secret_names)]
    if s.watch_namespaces:
        work = [
            doc
            for namespace in s.watch_namespaces
            for doc in (
                _role("Role", namespace, NAME, rules),
                _binding("RoleBinding", namespace, NAME, "Role", s),
            )
        ]
    else:
        work = [
            _role("ClusterRole", None, NAME, rules),
            _binding("ClusterRoleBinding", None, NAME, "ClusterRole", s),
        ]
    leader = [
        _role("Role", s.namespace, LEADER_NAME, rbac.policy_rules(rbac.LEADER)),
        _binding("RoleBinding", s.namespace, LEADER_NAME, "Role", s),
    ]
    return [*work, *leader]


def _namespace(namespace: str) -> Obj:
    restricted = {
        f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn", "audit")
    }
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": namespace,
            "labels": {"app.kubernetes.io/part-of": "rollout", **restricted},
        },
    }


def _deployment(s: Settings) -> Obj:
    return {
        **_object("apps/v1", "Deployment", s.namespace),
        "spec": {
            "replicas": s.replicas,
            "selector": {"matchLabels": dict(SELECTOR)},
            "template": {
                "metadata": {"labels": dict(LABELS)},
                "spec": {
                    "serviceAccountName": NAME,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": USER_ID,
                        "runAsGroup": USER_ID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [_controller(s)],
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}}],
                },
            },
        },
    }


def _controller(s: Settings) -> Obj:
    """The controller's container: leader-elected, metrics and probes on one port."""
    port = s.metrics_port
    args = [
        "controller",
        "--platform",
        "kubernetes",
        "--leader-elect",
        # explicit: inside the pod the listener must face the pod IP (probes,
        # Prometheus); it is the one listener rollout binds beyond 127.0.0.1
        "--metrics-addr",
        s.metrics_addr,
    ]
    if s.watch_namespaces:
        args += ["--watch-namespaces", ",".join(s.watch_namespaces)]
    if s.prometheus_url and s.preset is not None:
        args += ["--metrics", "prometheus", "--prometheus-url", s.prometheus_url]
        args += ["--preset", s.preset]
    if s.gateway:
        args += ["--gateway", s.gateway]
    return {
        "name": "controller",
        "image": s.image,
        "imagePullPolicy": "IfNotPresent",
        "args": args,
        "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {
                "name": "POD_NAMESPACE",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
            },
        ],
        "ports": [{"name": "metrics", "containerPort": port, "protocol": "TCP"}],
        "livenessProbe": _probe("/healthz", port, initial_delay=10, period=10),
        "readinessProbe": _probe("/readyz", port, initial_delay=5, period=5),
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": USER_ID,
            "runAsGroup": USER_ID,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        # nothing writes at runtime; a small scratch /tmp for libraries that insist
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }


def _probe(path: str, port: int, *, initial_delay: int, period: int) -> Obj:
    return {
        "httpGet": {"path": path, "port": port},
        "initialDelaySeconds": initial_delay,
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": 3,
    }


def _metrics_service(s: Settings) -> Obj:
    return {
        **_object("v1", "Service", s.namespace, name=f"{NAME}-metrics"),
        "spec": {
            "type": "ClusterIP",
            "selector": dict(SELECTOR),
            "ports": [
                {
                    "name": "metrics",
                    "port": s.metrics_port,
                    "targetPort": "metrics",
                    "protocol": "TCP",
                }
            ],
        },
    }


def _tcp(*ports: int) -> list[Obj]:
    return [{"protocol": "TCP", "port": port} for port in ports]


def _network_policy(s: Settings) -> Obj:
    if s.metrics_from:
        key, value = _label_pair(s.metrics_from)
        scrapers: Obj = {"namespaceSelector": {"matchLabels": {key: value}}}
    else:
        scrapers = {"namespaceSelector": {}}  # every pod of every namespace
    api_server: Obj = {"ports": _tcp(*API_SERVER_PORTS)}
    if s.api_server_cidrs:
        api_server["to"] = [{"ipBlock": {"cidr": _cidr(c)}} for c in s.api_server_cidrs]
    egress = [
        {"ports": [{"protocol": p, "port": DNS_PORT} for p in ("UDP", "TCP")]},
        api_server,
    ]
    ports = set(s.provider_ports)
    if s.prometheus_url:  # where the request stats come from is reachable
        url = urllib.parse.urlsplit(s.prometheus_url)
        ports.add(url.port or (443 if url.scheme == "https" else 80))
    if ports:
        egress.append({"ports": _tcp(*sorted(ports))})
    return {
        **_object("networking.k8s.io/v1", "NetworkPolicy", s.namespace),
        "spec": {
            "podSelector": {"matchLabels": dict(SELECTOR)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [scrapers], "ports": _tcp(s.metrics_port)}],
            "egress": egress,
        },
    }
