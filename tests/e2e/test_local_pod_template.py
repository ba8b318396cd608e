"""A pod template on the local platform, end to end through a real controller and the
CLI: the environment Kubernetes would give (downward API, resources, Secrets and
ConfigMaps from the state dir) reaches the process; a missing Secret fails the
revision with CreateContainerConfigError; IgnoredOnLocal lists exactly what is not
honoured; and examples/local/hello.yaml applied from another directory runs.

Waits are on conditions with deadlines; every process is stopped by its PID.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from localenv import Local

from rollout.api import condition, names, revision, service
from rollout.store import sqlite

ROOT = Path(__file__).resolve().parents[2]
HELLO = ROOT / "examples" / "local" / "hello.yaml"

ECHO = r"""
import http.server, json, os, sys

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/healthz" and self.headers.get("X-Probe") != "local":
            self.send_response(503)
            self.end_headers()
            return
        body = json.dumps({"env": dict(os.environ), "cwd": os.getcwd(), "argv": sys.argv}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        return

port = int(sys.argv[sys.argv.index("--port") + 1])
http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""

WEB = """\
apiVersion: rollout.dev/v1alpha1
kind: Service
metadata: {{name: web}}
spec:
  template:
    metadata:
      labels: {{tier: front}}
      annotations: {{team: payments}}
    spec:
      serviceAccountName: web-sa
      containers:
        - name: app
          image: shop/web:1.0
          command: [{python}, envecho.py, --port, $(PORT)]
          workingDir: app
          env:
            - {{name: PORT, value: "1"}}
            - name: POD_NAME
              valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}
            - name: POD_NAMESPACE
              valueFrom: {{fieldRef: {{fieldPath: metadata.namespace}}}}
            - name: TIER
              valueFrom: {{fieldRef: {{fieldPath: "metadata.labels['tier']"}}}}
            - name: REVISION
              valueFrom: {{fieldRef: {{fieldPath: "metadata.labels['rollout.dev/revision']"}}}}
            - name: TEAM
              valueFrom: {{fieldRef: {{fieldPath: "metadata.annotations['team']"}}}}
            - name: NODE
              valueFrom: {{fieldRef: {{fieldPath: spec.nodeName}}}}
            - name: SERVICE_ACCOUNT
              valueFrom: {{fieldRef: {{fieldPath: spec.serviceAccountName}}}}
            - name: POD_IP
              valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}
            - name: MEMORY_MI
              valueFrom: {{resourceFieldRef: {{resource: limits.memory, divisor: 1Mi}}}}
            - name: CPU_MILLIS
              valueFrom: {{resourceFieldRef: {{resource: requests.cpu, divisor: 1m}}}}
            - name: DB_PASSWORD
              valueFrom: {{secretKeyRef: {{name: db, key: password}}}}
            - name: LOG_LEVEL
              valueFrom: {{configMapKeyRef: {{name: web-config, key: LOG_LEVEL}}}}
            - name: OPTIONAL
              valueFrom: {{secretKeyRef: {{name: absent, key: k, optional: true}}}}
            - {{name: GREETING, value: "hello $(POD_NAME) at $(LOG_LEVEL), $$(KEPT)"}}
          envFrom:
            - configMapRef: {{name: web-config}}
              prefix: CFG_
            - secretRef: {{name: db}}
          resources:
            limits: {{memory: 64Mi}}
            requests: {{cpu: 250m}}
          readinessProbe:
            httpGet:
              path: /healthz
              port: 8080
              httpHeaders: [{{name: X-Probe, value: local}}]
            periodSeconds: 1
          livenessProbe:
            httpGet: {{path: /healthz, port: 8080}}
          volumeMounts: [{{name: config, mountPath: /etc/web}}]
        - name: log-shipper
          image: fluent/fluent-bit:3.0
      volumes: [{{name: config, configMap: {{name: web-config}}}}]
      nodeSelector: {{disk: ssd}}
"""

IGNORED = (
    "serviceAccountName, containers[0].image, containers[0].resources,"
    " containers[0].livenessProbe, containers[0].volumeMounts,"
    " containers[1] (sidecar 'log-shipper'), volumes, nodeSelector"
)

LOCKED = """\
apiVersion: rollout.dev/v1alpha1
kind: Service
metadata: {{name: locked}}
spec:
  template:
    spec:
      containers:
        - name: app
          command: [{python}, app/envecho.py, --port, $(PORT)]
          env:
            - name: TOKEN
              valueFrom: {{secretKeyRef: {{name: vault, key: token}}}}
"""


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Local]:
    elsewhere = tmp_path / "elsewhere"  # neither the CLI nor the controller runs in src/
    elsewhere.mkdir()
    env = Local(tmp_path / "state", cwd=elsewhere)
    env.state_dir.mkdir()
    try:
        yield env
    finally:
        env.cleanup()


def rev_of(local: Local, name: str) -> revision.Revision | None:
    store = sqlite.SqliteStore(local.state_dir / "state.db")
    try:
        found = store.get("Revision", "default", name)
        return found if isinstance(found, revision.Revision) else None
    except Exception:
        return None
    finally:
        store.close()


def ready_reason(local: Local, name: str) -> str | None:
    rev = rev_of(local, name)
    ready = rev.status.ready_condition() if rev is not None else None
    return ready.reason if ready is not None else None


