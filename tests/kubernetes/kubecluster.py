"""A cluster for end-to-end tests: the emulator, the Deployment controller's part
(Deployments become available), the real `rollout` CLI and controller processes.

- `DeploymentController(emu)` — starts the emulator's Deployment controller
  (`kubeemu/deployments.py`: statuses and pods as kube-controller-manager and the
  kubelet would make them, failure modes a test picks with `emu.deployments.fail`);
  `hold(name)` keeps a Deployment's pods from becoming ready until `release(name)`
  — a slow start a test can watch.
- `Controller(kubeconfig, log, *args)` — `rollout controller --platform kubernetes
  --gateway default/public` as a process; `stop()` (SIGTERM, then wait) or `kill()`
  (SIGKILL) by its pid.
- `rollout(kubeconfig, *args)` — one CLI command with `--backend kubernetes`.
- `Recorder(emu, ref, namespace, name)` — polls a route object (HTTPRoute or
  VirtualService) and records each distinct split it shows, in order.
- `Cluster(emu, kubeconfig, tmp, deployments)` — `apply` YAML with the CLI, read our
  objects; `deployments` is the cluster's `DeploymentController`.
- `event_reasons(cluster, kind, name)` — reasons of the Events about an object.
- `assert_granted(emu, docs)` — every request the controller made is allowed by the
  RBAC objects `rollout install --print` renders (`docs`; default: the cluster-wide
  install with the controller in `default`, where the tests' Lease is), decided as
  the apiserver's RBAC authorizer would (`kubeemu.authz`: verbs, resources and
  subresources, namespaces, names), and so are the permissions admission asked of
  them (owner references with `blockOwnerDeletion` need `update` on the owner's
  `finalizers`): a call without a grant would be a 403 on a real cluster.
  `CONTROLLER_SA` is the ServiceAccount to give `emu.enforce_rbac` so that the
  emulator refuses such calls while the test runs.
- `install_rbac(emu, settings)` — the namespaces and RBAC objects `rollout install`
  renders for `settings`, created in the emulator (plus a namespace `outside`);
  `controller_requests(emu)` — the requests the controller has made so far.
- `wait_for(predicate, timeout, what)` — the deadline every wait uses.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import kubeemu
from kubeemu import authz, rawclient
from kubeemu import gateways as gateways_
from kubernetes import client

from rollout.platforms.kubernetes import manifests

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_GATEWAY = "default/public"  # `Controller`'s --gateway
ROLLOUT = [str(pathlib.Path(sys.executable).parent / "rollout")]
Split = tuple[tuple[str, int], ...]
Kubectl = Callable[..., "subprocess.CompletedProcess[str]"]  # the `kubectl` fixture


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def env() -> dict[str, str]:
    return {**os.environ, "ROLLOUT_USER": "e2e", "PYTHONUNBUFFERED": "1"}


def rollout(
    kubeconfig: pathlib.Path, *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ROLLOUT, *args, "--backend", "kubernetes", "--kubeconfig", str(kubeconfig)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env(),
        cwd=ROOT,
        check=False,
    )


class DeploymentController:
    """The emulator's Deployment controller (`kubeemu.deployments`), started: our
    Deployments become available at once unless a test picks a failure mode
    (`emu.deployments.fail(...)`); `hold(name)` / `release(name)` a slow start."""

    def __init__(self, emu: kubeemu.Emulator) -> None:
        self.emu = emu
        emu.deployments.start()

    def hold(self, name: str) -> None:
        """Deployment `name`'s pods do not become ready (until `release`)."""
        self.emu.deployments.hold(name)

    def release(self, name: str) -> None:
        self.emu.deployments.heal(name=name)

    def stop(self) -> None:
        self.emu.deployments.stop()


