"""Fixtures for tests against the Kubernetes API emulator (`kubeemu`, DESIGN §10).

- `emulator` — a fresh emulator on a free 127.0.0.1 port, stopped after the test
  (its `stop()` fails the test if a thread would not end).
- `kubeconfig` — a kubeconfig for it in `tmp_path` (context `emulator`).
- `crds_applied` — the emulator with the project's CRDs (`crds/*.yaml` at the
  repository root) registered by POST to apiextensions, as `kubectl apply` would.
- `mesh_crds` — the emulator with minimal Gateway API `HTTPRoute` and Istio
  `VirtualService` CRDs (`tests/kubernetes/crds/`).
- `kubectl` — `kubectl(emu_or_kubeconfig, *args, timeout=60) -> CompletedProcess`,
  the real kubectl binary with `--kubeconfig` and a per-kubeconfig `--cache-dir`
  (discovery is cached between calls, as for a user). Without the binary: fail under
  `CI=true`, skip elsewhere.
- `cluster` — for end-to-end tests: the emulator with the mesh CRDs, the project's
  CRDs applied with the real kubectl, Deployments made available as the
  Deployment controller would, and a gateway controller (`kubeemu.gateways`) whose
  Gateway `public` (in every namespace) accepts HTTPRoutes — `kubecluster.Controller`
  starts the controller with `--gateway default/public` (`kubecluster.Cluster`;
  `cluster.gateways` to make a Gateway refuse).

This directory is put on `sys.path` so tests `import kubeemu`.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

HERE = pathlib.Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import kubecluster  # noqa: E402
import kubeemu  # noqa: E402 - needs the path above
from kubeemu import crdfiles, gateways  # noqa: E402

KUBECTL_TIMEOUT_S = 60.0

Kubectl = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture
def emulator() -> Iterator[kubeemu.Emulator]:
    """A running emulator, stopped (threads joined, port freed) after the test."""
    emu = kubeemu.start_emulator()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def kubeconfig(emulator: kubeemu.Emulator, tmp_path: pathlib.Path) -> pathlib.Path:
    """A kubeconfig for `emulator`."""
    return emulator.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def crds_applied(emulator: kubeemu.Emulator) -> kubeemu.Emulator:
    """The emulator with the project's CRDs registered."""
    crdfiles.register(emulator, crdfiles.PROJECT_CRDS)
    return emulator


@pytest.fixture
def mesh_crds(emulator: kubeemu.Emulator) -> kubeemu.Emulator:
    """The emulator with the HTTPRoute and VirtualService CRDs registered."""
    crdfiles.register(emulator, crdfiles.MESH_CRDS)
    return emulator


@pytest.fixture(scope="session")
def kubectl_binary() -> str:
    found = shutil.which("kubectl")
    if found is None:
        reason = "the kubectl binary is missing"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " — under CI these tests must run")
        pytest.skip(reason)
    return found


@pytest.fixture
def kubectl(kubectl_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    """`kubectl(emu_or_kubeconfig, *args, timeout=60)`: run the real kubectl."""
    configs: dict[int, pathlib.Path] = {}

    def run(
        target: kubeemu.Emulator | str | os.PathLike[str],
        *args: str,
        timeout: float = KUBECTL_TIMEOUT_S,
        stdin: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        if isinstance(target, kubeemu.Emulator):
            if id(target) not in configs:
                configs[id(target)] = target.write_kubeconfig(
                    tmp_path_factory.mktemp("kubectl") / "kubeconfig"
                )
            config = configs[id(target)]
        else:
            config = pathlib.Path(target)
        env: dict[str, Any] = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        env["HOME"] = str(config.parent)
        command = [
            kubectl_binary,
            "--kubeconfig",
            str(config),
            "--cache-dir",
            str(config.parent / "kubectl-cache"),
            *args,
        ]
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            input=stdin,
            check=False,
        )

    return run


@pytest.fixture
def cluster(
    emulator: kubeemu.Emulator,
    mesh_crds: kubeemu.Emulator,
    kubeconfig: pathlib.Path,
    kubectl: Kubectl,
    tmp_path: pathlib.Path,
) -> Iterator[kubecluster.Cluster]:
    applied = kubectl(kubeconfig, "apply", "--validate=false", "-f", str(kubecluster.ROOT / "crds"))
    assert applied.returncode == 0, applied.stderr
    deployments = kubecluster.DeploymentController(emulator)
    accepting = gateways.GatewayController(emulator, {"*/public": gateways.ACCEPT})
    try:
        yield kubecluster.Cluster(emulator, kubeconfig, tmp_path, deployments, accepting)
    finally:
        accepting.stop()
        deployments.stop()
