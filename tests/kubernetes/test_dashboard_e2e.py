"""`rollout dashboard --backend kubernetes` on the API emulator (issue 21): the same
store as every command (the kubeconfig's cluster), every namespace, and a Service
applied by another process reaches an open page within a second (through the
store's buffered watch)."""

from __future__ import annotations

import http.client
import pathlib
import signal
import subprocess
import time
from collections.abc import Iterator

import kubeemu
import pytest
from kubecluster import ROLLOUT, ROOT, env, rollout
from kubeemu import rawclient

SERVICE = """\
apiVersion: rollout.dev/v1alpha1
kind: Service
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  template:
    spec:
      containers:
        - name: app
          image: example/app:v1
"""


def apply(kubeconfig: pathlib.Path, tmp: pathlib.Path, name: str, namespace: str) -> None:
    path = tmp / f"{name}.yaml"
    path.write_text(SERVICE.format(name=name, namespace=namespace))
    done = rollout(kubeconfig, "apply", "-f", str(path))
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def serving(crds_applied: kubeemu.Emulator, kubeconfig: pathlib.Path) -> Iterator[int]:
    """The dashboard on the emulator, in its own process; stopped by its PID."""
    process = subprocess.Popen(
        [
            *ROLLOUT,
            "dashboard",
            "--backend",
            "kubernetes",
            "--kubeconfig",
            str(kubeconfig),
            "--addr",
            "127.0.0.1:0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("dashboard (read-write): http://127.0.0.1:"), line
        yield int(line.split("127.0.0.1:")[1].split("/")[0])
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _, err = process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise
    assert process.returncode == 0, err


def get(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        answer = conn.getresponse()
        return answer.status, answer.read().decode()
    finally:
        conn.close()


def test_the_dashboard_follows_the_cluster(
    crds_applied: kubeemu.Emulator, kubeconfig: pathlib.Path, tmp_path: pathlib.Path, serving: int
) -> None:
    shop = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}
    rawclient.call(crds_applied.url, "POST", "/api/v1/namespaces", body=shop)
    apply(kubeconfig, tmp_path, "web", "default")
    port = serving
    deadline = time.monotonic() + 10
    while 'data-service="web"' not in get(port, "/")[1]:
        assert time.monotonic() < deadline, "web never shown"
        time.sleep(0.2)
    time.sleep(0.5)  # the first looks taken
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/events")
        stream = conn.getresponse()
        assert stream.status == 200
        assert stream.readline() == b"event: hello\n"
        stream.readline(), stream.readline()
        apply(kubeconfig, tmp_path, "api", "shop")  # another namespace, another process
        applied = time.monotonic()
        while True:
            line = stream.readline()
            assert time.monotonic() - applied < 1.0, "api not shown within a second"
            if line != b"event: change\n":
                continue
            status, page = get(port, "/")
            if status == 200 and 'data-service="api" data-namespace="shop"' in page:
                break
    finally:
        conn.close()
    assert 'data-service="web" data-namespace="default"' in page
