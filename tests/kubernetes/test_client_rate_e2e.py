"""The controller keeps to its client-side rate limit: with `--kube-qps 10
--kube-burst 5` and ten Services waiting (more work than ten requests a second), the
API server never sees more of its requests in any window than the burst plus what the
rate allows, and its metrics say so."""

from __future__ import annotations

import pathlib
import socket
import urllib.request
from typing import Any

import kubeemu
from kubecluster import CONTROLLER_AGENT, Controller, controller_requests, wait_for
from kubeemu import crdfiles, rawclient

QPS, BURST = 10, 5
WANTED = 30  # requests observed: the limit must have spread them over >= 2.4 s
OURS = "/apis/rollout.dev/v1alpha1/namespaces/default"


def service(name: str) -> dict[str, Any]:
    container = {"name": "app", "image": f"registry.example/{name}:1"}
    return {
        "apiVersion": "rollout.dev/v1alpha1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"policy": "direct", "template": {"spec": {"containers": [container]}}},
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_controllers_request_rate_stays_within_kube_qps(
    emulator: kubeemu.Emulator, kubeconfig: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    emu = emulator
    crdfiles.register(emu, [*crdfiles.PROJECT_CRDS, *crdfiles.MESH_CRDS])
    policy = {
        "apiVersion": "rollout.dev/v1alpha1",
        "kind": "RolloutPolicy",
        "metadata": {"name": "direct", "namespace": "default"},
        "spec": {"steps": [{"setWeight": 100}]},
    }
    for path, doc in [
        (f"{OURS}/rolloutpolicies", policy),
        *((f"{OURS}/services", service(f"svc{i}")) for i in range(10)),
    ]:
        made = rawclient.call(emu.url, "POST", path, body=doc)
        assert made.status == 201, made.body
    port = free_port()
    controller = Controller(
        kubeconfig,
        tmp_path / "controller.log",
        "--kube-qps",
        str(QPS),
        "--kube-burst",
        str(BURST),
        "--metrics-addr",
        f"127.0.0.1:{port}",
    )
    try:
        wait_for(
            lambda: len(controller_requests(emu)) >= WANTED,
            30,
            f"{WANTED} controller requests\n{controller.output()[-3000:]}",
        )
        for window in (0.5, 1.0, 2.0):
            most = emu.requests.busiest(window, user_agent_contains=CONTROLLER_AGENT)
            assert most <= BURST + QPS * window + 1, (window, most)  # +1: arrival jitter
        made = controller_requests(emu)[:WANTED]
        assert made[-1].at - made[0].at >= (WANTED - BURST - 1) / QPS  # the limit held them
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            metrics = r.read().decode()
        assert f"rollout_kube_client_qps {float(QPS)}" in metrics
        assert f"rollout_kube_client_burst {float(BURST)}" in metrics
        assert 'rollout_kube_requests_total{code="201",verb="POST"}' in metrics
        waited = [
            float(line.split()[-1])
            for line in metrics.splitlines()
            if line.startswith("rollout_kube_throttle_wait_seconds_total ")
        ]
        assert waited, metrics
        assert waited[0] > 0, metrics
    finally:
        assert controller.stop() == 0, controller.output()
