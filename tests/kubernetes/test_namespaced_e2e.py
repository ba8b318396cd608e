"""End to end on the API emulator: `rollout install --print --watch-namespaces
team-a,team-b` applied with the real kubectl, the emulator enforcing the RBAC it
created for the controller's ServiceAccount (Roles and RoleBindings in team-a and
team-b, the Lease's Role in rollout-system, nothing cluster-wide), and a controller
process started as the manifest starts it (`--watch-namespaces team-a,team-b`).

It releases a Service in team-a step by step, never touches the same Service in a
namespace it does not watch, and every request it makes is granted by those objects
and names a watched namespace (or the Lease's); none is refused. Without the
namespace list the same RBAC refuses the controller's cluster-wide lists, which is
what the scoped store is for. A web metric whose header is a `secretKeyRef` gets the
Secret of the release's namespace (granted by name, `--secret-names`) at measurement
time: the metric endpoint (a local HTTP server) sees the token, the release passes.
"""

from __future__ import annotations

import http.server
import json
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from hookgate import HookGate
from kubecluster import (
    CONTROLLER_AGENT,
    ROLLOUT,
    Cluster,
    Controller,
    Kubectl,
    Recorder,
    assert_granted,
    controller_requests,
    controller_sa,
    httproute_split,
    rollout,
    wait_for,
)

from rollout.analysis.providers import hooks as transport

CONTROLLER_NS = "rollout-system"
WATCHED = "team-a,team-b"
LEASE = ["--lease-duration", "3", "--renew-deadline", "2", "--retry-period", "0.5"]
NAMESPACES = """\
apiVersion: v1
kind: Namespace
metadata: {name: team-a}
---
apiVersion: v1
kind: Namespace
metadata: {name: team-b}
---
apiVersion: v1
kind: Namespace
metadata: {name: outside}
"""


def policy(namespace: str) -> str:
    return (
        "apiVersion: rollout.dev/v1alpha1\n"
        "kind: RolloutPolicy\n"
        f"metadata: {{name: two-steps, namespace: {namespace}}}\n"
        "spec:\n"
        "  steps:\n"
        "    - setWeight: 30\n"
        "    - pause: {duration: 1s}\n"
    )


def service(version: str, namespace: str) -> str:
    return "\n".join(
        [
            "apiVersion: rollout.dev/v1alpha1",
            "kind: Service",
            f"metadata: {{name: web, namespace: {namespace}}}",
            "spec:",
            "  policy: two-steps",
            "  routing: {router: gateway-api, parentRefs: [{name: public}]}",
            "  template:",
            "    spec:",
            "      containers:",
            "        - name: app",
            f'          image: "registry.example/web:{version}"',
            "          ports: [{containerPort: 8080}]",
            "",
        ]
    )


