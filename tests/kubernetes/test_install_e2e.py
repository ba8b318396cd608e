"""`rollout install --print` read by the real kubectl: a client-side dry run against
the API emulator accepts every document (kinds it can map, namespaces where they
belong), and applying it for real creates the CRDs, RBAC, the controller Deployment
and its NetworkPolicy with the grants exactly as `rbac.py` says — cluster-wide, or
with `--watch-namespaces` as Roles in those namespaces only."""

from __future__ import annotations

import pathlib
import subprocess
import sys
from typing import Any

import kubeemu
from kubecluster import Kubectl

from rollout.platforms.kubernetes import rbac

ROLLOUT = str(pathlib.Path(sys.executable).parent / "rollout")
RBAC = "rbac.authorization.k8s.io"


def granted(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def install(namespace: str, *args: str) -> str:
    done = subprocess.run(
        [ROLLOUT, "install", "--print", "--namespace", namespace, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_install_print_passes_a_kubectl_dry_run(
    emulator: kubeemu.Emulator, kubeconfig: pathlib.Path, kubectl: Kubectl
) -> None:
    manifests = install("delivery")
    dry = kubectl(
        kubeconfig, "apply", "--dry-run=client", "--validate=false", "-f", "-", stdin=manifests
    )
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.splitlines()
    assert any(
        "customresourcedefinition" in line and "releases.rollout.dev" in line for line in lines
    )
    assert any(line.startswith("deployment.apps/rollout-controller") for line in lines)
    assert all("(dry run)" in line for line in lines)
    assert (
        emulator.get_object("apps", "v1", "deployments", "delivery", "rollout-controller") is None
    )


def test_install_applied_creates_what_the_controller_needs(
    emulator: kubeemu.Emulator, kubeconfig: pathlib.Path, kubectl: Kubectl
) -> None:
    applied = kubectl(kubeconfig, "apply", "--validate=false", "-f", "-", stdin=install("delivery"))
    assert applied.returncode == 0, applied.stderr
    role = emulator.get_object(RBAC, "v1", "clusterroles", None, "rollout-controller")
    assert role is not None
    assert granted(role) == rbac.grants(rbac.NAMESPACED)
    leader = emulator.get_object(RBAC, "v1", "roles", "delivery", "rollout-controller-leader")
    assert leader is not None
    assert granted(leader) == rbac.grants(rbac.LEADER)
    dep = emulator.get_object("apps", "v1", "deployments", "delivery", "rollout-controller")
    assert dep is not None
    args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:4] == ["controller", "--platform", "kubernetes", "--leader-elect"]
    policy = emulator.get_object(
        "networking.k8s.io", "v1", "networkpolicies", "delivery", "rollout-controller"
    )
    assert policy is not None
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]


def test_a_namespaced_install_creates_roles_in_those_namespaces_only(
    emulator: kubeemu.Emulator, kubeconfig: pathlib.Path, kubectl: Kubectl
) -> None:
    """No ClusterRole nor ClusterRoleBinding; a Role and RoleBinding in each namespace
    listed (which must exist), bound to the controller's ServiceAccount."""
    for name in ("team-a", "team-b"):
        made = kubectl(
            kubeconfig,
            "apply",
            "--validate=false",
            "-f",
            "-",
            stdin=f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}}}\n",
        )
        assert made.returncode == 0, made.stderr
    text = install("delivery", "--watch-namespaces", "team-a,team-b", "--secret-names", "tok")
    applied = kubectl(kubeconfig, "apply", "--validate=false", "-f", "-", stdin=text)
    assert applied.returncode == 0, applied.stderr
    assert emulator.get_object(RBAC, "v1", "clusterroles", None, "rollout-controller") is None
    assert (
        emulator.get_object(RBAC, "v1", "clusterrolebindings", None, "rollout-controller") is None
    )
    for name in ("team-a", "team-b"):
        role = emulator.get_object(RBAC, "v1", "roles", name, "rollout-controller")
        assert role is not None
        assert granted(role) == rbac.grants(rbac.NAMESPACED) | {("", "secrets", "get")}
        binding = emulator.get_object(RBAC, "v1", "rolebindings", name, "rollout-controller")
        assert binding is not None
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "rollout-controller", "namespace": "delivery"}
        ]


def test_a_namespaced_install_into_a_missing_namespace_is_refused(
    kubeconfig: pathlib.Path, kubectl: Kubectl
) -> None:
    """The watched namespaces are the teams': the install does not create them, and
    kubectl says which one is missing."""
    text = install("delivery", "--watch-namespaces", "nowhere")
    applied = kubectl(kubeconfig, "apply", "--validate=false", "-f", "-", stdin=text)
    assert applied.returncode != 0
    assert "nowhere" in applied.stderr
