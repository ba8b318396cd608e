"""The install manifests: deploy/ matches the render, the RBAC objects are rbac.py in
the right scopes (cluster-wide or Roles in the watched namespaces; the Lease in the
controller's namespace; Secrets by name), the controller runs locked down and serves
metrics where it is told, the NetworkPolicy opens only what the controller uses, every
setting is checked, and every object is a valid Kubernetes object."""

from __future__ import annotations

import copy
import pathlib
from typing import Any

import kubernetes.client
import pytest
import yaml

from rollout import __version__
from rollout.platforms.kubernetes import manifests, rbac

ROOT = pathlib.Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"


@pytest.mark.parametrize("name", list(manifests.FILES))
def test_committed_deploy_file_matches_render(name: str) -> None:
    """deploy/ is exactly what `make deploy` writes (run it after changing manifests.py)."""
    committed = (DEPLOY / name).read_text(encoding="utf-8")
    assert committed == manifests.files()[name], f"deploy/{name} is stale: run make deploy"


def test_deploy_directory_holds_only_rendered_files() -> None:
    """No stale YAML in deploy/ that the render no longer produces."""
    assert {p.name for p in DEPLOY.glob("*.y*ml")} == set(manifests.FILES)


def test_deploy_files_are_the_render_without_crds() -> None:
    """deploy/ holds the same objects as `render()`, minus the CRDs (those are in crds/)."""
    from_files = [
        doc
        for text in manifests.files().values()
        for doc in yaml.safe_load_all(text)
        if doc is not None
    ]
    rendered = [d for d in manifests.render() if d["kind"] != "CustomResourceDefinition"]
    assert from_files == rendered


def test_to_yaml_separates_documents() -> None:
    """One `---` between documents, and the stream parses back to the same objects."""
    docs: list[dict[str, Any]] = [{"kind": "A"}, {"kind": "B"}]
    text = manifests.to_yaml(docs)
    assert text.count("---\n") == 1
    assert list(yaml.safe_load_all(text)) == docs


def test_policy_rules_merge_resources_with_the_same_verbs() -> None:
    """One rule per (group, verbs); together they grant exactly the rule table."""
    rules: tuple[rbac.Rule, ...] = (
        ("apps", "deployments", rbac.CRUD),
        ("", "services", rbac.CRUD),
        ("apps", "replicasets", rbac.CRUD),
        ("", "events", ("create",)),
    )
    assert rbac.policy_rules(rules) == [
        {"apiGroups": ["apps"], "resources": ["deployments", "replicasets"], "verbs": [*rbac.CRUD]},
        {"apiGroups": [""], "resources": ["services"], "verbs": [*rbac.CRUD]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
    ]


@pytest.mark.parametrize(
    ("grant", "allowed"),
    [
        pytest.param(("rollout.dev", "releases", "watch"), True, id="watch-releases"),
        pytest.param(("rollout.dev", "releases/status", "update"), True, id="release-status"),
        pytest.param(
            ("rollout.dev", "rolloutpolicies/status", "get"), False, id="no-policy-status"
        ),
        pytest.param(("coordination.k8s.io", "leases", "update"), True, id="lease-renew"),
        pytest.param(("coordination.k8s.io", "leases", "delete"), False, id="no-lease-delete"),
        pytest.param(("", "events", "create"), True, id="events"),
        pytest.param(("", "secrets", "get"), True, id="secret-get"),
        pytest.param(("", "secrets", "list"), False, id="no-secret-list"),
        pytest.param(("", "pods", "list"), False, id="no-pods"),
    ],
)
def test_rbac_grants(grant: tuple[str, str, str], allowed: bool) -> None:
    """The controller may do what it needs and nothing it does not (no pods, no listing
    Secrets)."""
    assert (grant in rbac.grants()) is allowed


def _rbac_docs(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def _granted(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def _binding_ok(binding: dict[str, Any], role: dict[str, Any], namespace: str) -> None:
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": role["kind"],
        "name": role["metadata"]["name"],
    }
    assert binding["metadata"].get("namespace") == role["metadata"].get("namespace")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "rollout-controller", "namespace": namespace}
    ]