def install(c: Cluster, kubectl: Kubectl, *args: str) -> list[dict[str, Any]]:
    """Apply the namespaces, then `rollout install --print --watch-namespaces …`."""
    made = kubectl(c.kubeconfig, "apply", "--validate=false", "-f", "-", stdin=NAMESPACES)
    assert made.returncode == 0, made.stderr
    printed = subprocess.run(
        [
            *ROLLOUT,
            "install",
            "--print",
            "--namespace",
            CONTROLLER_NS,
            "--watch-namespaces",
            WATCHED,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert printed.returncode == 0, printed.stderr
    applied = kubectl(c.kubeconfig, "apply", "--validate=false", "-f", "-", stdin=printed.stdout)
    assert applied.returncode == 0, applied.stderr
    return [d for d in yaml.safe_load_all(printed.stdout) if d]


def rsvc(c: Cluster, namespace: str) -> dict[str, Any] | None:
    return c.emu.get_object("rollout.dev", "v1alpha1", "services", namespace, "web")


def split(c: Cluster, namespace: str) -> Any:
    obj = c.emu.get_object("gateway.networking.k8s.io", "v1", "httproutes", namespace, "web")
    return httproute_split(obj) if obj is not None else None


def test_a_namespaced_controller_releases_there_and_calls_nothing_else(
    cluster: Cluster, kubectl: Kubectl
) -> None:
    c = cluster
    docs = install(c, kubectl)
    c.emu.enforce_rbac(CONTROLLER_AGENT, controller_sa(CONTROLLER_NS))
    controller = Controller(
        c.kubeconfig,
        c.tmp / "controller.log",
        "--watch-namespaces",
        WATCHED,
        "--leader-elect",
        "--lease-namespace",
        CONTROLLER_NS,
        *LEASE,
    )
    recorder: Recorder | None = None
    try:
        for namespace in ("team-a", "outside"):
            c.apply(policy(namespace), f"policy-{namespace}.yaml")
            c.apply(service("v1", namespace), f"v1-{namespace}.yaml")
        wait_for(
            lambda: split(c, "team-a") == (("web-00001", 100),),
            30,
            f"team-a's first revision to take traffic; log:\n{controller.output()[-4000:]}",
        )
        recorder = Recorder(
            c.emu,
            httproute_split,
            "gateway.networking.k8s.io",
            "v1",
            "httproutes",
            "team-a",
            "web",
        )
        c.apply(service("v2", "team-a"), "v2-team-a.yaml")
        wait_for(
            lambda: recorder is not None and recorder.splits[-1:] == [(("web-00002", 100),)],
            30,
            f"team-a's release to finish; log:\n{controller.output()[-4000:]}",
        )
        assert recorder.stop() == [
            (("web-00001", 100),),
            (("web-00001", 70), ("web-00002", 30)),
            (("web-00002", 100),),
        ]
        status = rollout(c.kubeconfig, "status", "web", "-n", "team-a", "-o", "json")
        assert status.returncode == 0, status.stderr
        # the same Service where the controller does not work: untouched
        outside = rsvc(c, "outside")
        assert outside is not None
        assert not outside.get("status"), outside.get("status")
        assert (
            c.emu.get_object("rollout.dev", "v1alpha1", "revisions", "outside", "web-00001") is None
        )
        # every request granted by the applied Roles; none outside the scope
        used = assert_granted(c.emu, docs, controller_namespace=CONTROLLER_NS)
        assert {namespace for *_, namespace in used} == {"team-a", "team-b", CONTROLLER_NS}
        assert {(verb, resource) for verb, _, resource, ns in used if ns == CONTROLLER_NS} <= {
            ("get", "leases"),
            ("create", "leases"),
            ("update", "leases"),
        }
        assert [r for r in controller_requests(c.emu) if r.status_code == 403] == []
    finally:
        if recorder is not None:
            recorder.stop()
        assert controller.stop() == 0, controller.output()


def test_without_the_namespace_list_this_rbac_refuses_the_controller(
    cluster: Cluster, kubectl: Kubectl
) -> None:
    """The control: a controller listing every namespace is refused (403) by Roles in
    some namespaces — the emulator enforces them, and the scope is what makes it work."""
    c = cluster
    install(c, kubectl)
    c.emu.enforce_rbac(CONTROLLER_AGENT, controller_sa(CONTROLLER_NS))
    controller = Controller(c.kubeconfig, c.tmp / "controller.log")
    try:
        refused = wait_for(
            lambda: [r for r in controller_requests(c.emu) if r.status_code == 403],
            30,
            f"a refused request; log:\n{controller.output()[-3000:]}",
        )
        assert ("list", "") in {(r.verb, r.namespace) for r in refused}
    finally:
        controller.stop()


TOKEN = "e2e-bearer-token"


class MetricEndpoint:
    """A metric endpoint on 127.0.0.1: `{"value": 0}` to `Authorization: Bearer
    TOKEN`, 401 to anyone else; it records the Authorization headers it was sent."""

    def __init__(self) -> None:
        seen: list[str] = []
        self.seen = seen

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                auth = self.headers.get("Authorization", "")
                seen.append(auth)
                ok = auth == f"Bearer {TOKEN}"
                body = json.dumps({"value": 0} if ok else {"error": "who are you"}).encode()
                self.send_response(200 if ok else 401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/value"
        self.thread = threading.Thread(target=self.server.serve_forever, name="metric-endpoint")
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@pytest.fixture
def endpoint() -> Iterator[MetricEndpoint]:
    served = MetricEndpoint()
    yield served
    served.stop()


def gated_policy(url: str) -> str:
    return f"""\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata: {{name: two-steps, namespace: team-a}}
spec:
  steps:
    - setWeight: 30
    - analysis: {{duration: 2s, metrics: [ok]}}
  analysis:
    interval: 1s
    metrics:
      - name: ok
        provider:
          web:
            url: "{url}"
            jsonPath: $.value
            headers:
              Authorization: {{valueFrom: {{secretKeyRef: {{name: prom-token, key: bearer}}}}}}
        thresholds: {{max: 1}}
"""


SECRET = f"""\
apiVersion: v1
kind: Secret
metadata: {{name: prom-token, namespace: team-a}}
stringData: {{bearer: "Bearer {TOKEN}"}}
"""


def test_a_web_metric_reads_its_secret_in_the_release_namespace(
    cluster: Cluster, kubectl: Kubectl, endpoint: MetricEndpoint
) -> None:
    c = cluster
    docs = install(c, kubectl, "--secret-names", "prom-token")
    made = kubectl(c.kubeconfig, "apply", "--validate=false", "-f", "-", stdin=SECRET)
    assert made.returncode == 0, made.stderr
    c.emu.enforce_rbac(CONTROLLER_AGENT, controller_sa(CONTROLLER_NS))
    controller = Controller(c.kubeconfig, c.tmp / "controller.log", "--watch-namespaces", WATCHED)
    try:
        c.apply(gated_policy(endpoint.url), "policy.yaml")
        c.apply(service("v1", "team-a"), "v1.yaml")
        wait_for(lambda: split(c, "team-a") == (("web-00001", 100),), 30, "the first revision")
        c.apply(service("v2", "team-a"), "v2.yaml")
        wait_for(
            lambda: split(c, "team-a") == (("web-00002", 100),),
            40,
            f"the gated release to pass; seen {endpoint.seen[-3:]}; log:\n"
            f"{controller.output()[-4000:]}",
        )
        assert endpoint.seen
        assert set(endpoint.seen) == {f"Bearer {TOKEN}"}
        used = assert_granted(c.emu, docs, controller_namespace=CONTROLLER_NS)
        assert ("get", "", "secrets", "team-a") in used
        assert TOKEN not in controller.output()
        release = c.emu.get_object("rollout.dev", "v1alpha1", "releases", "team-a", "web-00002")
        assert release is not None
        assert TOKEN not in json.dumps(release)
        # `rollout analyze` from the user's machine reads the same Secret, as the user
        calls = len(endpoint.seen)
        analyzed = rollout(c.kubeconfig, "analyze", "web", "-n", "team-a", "-o", "json")
        assert analyzed.returncode == 0, analyzed.stdout + analyzed.stderr
        row = json.loads(analyzed.stdout.splitlines()[0])
        assert (row["metric"], row["verdict"], row["error"]) == ("ok", "Passed", None)
        assert endpoint.seen[calls:] == [f"Bearer {TOKEN}"]
        assert TOKEN not in analyzed.stdout + analyzed.stderr
    finally:
        assert controller.stop() == 0, controller.output()


HMAC = "gate-hmac-9c1e"
GATE_SECRET = f"""\
apiVersion: v1
kind: Secret
metadata: {{name: gate-hmac, namespace: team-a}}
stringData: {{key: "{HMAC}"}}
"""


def hooked_policy(url: str) -> str:
    return f"""\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata: {{name: two-steps, namespace: team-a}}
spec:
  steps:
    - setWeight: 30
    - pause: {{duration: 1s}}
  webhooks:
    - name: approve
      type: confirm-promotion
      url: "{url}/approve"
      timeout: 2s
      secretRef: {{secretKeyRef: {{name: gate-hmac, key: key}}}}
"""


def test_a_webhook_gate_signs_with_a_secret_of_the_release_namespace(
    cluster: Cluster, kubectl: Kubectl
) -> None:
    """The gate says no, then yes: the release waits at its last step, then promotes;
    every call is signed with the Secret's key, which is in no log or object."""
    c = cluster
    docs = install(c, kubectl, "--secret-names", "gate-hmac")
    made = kubectl(c.kubeconfig, "apply", "--validate=false", "-f", "-", stdin=GATE_SECRET)
    assert made.returncode == 0, made.stderr
    c.emu.enforce_rbac(CONTROLLER_AGENT, controller_sa(CONTROLLER_NS))
    gate = HookGate(403)
    controller = Controller(c.kubeconfig, c.tmp / "controller.log", "--watch-namespaces", WATCHED)
    try:
        c.apply(hooked_policy(gate.url), "policy.yaml")
        c.apply(service("v1", "team-a"), "v1.yaml")
        wait_for(lambda: split(c, "team-a") == (("web-00001", 100),), 30, "the first revision")
        c.apply(service("v2", "team-a"), "v2.yaml")
        gate.wait_for(lambda calls: len(calls) >= 2, within=40)
        assert split(c, "team-a") == (("web-00001", 70), ("web-00002", 30))
        gate.status = 200
        wait_for(
            lambda: split(c, "team-a") == (("web-00002", 100),),
            40,
            f"the gate's yes to promote; log:\n{controller.output()[-4000:]}",
        )
        for call in gate.calls:
            assert transport.verify(
                call.raw, HMAC.encode(), call.headers.get("x-rollout-signature")
            )
        used = assert_granted(c.emu, docs, controller_namespace=CONTROLLER_NS)
        assert ("get", "", "secrets", "team-a") in used
        assert HMAC not in controller.output()
        release = c.emu.get_object("rollout.dev", "v1alpha1", "releases", "team-a", "web-00002")
        assert release is not None
        assert HMAC not in json.dumps(release)
        assert [w["name"] for w in release["status"]["webhooks"]] == ["approve"]
    finally:
        gate.close()
        assert controller.stop() == 0, controller.output()
