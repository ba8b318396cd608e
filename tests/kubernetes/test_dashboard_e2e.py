"""`rollout dashboard --backend kubernetes` on the API emulator (issue 21): the same
store as every command (the kubeconfig's cluster), every namespace, and a Service
applied by another process reaches an open page within a second (through the
store's buffered watch); a controller whose leader Lease went stale is shown missing,
as `rollout status` says it, and no longer once the Lease is renewed."""

from __future__ import annotations

import http.client
import pathlib
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

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


LEASES = "/apis/coordination.k8s.io/v1/namespaces/default/leases"


def lease(age: float, version: str | None = None) -> dict[str, object]:
    renewed = datetime.now(UTC) - timedelta(seconds=age)
    meta: dict[str, str] = {"name": "rollout-controller", "namespace": "default"}
    if version is not None:
        meta["resourceVersion"] = version
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": meta,
        "spec": {
            "holderIdentity": "a",
            "leaseDurationSeconds": 15,
            "renewTime": renewed.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        },
    }


def until(port: int, holds: Callable[[str], bool], what: str, within: float = 8.0) -> str:
    deadline = time.monotonic() + within
    while True:
        status, page = get(port, "/")
        if status == 200 and holds(page):
            return page
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_a_missing_controller_is_shown_from_its_lease(
    crds_applied: kubeemu.Emulator, kubeconfig: pathlib.Path, tmp_path: pathlib.Path, serving: int
) -> None:
    """No Lease: nothing said. A Lease renewed a minute ago (15 s duration): the card
    says no controller is seen, as `rollout status` does, and the service comes first
    as blocked; renewed: the warning goes, without a reload of the dashboard."""
    apply(kubeconfig, tmp_path, "web", "default")
    port = serving
    page = until(port, lambda p: 'data-service="web"' in p, "web never shown")
    time.sleep(2.5)  # a read of the (absent) Lease taken
    assert "no controller seen" not in get(port, "/")[1]

    made = rawclient.call(crds_applied.url, "POST", LEASES, body=lease(60))
    assert made.status == 201, made.body
    page = until(port, lambda p: "no controller seen for 6" in p, "the stale Lease never shown")
    assert '<li class="blocking">controller: NoController: no controller seen for 6' in page
    assert 'class="card attention-failing"' in page

    stored = rawclient.call(crds_applied.url, "GET", f"{LEASES}/rollout-controller")
    version = stored.body["metadata"]["resourceVersion"]
    renewed = rawclient.call(
        crds_applied.url, "PUT", f"{LEASES}/rollout-controller", body=lease(0, version)
    )
    assert renewed.status == 200, renewed.body
    until(port, lambda p: "no controller seen" not in p, "the renewed Lease never seen")


def released(url: str, namespace: str, service: str) -> None:
    """A Release of `service` made current, as the controller would (none runs here)."""
    base = f"/apis/rollout.dev/v1alpha1/namespaces/{namespace}"
    rel = {
        "apiVersion": "rollout.dev/v1alpha1",
        "kind": "Release",
        "metadata": {"name": f"{service}-00001", "namespace": namespace},
        "spec": {
            "service": service,
            "canaryRevision": f"{service}-00001",
            "policy": {"steps": [{"setWeight": 100}]},
        },
    }
    made = rawclient.call(url, "POST", f"{base}/releases", body=rel)
    assert made.status == 201, made.body
    svc = rawclient.call(url, "GET", f"{base}/services/{service}").body
    svc["status"] = {**(svc.get("status") or {}), "currentRelease": f"{service}-00001"}
    put = rawclient.call(url, "PUT", f"{base}/services/{service}/status", body=svc)
    assert put.status == 200, put.body


def recorded(url: str, namespace: str, name: str, reason: str, api: str, kind: str) -> None:
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{name}.{reason.lower()}", "namespace": namespace},
        "involvedObject": {"apiVersion": api, "kind": kind, "name": name, "namespace": namespace},
        "reason": reason,
        "message": f"{reason} of {name}",
        "type": "Normal",
        "eventTime": at,
        "reportingComponent": "rollout-controller",
        "reportingInstance": "rollout-controller",
        "action": "Reconcile",
    }
    made = rawclient.call(url, "POST", f"/api/v1/namespaces/{namespace}/events", body=body)
    assert made.status == 201, made.body


def test_every_namespace_shows_its_own_events(
    crds_applied: kubeemu.Emulator, kubeconfig: pathlib.Path, tmp_path: pathlib.Path, serving: int
) -> None:
    """Shown across namespaces, the dashboard reads the Events of every namespace (one
    cluster-wide list of those about our kinds): a service in `shop` shows its own —
    not `default`'s, not a Pod's of the same name."""
    url = crds_applied.url
    shop = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}
    rawclient.call(url, "POST", "/api/v1/namespaces", body=shop)
    apply(kubeconfig, tmp_path, "web", "default")
    apply(kubeconfig, tmp_path, "api", "shop")
    released(url, "shop", "api")
    released(url, "default", "web")
    ours = "rollout.dev/v1alpha1"
    recorded(url, "shop", "api", "ShopRevisionCreated", ours, "Service")
    recorded(url, "shop", "api", "PodPulled", "v1", "Pod")
    recorded(url, "default", "web", "DefaultRevisionCreated", ours, "Service")

    port = serving
    for path, mine, other in [
        ("/ns/shop/services/api", "ShopRevisionCreated", "DefaultRevisionCreated"),
        ("/ns/default/services/web", "DefaultRevisionCreated", "ShopRevisionCreated"),
    ]:
        deadline = time.monotonic() + 8
        while True:
            status, page = get(port, path)
            if status == 200 and mine in page:
                break
            assert time.monotonic() < deadline, f"{mine} never shown on {path}"
            time.sleep(0.2)
        assert other not in page
        assert "PodPulled" not in page