def test_by_default_the_work_is_cluster_wide_and_the_lease_local() -> None:
    """ClusterRole: the namespaced rules, no Secrets; Role in the controller's
    namespace: the Lease, nothing else."""
    docs = manifests.render(manifests.Settings(namespace="delivery"))
    (cluster_role,) = _rbac_docs(docs, "ClusterRole")
    (cluster_binding,) = _rbac_docs(docs, "ClusterRoleBinding")
    (leader,) = _rbac_docs(docs, "Role")
    (leader_binding,) = _rbac_docs(docs, "RoleBinding")
    assert _granted(cluster_role) == rbac.grants(rbac.NAMESPACED)
    assert leader["metadata"]["namespace"] == "delivery"
    assert _granted(leader) == rbac.grants(rbac.LEADER)
    _binding_ok(cluster_binding, cluster_role, "delivery")
    _binding_ok(leader_binding, leader, "delivery")


def test_watch_namespaces_grants_roles_there_and_nothing_cluster_wide() -> None:
    """One Role and RoleBinding per watched namespace, the Lease Role in the
    controller's namespace, no ClusterRole nor ClusterRoleBinding."""
    docs = manifests.render(
        manifests.Settings(namespace="delivery", watch_namespaces=("team-a", "team-b"))
    )
    assert _rbac_docs(docs, "ClusterRole") == []
    assert _rbac_docs(docs, "ClusterRoleBinding") == []
    roles = {
        (d["metadata"]["namespace"], d["metadata"]["name"]): d for d in _rbac_docs(docs, "Role")
    }
    bindings = {
        (d["metadata"]["namespace"], d["metadata"]["name"]): d
        for d in _rbac_docs(docs, "RoleBinding")
    }
    expected = {
        ("team-a", "rollout-controller"),
        ("team-b", "rollout-controller"),
        ("delivery", "rollout-controller-leader"),
    }
    assert set(roles) == set(bindings) == expected
    for key, role in roles.items():
        wanted = rbac.LEADER if key[1].endswith("-leader") else rbac.NAMESPACED
        assert _granted(role) == rbac.grants(wanted)
        _binding_ok(bindings[key], role, "delivery")
    args = _deployment(docs)["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[-2:] == ["--watch-namespaces", "team-a,team-b"]


@pytest.mark.parametrize(
    "watch",
    [pytest.param((), id="cluster-wide"), pytest.param(("team-a",), id="namespaced")],
)
def test_secrets_are_granted_by_name_only(watch: tuple[str, ...]) -> None:
    """No Secret by default; `get` on exactly the named ones (resourceNames) when asked."""
    kind = "Role" if watch else "ClusterRole"

    def secret_rules(settings: manifests.Settings) -> list[dict[str, Any]]:
        work = [
            d
            for d in _rbac_docs(manifests.render(settings), kind)
            if d["metadata"]["name"] == "rollout-controller"
        ]
        return [r for d in work for r in d["rules"] if "secrets" in r["resources"]]

    assert secret_rules(manifests.Settings(watch_namespaces=watch)) == []
    named = manifests.Settings(watch_namespaces=watch, secret_names=("prom-token", "a.b"))
    assert secret_rules(named) == [
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["a.b", "prom-token"],
            "verbs": ["get"],
        }
    ]


def _deployment(docs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return next(d for d in docs or manifests.render() if d["kind"] == "Deployment")


def test_controller_runs_locked_down() -> None:
    """Non-root 65532, read-only root, no privilege escalation, no capabilities, seccomp."""
    pod = _deployment()["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    ctx = container["securityContext"]
    assert ctx["runAsNonRoot"] is True
    assert ctx["runAsUser"] == 65532
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"] == {"drop": ["ALL"]}
    assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["serviceAccountName"] == "rollout-controller"


def test_controller_command_probes_and_resources() -> None:
    """Leader-elected kubernetes controller, metrics on the pod IP, probes on that port."""
    (container,) = _deployment()["spec"]["template"]["spec"]["containers"]
    assert container["args"] == [
        "controller",
        "--platform",
        "kubernetes",
        "--leader-elect",
        "--metrics-addr",
        "0.0.0.0:9464",
    ]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 9464}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 9464}
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container["env"]}
    assert env == {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}
    assert container["resources"]["requests"].keys() == {"cpu", "memory"}
    assert "memory" in container["resources"]["limits"]


def test_request_stats_from_prometheus_reach_the_controller_and_its_egress() -> None:
    """--prometheus-url and --preset become the controller's `--metrics prometheus`
    options, and the NetworkPolicy lets it reach that Prometheus."""
    settings = manifests.Settings(
        prometheus_url="http://vmselect.monitoring:8481/select/0/prometheus", preset="istio"
    )
    (container,) = _deployment(manifests.render(settings))["spec"]["template"]["spec"]["containers"]
    assert container["args"][-6:] == [
        "--metrics",
        "prometheus",
        "--prometheus-url",
        "http://vmselect.monitoring:8481/select/0/prometheus",
        "--preset",
        "istio",
    ]
    ports = {p["port"] for p in _policy(settings)["spec"]["egress"][2]["ports"]}
    assert ports == {8481, 9090}