def get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as response:
        data: dict[str, Any] = json.loads(response.read())
    return data


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_the_template_env_reaches_the_process_and_ignored_fields_are_listed(
    local: Local, tmp_path: Path
) -> None:
    """fieldRef, resourceFieldRef, secretKeyRef, configMapKeyRef and envFrom as the kubelet
    gives them; a relative command and workingDir under the applied file's directory;
    IgnoredOnLocal names exactly the fields not honoured."""
    src = tmp_path / "src"
    write(src / "app" / "envecho.py", ECHO)
    write(local.state_dir / "secrets" / "default" / "db" / "password", "hunter2")
    write(local.state_dir / "configmaps" / "default" / "web-config" / "LOG_LEVEL", "debug")
    write(local.state_dir / "configmaps" / "default" / "web-config" / "REGION", "eu")
    write(src / "web.yaml", WEB.format(python=sys.executable))
    local.start()
    local.cli("apply", "-f", str(src / "web.yaml"))
    local.wait_for(lambda: ready_reason(local, "web-00001") == "Ready", within=60, what="ready")

    rev = rev_of(local, "web-00001")
    assert rev is not None
    assert rev.metadata.annotations[names.SOURCE_DIR_ANNOTATION] == str(src)
    assert rev.status.url is not None
    seen = get(rev.status.url)
    env, port = seen["env"], rev.status.url.rsplit(":", 1)[1]
    assert seen["cwd"] == str(src / "app")
    assert seen["argv"][1:] == ["--port", port]  # $(PORT) is the port picked locally
    assert env["PORT"] == port  # the template's PORT is overridden
    expected = {
        "POD_NAME": "web-00001-local",
        "POD_NAMESPACE": "default",
        "TIER": "front",
        "REVISION": "web-00001",
        "TEAM": "payments",
        "NODE": socket.gethostname(),
        "SERVICE_ACCOUNT": "web-sa",
        "POD_IP": "127.0.0.1",
        "MEMORY_MI": "64",
        "CPU_MILLIS": "250",
        "DB_PASSWORD": "hunter2",
        "LOG_LEVEL": "debug",
        "GREETING": "hello web-00001-local at debug, $(KEPT)",
        "CFG_LOG_LEVEL": "debug",
        "CFG_REGION": "eu",
        "password": "hunter2",  # envFrom without a prefix
        "ROLLOUT_REVISION": "web-00001",
        "ROLLOUT_SERVICE": "web",
    }
    assert {k: env.get(k) for k in expected} == expected
    assert "OPTIONAL" not in env

    ignored = condition.get_condition(rev.status.conditions, "IgnoredOnLocal")
    assert ignored is not None
    assert (ignored.status, ignored.message) == (condition.ConditionStatus.TRUE, IGNORED)
    shown = local.cli("get", "revisions")
    assert f"web-00001: IgnoredOnLocal: {IGNORED}" in shown.stderr.splitlines()
    assert "web-00001" in shown.stdout
    lines = [
        json.loads(line) for line in local.log.read_text().splitlines() if line.startswith("{")
    ]
    recorded = [e for e in lines if e.get("reason") == "IgnoredOnLocal" and "namespace" in e]
    assert [(e["name"], e["warning"]) for e in recorded] == [("web-00001", True)]  # once


def test_a_missing_secret_fails_the_revision_clearly(local: Local, tmp_path: Path) -> None:
    """A Secret that is not there: Ready False, CreateContainerConfigError, the path looked at."""
    write(tmp_path / "src" / "locked.yaml", LOCKED.format(python=sys.executable))
    local.start()
    local.cli("apply", "-f", str(tmp_path / "src" / "locked.yaml"))
    local.wait_for(
        lambda: ready_reason(local, "locked-00001") == "CreateContainerConfigError",
        within=60,
        what="failed",
    )
    rev = rev_of(local, "locked-00001")
    assert rev is not None
    ready = rev.status.ready_condition()
    assert ready is not None
    assert ready.status is condition.ConditionStatus.FALSE
    folder = local.state_dir / "secrets" / "default" / "vault"
    assert ready.message == (
        f"container 'app': env TOKEN: secret default/vault not found (looked for the"
        f" directory {folder})"
    )
    assert "Traceback" not in local.log.read_text()
    assert not list((local.state_dir / "run").glob("default.locked-*.json"))  # nothing started


@pytest.mark.parametrize("given", ["absolute", "relative"])
def test_hello_example_applied_from_another_directory_becomes_ready(
    local: Local, given: str
) -> None:
    """examples/local/hello.yaml's `python3 app.py` runs next to the file, wherever the
    CLI and the controller run."""
    assert local.cwd is not None
    path = str(HELLO) if given == "absolute" else os.path.relpath(HELLO, local.cwd)
    local.start()
    local.cli("apply", "-f", path)
    local.wait_for(lambda: ready_reason(local, "hello-00001") == "Ready", within=60, what="ready")
    rev = rev_of(local, "hello-00001")
    assert rev is not None
    assert rev.metadata.annotations[names.SOURCE_DIR_ANNOTATION] == str(HELLO.parent)
    assert rev.status.url is not None
    with urllib.request.urlopen(rev.status.url, timeout=5) as response:
        assert response.read() == b"hello from v1\n"
    # The same file from elsewhere: the recorded dir changes, no revision is made.
    copy = Path(local.cwd) / "hello.yaml"
    copy.write_text(HELLO.read_text())
    assert local.cli("apply", "-f", "hello.yaml").stdout.strip() == (
        'service/hello configured (warning: policy "canary-standard" not found; the release'
        " will wait for it)"  # its policy is not applied here: the first revision serves
    )
    local.wait_for(lambda: observed(local, "hello"), within=30, what="the change observed")
    assert rev_of(local, "hello-00002") is None


def observed(local: Local, name: str) -> bool:
    store = sqlite.SqliteStore(local.state_dir / "state.db")
    try:
        svc = store.get("Service", "default", name)
    finally:
        store.close()
    return (
        svc.status.observed_generation == svc.metadata.generation
        and isinstance(svc, service.Service)
        and svc.status.latest_created_revision == f"{name}-00001"
    )