class Controller:
    """`rollout controller --platform kubernetes` in its own process."""

    def __init__(self, kubeconfig: pathlib.Path, log: pathlib.Path, *args: str) -> None:
        self.log_path = log
        self.log = log.open("w")
        self.proc = subprocess.Popen(
            [
                *ROLLOUT,
                "controller",
                "--platform",
                "kubernetes",
                "--kubeconfig",
                str(kubeconfig),
                "--metrics-addr",
                "off",
                "--gateway",  # the `cluster` fixture's gateway controller accepts it
                DEFAULT_GATEWAY,
                *args,
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env(),
            cwd=ROOT,
        )

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text()

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
        code = self.proc.wait(30)
        self.log.close()
        return code

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        self.log.close()


class Recorder:
    """Records each distinct split a route object shows, polling every 20 ms."""

    def __init__(
        self,
        emu: kubeemu.Emulator,
        read: Callable[[dict[str, Any]], Split],
        group: str,
        version: str,
        plural: str,
        namespace: str,
        name: str,
    ) -> None:
        self.emu = emu
        self.read = read
        self.where = (group, version, plural, namespace, name)
        self.splits: list[Split] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="route-recorder")
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped.wait(0.02):
            obj = self.emu.get_object(*self.where)
            if obj is None:
                continue
            split = self.read(obj)
            if not self.splits or self.splits[-1] != split:
                self.splits.append(split)

    def stop(self) -> list[Split]:
        self.stopped.set()
        self.thread.join(10)
        return self.splits


def httproute_split(obj: dict[str, Any]) -> Split:
    """The weighted rule's backends (the rule without header matches)."""
    for rule in obj["spec"].get("rules", []):
        if any(m.get("headers") for m in rule.get("matches", [])):
            continue
        return tuple(
            sorted(
                (b["name"], b.get("weight", 1))
                for b in rule.get("backendRefs", [])
                if b.get("weight", 1)
            )
        )
    return ()


def virtualservice_split(obj: dict[str, Any]) -> Split:
    """The weighted route's destinations (the route without header matches)."""
    for http in obj["spec"].get("http", []):
        if any(m.get("headers") for m in http.get("match", []) or []):
            continue
        return tuple(
            sorted(
                (r["destination"]["host"].split(".")[0], r.get("weight", 100))
                for r in http.get("route", [])
                if r.get("weight", 100)
            )
        )
    return ()


def event_reasons(c: Cluster, kind: str, name: str) -> set[str]:
    """The reasons of the core v1 Events about one of our objects."""
    raw = client.CoreV1Api(c.emu.api_client()).list_namespaced_event(
        "default", _preload_content=False
    )
    return {
        e["reason"]
        for e in json.loads(raw.data)["items"]
        if e["involvedObject"]["kind"] == kind and e["involvedObject"]["name"] == name
    }


CONTROLLER_AGENT = "rollout-controller/"  # the controller's User-Agent prefix


def controller_sa(namespace: str = "default") -> authz.Subject:
    """The controller's ServiceAccount, as the install manifests make it."""
    return authz.Subject(name=manifests.NAME, namespace=namespace)


def install_rbac(emu: kubeemu.Emulator, settings: manifests.Settings) -> None:
    """Create the install's namespaces and RBAC objects (as `kubectl apply` would)."""
    for name in {*settings.watch_namespaces, settings.namespace, "outside"}:
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        rawclient.call(emu.url, "POST", "/api/v1/namespaces", body=ns)
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    plurals = {
        "ClusterRole": "clusterroles",
        "ClusterRoleBinding": "clusterrolebindings",
        "Role": "roles",
        "RoleBinding": "rolebindings",
    }
    for doc in manifests.render(settings):
        if doc["kind"] not in plurals:
            continue
        namespace = doc["metadata"].get("namespace")
        where = f"{rbac}/namespaces/{namespace}" if namespace else rbac
        made = rawclient.call(emu.url, "POST", f"{where}/{plurals[doc['kind']]}", body=doc)
        assert made.status == 201, made.body


def controller_requests(emu: kubeemu.Emulator) -> list[kubeemu.RequestRecord]:
    return [r for r in emu.requests.snapshot() if CONTROLLER_AGENT in r.user_agent]


