"""`rollout install --print` read by the real kubectl: a client-side dry run against
the API emulator accepts every document (kinds it can map, namespaces where they
belong), and applying it for real creates the CRDs, RBAC and the controller
Deployment with the ClusterRole exactly as `rbac.py` says."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import kubeemu
from kubecluster import Kubectl

from rollout.platforms.kubernetes import rbac

ROLLOUT = str(pathlib.Path(sys.executable).parent / "rollout")


def install(namespace: str) -> str:
    done = subprocess.run(
        [ROLLOUT, "install", "--print", "--namespace", namespace],
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
    role = emulator.get_object(
        "rbac.authorization.k8s.io", "v1", "clusterroles", None, "rollout-controller"
    )
    assert role is not None
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert granted == rbac.grants()
    dep = emulator.get_object("apps", "v1", "deployments", "delivery", "rollout-controller")
    assert dep is not None
    args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:4] == ["controller", "--platform", "kubernetes", "--leader-elect"]
