"""The install manifests: deploy/ matches the render, the ClusterRole is rbac.py, the
controller runs locked down, and every object is a valid Kubernetes object."""

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
        pytest.param(("", "secrets", "get"), False, id="no-secrets"),
        pytest.param(("", "pods", "list"), False, id="no-pods"),
    ],
)
def test_rbac_grants(grant: tuple[str, str, str], allowed: bool) -> None:
    """The controller may do what it needs and nothing it does not (no secrets, no pods)."""
    assert (grant in rbac.grants()) is allowed


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


def test_replicas_and_image_are_the_callers() -> None:
    """Two replicas (one leads) of this version's image by default; else as given."""
    default = _deployment(manifests.render())
    given = _deployment(manifests.render("delivery", "registry.example/rollout:9", 3))
    for deployment, replicas, image in (
        (default, 2, f"rollout:{__version__}"),
        (given, 3, "registry.example/rollout:9"),
    ):
        assert deployment["spec"]["replicas"] == replicas
        assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == image


CLIENT = kubernetes.client.ApiClient()
MODELS = {
    "Namespace": "V1Namespace",
    "ServiceAccount": "V1ServiceAccount",
    "ClusterRole": "V1ClusterRole",
    "ClusterRoleBinding": "V1ClusterRoleBinding",
    "Deployment": "V1Deployment",
    "Service": "V1Service",
}


@pytest.mark.parametrize(
    "doc",
    [d for d in manifests.render() if d["kind"] in MODELS],
    ids=lambda d: d["kind"],
)
def test_objects_match_the_kubernetes_models(doc: dict[str, Any]) -> None:
    """Read into the official client's models and back, nothing is lost (no misspelt or
    misplaced field). The private reader: the public one changed signature over versions."""
    model = CLIENT._ApiClient__deserialize(copy.deepcopy(doc), MODELS[doc["kind"]])
    assert CLIENT.sanitize_for_serialization(model) == doc


def test_readme_lists_every_grant() -> None:
    """README's "Installing on a cluster" table names each granted resource with its verbs."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Installing on a cluster", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]  # after the header
    listed = {
        (group.strip(" `").replace("core", ""), resource.strip(" `"), verb.strip())
        for row in rows
        for group, resources, verbs in [row.strip("|").split("|")]
        for resource in resources.split(",")
        for verb in verbs.split(",")
    }
    assert listed == rbac.grants()