def assert_granted(
    emu: kubeemu.Emulator,
    docs: list[dict[str, Any]] | None = None,
    *,
    controller_namespace: str = "default",
) -> set[tuple[str, str, str, str]]:
    """Every controller request (by User-Agent) is one the RBAC objects in `docs` let
    its ServiceAccount make; returns what was used: (verb, group, resource, namespace)."""
    rendered = (
        docs if docs is not None else manifests.render(manifests.Settings(namespace="default"))
    )
    policy = authz.Policy.of(rendered)
    subject = controller_sa(controller_namespace)
    used: set[tuple[str, str, str, str]] = set()
    refused: set[tuple[str, str, str, str]] = set()
    for r in emu.requests.snapshot():
        if CONTROLLER_AGENT not in r.user_agent:
            continue
        resource = f"{r.resource}/{r.subresource}" if r.subresource else r.resource
        seen = (r.verb, r.group, resource, r.namespace)
        used.add(seen)
        request = authz.Attributes(
            verb=r.verb,
            group=r.group,
            resource=r.resource,
            subresource=r.subresource,
            namespace=r.namespace,
            name=r.name,
        )
        if r.status_code == 403 or not authz.allowed(request, subject, policy):
            refused.add(seen)
        for check in r.admission:  # OwnerReferencesPermissionEnforcement's
            needed = check.attributes
            alternative = check.alternative
            if not authz.allowed(needed, subject, policy) and not (
                alternative is not None and authz.allowed(alternative, subject, policy)
            ):
                resource = f"{needed.resource}/{needed.subresource}".rstrip("/")
                refused.add((needed.verb, needed.group, resource, needed.namespace))
    assert used, "no controller request was recorded"
    assert not refused, f"not granted by the install's RBAC: {sorted(refused)}"
    return used


ROUTE_OBJECTS: dict[str, tuple[str, str, str, Callable[[dict[str, Any]], Split]]] = {
    "gateway-api": ("gateway.networking.k8s.io", "v1", "httproutes", httproute_split),
    "istio": ("networking.istio.io", "v1beta1", "virtualservices", virtualservice_split),
}


def service_yaml(version: str, *, policy: str, routing: str | None = None) -> str:
    """The Service `web` (image and env VERSION = `version`) under `policy`."""
    lines = [
        "apiVersion: rollout.dev/v1alpha1",
        "kind: Service",
        "metadata: {name: web, namespace: default}",
        "spec:",
        f"  policy: {policy}",
        *([f"  routing: {routing}"] if routing else []),
        "  template:",
        "    spec:",
        "      containers:",
        "        - name: app",
        f'          image: "registry.example/web:{version}"',
        f'          env: [{{name: VERSION, value: "{version}"}}]',
        "          ports: [{containerPort: 8080}]",
    ]
    return "\n".join(lines) + "\n"


class Cluster:
    """The emulator seen by a test: apply with the CLI, read our objects and routes."""

    def __init__(
        self,
        emu: kubeemu.Emulator,
        kubeconfig: pathlib.Path,
        tmp: pathlib.Path,
        deployments: DeploymentController | None = None,
        gateways: gateways_.GatewayController | None = None,
    ) -> None:
        self.emu = emu
        self.kubeconfig = kubeconfig
        self.tmp = tmp
        self.deployments = deployments
        self.gateways = gateways

    def apply(self, text: str, name: str) -> None:
        path = self.tmp / name
        path.write_text(text)
        done = rollout(self.kubeconfig, "apply", "-f", str(path))
        assert done.returncode == 0, done.stderr

    def obj(self, group: str, version: str, plural: str, name: str) -> dict[str, Any] | None:
        return self.emu.get_object(group, version, plural, "default", name)

    def rsvc(self) -> dict[str, Any]:
        svc = self.obj("rollout.dev", "v1alpha1", "services", "web")
        assert svc is not None
        return svc

    def split(self, router: str = "gateway-api") -> Split | None:
        """The weighted split the route object of `web` shows now (None: no object)."""
        group, version, plural, read = ROUTE_OBJECTS[router]
        obj = self.obj(group, version, plural, "web")
        return read(obj) if obj is not None else None

    def wait_split(
        self, split: Split, timeout: float, *, router: str = "gateway-api", log: str = ""
    ) -> None:
        wait_for(lambda: self.split(router) == split, timeout, f"the split {split}\n{log}")

    def record(self, router: str = "gateway-api") -> Recorder:
        """Start recording each split the route object of `web` shows."""
        group, version, plural, read = ROUTE_OBJECTS[router]
        return Recorder(self.emu, read, group, version, plural, "default", "web")
