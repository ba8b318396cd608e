"""`rollout install`: prints valid manifests (cluster-wide or scoped to namespaces),
writes deploy/ files, refuses any value that would make an invalid manifest (one line,
exit 2), never applies itself."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from rollout.cli import main
from rollout.platforms.kubernetes import manifests, rbac

ROOT = pathlib.Path(__file__).resolve().parents[3]
NAMESPACED = {"ServiceAccount", "Deployment", "Service", "Role", "RoleBinding", "NetworkPolicy"}


def install(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main.cli, ["install", *args])
    return result.exit_code, result.stdout, result.stderr


def printed(*args: str) -> list[dict[str, Any]]:
    code, out, err = install("--print", *args)
    assert (code, err) == (0, "")
    return [d for d in yaml.safe_load_all(out) if d is not None]


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def test_every_document_is_a_named_kubernetes_object() -> None:
    """apiVersion, kind and metadata.name on every document, in apply order."""
    docs = printed()
    assert all(d["apiVersion"] and d["kind"] and d["metadata"]["name"] for d in docs)
    kinds = [d["kind"] for d in docs]
    assert kinds[:5] == ["CustomResourceDefinition"] * 5
    assert kinds[5:] == [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Deployment",
        "Service",
        "NetworkPolicy",
    ]


def test_crds_are_the_committed_ones() -> None:
    """The CRDs printed are exactly those in crds/."""
    committed = sorted(
        (yaml.safe_load(p.read_text(encoding="utf-8")) for p in (ROOT / "crds").glob("*.yaml")),
        key=lambda d: d["metadata"]["name"],
    )
    crds = sorted(
        of_kind(printed(), "CustomResourceDefinition"), key=lambda d: d["metadata"]["name"]
    )
    assert crds == committed


@pytest.mark.parametrize(
    "args",
    [pytest.param((), id="default"), pytest.param(("--namespace", "delivery"), id="given")],
)
def test_namespace_is_named_everywhere(args: tuple[str, ...]) -> None:
    """The Namespace, every namespaced object and the binding's subject use the namespace."""
    namespace = args[1] if args else "rollout-system"
    docs = printed(*args)
    (ns,) = of_kind(docs, "Namespace")
    assert ns["metadata"]["name"] == namespace
    assert {d["metadata"].get("namespace") for d in docs if d["kind"] in NAMESPACED} == {namespace}
    cluster_scoped = [d for d in docs if d["kind"] not in NAMESPACED]
    assert all("namespace" not in d["metadata"] for d in cluster_scoped)
    (binding,) = of_kind(docs, "ClusterRoleBinding")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "rollout-controller", "namespace": namespace}
    ]


def _granted(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_cluster_role_is_rbac_py() -> None:
    """The printed ClusterRole grants exactly rbac.NAMESPACED, the Role the Lease, and
    together with a named Secret they are all of rbac.RULES."""
    docs = printed("--secret-names", "prom-token")
    (role,) = of_kind(docs, "ClusterRole")
    assert _granted(role) == rbac.grants(rbac.NAMESPACED) | {("", "secrets", "get")}
    (binding,) = of_kind(docs, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    (leader,) = of_kind(docs, "Role")
    assert _granted(role) | _granted(leader) == rbac.grants()


def test_watch_namespaces_prints_roles_instead_of_the_cluster_binding() -> None:
    """Roles and RoleBindings in each listed namespace (repeats and both spellings
    accepted), nothing cluster-wide but the CRDs and the Namespace, and the controller
    started with the same list."""
    docs = printed("--watch-namespaces", "team-a,team-b", "--watch-namespaces", "team-a")
    cluster_scoped = {d["kind"] for d in docs if "namespace" not in d["metadata"]}
    assert cluster_scoped == {"CustomResourceDefinition", "Namespace"}
    work = {
        (d["kind"], d["metadata"]["namespace"])
        for d in docs
        if d["kind"] in ("Role", "RoleBinding") and d["metadata"]["name"] == "rollout-controller"
    }
    assert work == {
        ("Role", "team-a"),
        ("RoleBinding", "team-a"),
        ("Role", "team-b"),
        ("RoleBinding", "team-b"),
    }
    (deployment,) = of_kind(docs, "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--watch-namespaces") + 1] == "team-a,team-b"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ("--namespace", "a b"), "--namespace: 'a b' is not a namespace name", id="ns-space"
        ),
        pytest.param(
            ("--namespace", "../../etc"), "'../../etc' is not a namespace name", id="ns-path"
        ),
        pytest.param(
            ("--watch-namespaces", "team-a,Team-B"), "'Team-B' is not a namespace", id="watched"
        ),
        pytest.param(("--watch-namespaces", ""), "'' is not a namespace name", id="watched-empty"),
        pytest.param(("--image", "rollout 1"), "not an image reference", id="image"),
        pytest.param(("--metrics-addr", "127.0.0.1:9464"), "loopback", id="metrics-loopback"),
        pytest.param(("--metrics-addr", "0.0.0.0:99999"), "PORT must be 1", id="metrics-port"),
        pytest.param(("--metrics-from", "monitoring"), "KEY=VALUE", id="metrics-from"),
        pytest.param(("--api-server-cidr", "10.0.0.0/33"), "not a CIDR", id="cidr"),
        pytest.param(("--secret-names", "ok,Not_Ok"), "'Not_Ok' is not a Secret", id="secret"),
    ],
)
def test_bad_values_are_one_line_and_exit_2(args: tuple[str, ...], message: str) -> None:
    """Nothing is printed on stdout; one line on stderr names the option and the value."""
    code, out, err = install("--print", *args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("error: ")
    assert message in err


def test_controller_deployment_is_secured_and_probed() -> None:
    """The controller's securityContext and probes are set, with image and replicas given."""
    docs = printed("--image", "registry.example/rollout:9", "--replicas", "3")
    (deployment,) = of_kind(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 3
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.example/rollout:9"
    ctx = container["securityContext"]
    assert (ctx["runAsNonRoot"], ctx["runAsUser"], ctx["readOnlyRootFilesystem"]) == (
        True,
        65532,
        True,
    )
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"]["drop"] == ["ALL"]
    assert ctx["seccompProfile"]["type"] == "RuntimeDefault"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_without_print_says_how_to_apply() -> None:
    """rollout does not apply itself: exit 2 and the kubectl pipeline on stderr."""
    code, out, err = install()
    assert code == 2
    assert out == ""
    assert "rollout install --print | kubectl apply -f -" in err


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("--replicas", "0"), id="zero-replicas"),
        pytest.param(("--print", "--write", "somewhere"), id="print-and-write"),
    ],
)
def test_usage_errors_exit_2(args: tuple[str, ...]) -> None:
    """Bad options are usage errors (exit 2)."""
    assert install(*args)[0] == 2


def test_write_to_an_unwritable_place_is_one_line(tmp_path: pathlib.Path) -> None:
    """A file where the directory should be: one line naming it, exit 2, no traceback."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _out, err = install("--write", str(blocker / "deploy"))
    assert code == 2
    assert err.count("\n") == 1
    assert f"--write {blocker / 'deploy'}" in err


def test_write_produces_the_deploy_files(tmp_path: pathlib.Path) -> None:
    """`--write DIR` (make deploy) writes deploy/'s files as rendered."""
    code, out, _ = install("--write", str(tmp_path / "deploy"))
    assert code == 0
    written = {p.name: p.read_text(encoding="utf-8") for p in (tmp_path / "deploy").iterdir()}
    assert written == manifests.files()
    assert out.count("wrote ") == len(manifests.FILES)