def test_replicas_and_image_are_the_callers() -> None:
    """Two replicas (one leads) of this version's image by default; else as given."""
    default = _deployment(manifests.render())
    given = _deployment(
        manifests.render(
            manifests.Settings(namespace="delivery", image="registry.example/rollout:9", replicas=3)
        )
    )
    for deployment, replicas, image in (
        (default, 2, f"rollout:{__version__}"),
        (given, 3, "registry.example/rollout:9"),
    ):
        assert deployment["spec"]["replicas"] == replicas
        assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == image


@pytest.mark.parametrize(
    ("addr", "port"),
    [
        pytest.param("0.0.0.0:9464", 9464, id="default"),
        pytest.param("0.0.0.0:9100", 9100, id="ipv4"),
        pytest.param(":::8443", 8443, id="dual-stack"),
    ],
)
def test_metrics_addr_is_honoured_everywhere(addr: str, port: int) -> None:
    """The controller binds what it is told; the container port, both probes, the
    metrics Service and the NetworkPolicy's ingress all follow its port."""
    docs = manifests.render(manifests.Settings(metrics_addr=addr))
    (container,) = _deployment(docs)["spec"]["template"]["spec"]["containers"]
    assert container["args"][4:6] == ["--metrics-addr", addr]
    assert container["ports"] == [{"name": "metrics", "containerPort": port, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"]["port"] == port
    assert container["readinessProbe"]["httpGet"]["port"] == port
    (service,) = [d for d in docs if d["kind"] == "Service"]
    assert service["spec"]["ports"][0]["port"] == port
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    (policy,) = [d for d in docs if d["kind"] == "NetworkPolicy"]
    assert policy["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": port}]


def _policy(settings: manifests.Settings | None = None) -> dict[str, Any]:
    (policy,) = [d for d in manifests.render(settings) if d["kind"] == "NetworkPolicy"]
    return policy


def test_network_policy_isolates_the_controller_both_ways() -> None:
    """It selects the controller's pods for ingress and egress: in, the metrics port
    from any namespace's pods; out, DNS, the API server ports, Prometheus."""
    spec = _policy()["spec"]
    assert _policy()["metadata"]["namespace"] == "rollout-system"
    assert spec["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "rollout-controller"}}
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert spec["ingress"] == [
        {"from": [{"namespaceSelector": {}}], "ports": [{"protocol": "TCP", "port": 9464}]}
    ]
    assert spec["egress"] == [
        {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
        {"ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}]},
        {"ports": [{"protocol": "TCP", "port": 9090}]},
    ]


def test_network_policy_narrows_as_told() -> None:
    """Scrapers by namespace label, the API server by address, provider ports given."""
    spec = _policy(
        manifests.Settings(
            metrics_from="kubernetes.io/metadata.name=monitoring",
            api_server_cidrs=("10.0.0.1/32", "192.168.1.7"),
            provider_ports=(8080, 9090, 8080),
        )
    )["spec"]
    assert spec["ingress"][0]["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    assert spec["egress"][1]["to"] == [
        {"ipBlock": {"cidr": "10.0.0.1/32"}},
        {"ipBlock": {"cidr": "192.168.1.7/32"}},
    ]
    assert spec["egress"][2] == {
        "ports": [{"protocol": "TCP", "port": 8080}, {"protocol": "TCP", "port": 9090}]
    }
    assert len(_policy(manifests.Settings(provider_ports=()))["spec"]["egress"]) == 2


@pytest.mark.parametrize(
    ("given", "message"),
    [
        pytest.param({"namespace": "a b"}, "--namespace: 'a b' is not a namespace", id="ns-space"),
        pytest.param({"namespace": "A"}, "--namespace: 'A' is not a namespace", id="ns-upper"),
        pytest.param({"namespace": "x" * 64}, "is not a namespace name", id="ns-too-long"),
        pytest.param({"namespace": "ab\n"}, "is not a namespace name", id="ns-newline"),
        pytest.param(
            {"watch_namespaces": ("ok", "../etc")},
            "--watch-namespaces: '../etc' is not a namespace",
            id="watched",
        ),
        pytest.param({"image": "x y"}, "--image 'x y': not an image reference", id="image"),
        pytest.param({"image": ""}, "--image '': not an image reference", id="no-image"),
        pytest.param({"replicas": 0}, "--replicas 0: at least 1", id="replicas"),
        pytest.param({"metrics_addr": "off"}, "probes need the metrics listener", id="off"),
        pytest.param({"metrics_addr": "127.0.0.1:9464"}, "loopback", id="loopback"),
        pytest.param({"metrics_addr": "[::1]:9464"}, "HOST must be an IP address", id="brackets"),
        pytest.param({"metrics_addr": "0.0.0.0:0"}, "PORT must be 1 to 65535", id="port-0"),
        pytest.param({"metrics_addr": "0.0.0.0:70000"}, "PORT must be 1 to 65535", id="port-big"),
        pytest.param({"metrics_addr": "9464"}, "needs HOST:PORT", id="no-host"),
        pytest.param({"metrics_from": "monitoring"}, "--metrics-from 'monitoring'", id="from"),
        pytest.param({"metrics_from": "a b=c"}, "namespace label KEY=VALUE", id="from-space"),
        pytest.param({"api_server_cidrs": ("10.0.0/8x",)}, "not a CIDR block", id="cidr"),
        pytest.param({"provider_ports": (0,)}, "--provider-port 0", id="provider-port"),
        pytest.param({"secret_names": ("Tok",)}, "--secret-names: 'Tok' is not a Secret", id="sec"),
        pytest.param({"preset": "istio"}, "go together", id="preset-alone"),
        pytest.param(
            {"prometheus_url": "prom:9090", "preset": "istio"}, "--prometheus-url: ", id="prom-url"
        ),
        pytest.param(
            {"prometheus_url": "http://p:9090", "preset": "envoy"}, "--preset 'envoy'", id="preset"
        ),
    ],
)
def test_bad_settings_are_refused_in_one_line(given: dict[str, Any], message: str) -> None:
    """Every value that would make an invalid manifest is refused, naming the option."""
    with pytest.raises(manifests.SettingsError) as raised:
        manifests.Settings(**given)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


CLIENT = kubernetes.client.ApiClient()
MODELS = {
    "Namespace": "V1Namespace",
    "ServiceAccount": "V1ServiceAccount",
    "ClusterRole": "V1ClusterRole",
    "ClusterRoleBinding": "V1ClusterRoleBinding",
    "Role": "V1Role",
    "RoleBinding": "V1RoleBinding",
    "Deployment": "V1Deployment",
    "Service": "V1Service",
    "NetworkPolicy": "V1NetworkPolicy",
}
EVERY_MODE = [
    manifests.Settings(),
    manifests.Settings(
        namespace="delivery",
        watch_namespaces=("team-a", "team-b"),
        metrics_addr="0.0.0.0:9100",
        metrics_from="team=monitoring",
        api_server_cidrs=("10.0.0.1/32",),
        provider_ports=(9090, 443),
        secret_names=("prom-token",),
    ),
]


def test_every_rendered_kind_has_a_model() -> None:
    """No object escapes the model check below."""
    kinds = {d["kind"] for s in EVERY_MODE for d in manifests.render(s)}
    assert kinds - {"CustomResourceDefinition"} == set(MODELS)


@pytest.mark.parametrize(
    "doc",
    [d for s in EVERY_MODE for d in manifests.render(s) if d["kind"] in MODELS],
    ids=lambda d: f"{d['kind']}-{d['metadata'].get('namespace', '')}",
)
def test_objects_match_the_kubernetes_models(doc: dict[str, Any]) -> None:
    """Read into the official client's models and back, nothing is lost (no misspelt or
    misplaced field). The private reader: the public one changed signature over versions."""
    model = CLIENT._ApiClient__deserialize(copy.deepcopy(doc), MODELS[doc["kind"]])
    assert CLIENT.sanitize_for_serialization(model) == doc


def _scope(where: str) -> str:
    if "controller" in where:
        return "leader"
    return "secrets" if "secret-names" in where else "namespaced"


def test_readme_lists_every_grant() -> None:
    """README's "Installing on a cluster" table names each granted resource with its
    verbs and where it is granted (served namespaces, the controller's namespace, named
    Secrets only)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Installing on a cluster", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]  # after the header
    listed = {
        (_scope(where), group.strip(" `").replace("core", ""), resource.strip(" `"), verb.strip())
        for row in rows
        for group, resources, verbs, where in [row.strip("|").split("|")]
        for resource in resources.split(",")
        for verb in verbs.split(",")
    }
    scopes = {"namespaced": rbac.NAMESPACED, "leader": rbac.LEADER, "secrets": (rbac.SECRETS,)}
    assert listed == {
        (scope, *grant) for scope, rules in scopes.items() for grant in rbac.grants(rules)
    }
