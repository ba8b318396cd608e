"""What the local platform takes from a pod template: the fields it reports ignored
(IgnoredOnLocal), the working directory against the applied file's directory, the
readiness probe it runs, and why a revision cannot run."""

from __future__ import annotations

import decimal
from pathlib import Path
from typing import Any

import pytest

from rollout.api import meta, names, revision, workload
from rollout.platforms.local import configfiles, podenv, podtemplate, slots

HOST = podtemplate.Host(
    node_name="devbox",
    capacity=podenv.Capacity(
        cpu=decimal.Decimal(4), memory=decimal.Decimal(2**33), ephemeral_storage=decimal.Decimal(0)
    ),
)
APP = {"name": "app", "image": "shop/web:1.4", "command": ["python3", "app.py"]}


def rev_of(
    spec: dict[str, Any],
    *,
    annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
) -> revision.Revision:
    template = workload.PodTemplate.model_validate(
        {"metadata": {"labels": labels or {}}, "spec": spec}
    )
    return revision.Revision(
        metadata=meta.ObjectMeta(
            name="web-00001", namespace="shop", uid="u-1", annotations=annotations or {}
        ),
        spec=revision.RevisionSpec(service="web", template=template),
    )


# ---- IgnoredOnLocal -------------------------------------------------------------------

PRODUCTION = {
    "serviceAccountName": "web",
    "automountServiceAccountToken": False,
    "securityContext": {"runAsNonRoot": True},
    "initContainers": [
        {"name": "migrate", "image": "shop/web:1.4"},
        {"name": "mesh", "image": "envoy", "restartPolicy": "Always"},
    ],
    "containers": [
        {
            "name": "app",
            "image": "shop/web:1.4",
            "imagePullPolicy": "IfNotPresent",
            "command": ["python3", "app.py"],
            "args": ["--port", "$(PORT)"],
            "workingDir": "/srv",
            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
            "env": [{"name": "A", "value": "1"}],
            "envFrom": [{"secretRef": {"name": "db"}}],
            "resources": {"limits": {"cpu": "1"}},
            "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 2},
            "livenessProbe": {"httpGet": {"path": "/live", "port": 8080}},
            "startupProbe": {"tcpSocket": {"port": 8080}},
            "volumeMounts": [{"name": "config", "mountPath": "/etc/web"}],
            "securityContext": {"readOnlyRootFilesystem": True},
            "lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}},
        },
        {"name": "log-shipper", "image": "fluent-bit"},
    ],
    "volumes": [{"name": "config", "configMap": {"name": "web"}}],
    "nodeSelector": {"disk": "ssd"},
    "tolerations": [{"key": "dedicated", "operator": "Exists"}],
    "affinity": {"nodeAffinity": {}},
    "imagePullSecrets": [{"name": "registry"}],
    "terminationGracePeriodSeconds": 30,
}


def test_a_production_template_lists_every_ignored_field_in_order() -> None:
    """Pod fields, containers' extras and containers[0]'s own, in the template's order."""
    assert podtemplate.ignored(PRODUCTION) == (
        "serviceAccountName",
        "securityContext",
        "initContainers[0] (init container 'migrate')",
        "initContainers[1] (native sidecar 'mesh')",
        "containers[0].image",
        "containers[0].imagePullPolicy",
        "containers[0].resources",
        "containers[0].livenessProbe",
        "containers[0].startupProbe",
        "containers[0].volumeMounts",
        "containers[0].securityContext",
        "containers[0].lifecycle",
        "containers[1] (sidecar 'log-shipper')",
        "volumes",
        "nodeSelector",
        "tolerations",
        "affinity",
        "imagePullSecrets",
        "terminationGracePeriodSeconds",
    )


@pytest.mark.parametrize(
    ("spec", "ignored"),
    [
        pytest.param({"containers": [{"name": "a", "command": ["x"]}]}, (), id="minimal"),
        pytest.param(
            {"containers": [{"name": "a", "command": ["x"]}], "restartPolicy": "Always"},
            (),
            id="restart-policy",
        ),
        pytest.param(
            {
                "containers": [{"name": "a", "command": ["x"]}],
                "hostNetwork": True,
                "hostPID": True,
                "enableServiceLinks": False,
                "automountServiceAccountToken": False,
            },
            (),
            id="what-a-local-process-has-anyway",
        ),
        pytest.param(
            {"containers": [{"name": "a", "command": ["x"]}], "hostNetwork": False, "volumes": []},
            ("hostNetwork",),
            id="host-network-false-empty-volumes",
        ),
        pytest.param(
            {
                "containers": [
                    {
                        "name": "a",
                        "command": ["x"],
                        "readinessProbe": {"exec": {"command": ["true"]}},
                    }
                ]
            },
            ("containers[0].readinessProbe.exec (probed as a TCP connect)",),
            id="exec-readiness",
        ),
        pytest.param(
            {
                "containers": [
                    {
                        "name": "a",
                        "command": ["x"],
                        "ports": [{"containerPort": 9000}],
                        "readinessProbe": {
                            "httpGet": {
                                "path": "/h",
                                "port": 9090,
                                "scheme": "HTTPS",
                                "host": "example.com",
                                "httpHeaders": [{"name": "X", "value": "1"}],
                            },
                            "successThreshold": 2,
                        },
                    }
                ]
            },
            (
                "containers[0].readinessProbe.httpGet.port",
                "containers[0].readinessProbe.httpGet.scheme",
                "containers[0].readinessProbe.httpGet.host",
                "containers[0].readinessProbe.successThreshold",
            ),
            id="readiness-details",
        ),
        pytest.param(
            {
                "containers": [
                    {
                        "name": "a",
                        "command": ["x"],
                        "ports": [
                            {"containerPort": 8080, "protocol": "TCP"},
                            {"containerPort": 53, "protocol": "UDP", "hostPort": 53},
                        ],
                        "readinessProbe": {"tcpSocket": {"port": 8080}},
                    }
                ]
            },
            ("containers[0].ports[1].protocol", "containers[0].ports[1].hostPort"),
            id="ports",
        ),
        pytest.param(
            {
                "containers": [{"name": "a", "command": ["x"]}],
                "ephemeralContainers": [{"name": "debug", "image": "busybox"}],
            },
            ("ephemeralContainers[0] (ephemeral container 'debug')",),
            id="ephemeral",
        ),
    ],
)
def test_ignored(spec: dict[str, Any], ignored: tuple[str, ...]) -> None:
    assert podtemplate.ignored(spec) == ignored


# ---- the working directory ----------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "working_dir", "path", "origin"),
    [
        ("/src/app", None, "/src/app", "the directory of the applied file"),
        ("/src/app", "sub", "/src/app/sub", "workingDir under the directory of the applied file"),
        ("/src/app", "/abs", "/abs", "workingDir"),
        (None, None, "/controller", "the controller's working directory"),
        (None, "sub", "/controller/sub", "workingDir under the controller's working directory"),
    ],
)
def test_workdir(source: str | None, working_dir: str | None, path: str, origin: str) -> None:
    """A relative path resolves against the applied file's directory when one is recorded."""
    container = {**APP, **({"workingDir": working_dir} if working_dir else {})}
    annotations = {names.SOURCE_DIR_ANNOTATION: source} if source else {}
    found = podtemplate.workdir(
        rev_of({"containers": [container]}, annotations=annotations), container, Path("/controller")
    )
    assert found.path == Path(path)
    assert found.origin.startswith(origin)


def test_without_a_source_dir_the_origin_says_how_to_record_one() -> None:
    found = podtemplate.workdir(rev_of({"containers": [APP]}), APP, Path("/controller"))
    assert "rollout apply -f FILE" in found.origin
    assert names.SOURCE_DIR_ANNOTATION in found.origin


# ---- plan ---------------------------------------------------------------------------------


def test_plan_runs_the_first_container(tmp_path: Path) -> None:
    secret = tmp_path / "secrets" / "shop" / "db"
    secret.mkdir(parents=True)
    (secret / "password").write_text("hunter2")
    container = {
        **APP,
        "args": ["--port", "$(PORT)"],
        "env": [
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "TIER", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['tier']"}}},
            {
                "name": "REV",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['rollout.dev/revision']"}},
            },
            {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
            {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
            {"name": "PORT", "value": "1234"},
        ],
        "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 3},
    }
    launch = podtemplate.plan(
        rev_of({"containers": [container]}, labels={"tier": "front"}),
        default_dir=tmp_path,
        host=HOST,
        sources=configfiles.ConfigFiles(tmp_path),
    )
    assert launch.argv == ("python3", "app.py", "--port", "$(PORT)")  # expanded at each start
    assert launch.env == {
        "POD": "web-00001-local",
        "TIER": "front",
        "REV": "web-00001",
        "SA": "default",
        "PW": "hunter2",
        "PORT": "1234",  # the runtime overrides it
    }
    assert launch.workdir.path == tmp_path
    assert launch.readiness == slots.Readiness(tcp=True, period_seconds=3)


@pytest.mark.parametrize(
    ("container", "reason", "message"),
    [
        (
            {"name": "app", "image": "web:1"},
            "NoCommand",
            "container 'app' has no command: the local platform runs a command",
        ),
        (
            {
                **APP,
                "env": [{"name": "PW", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}}],
            },
            "CreateContainerConfigError",
            "container 'app': env PW: secret shop/db not found (looked for the directory ",
        ),
    ],
    ids=["no-command", "missing-secret"],
)
def test_plan_says_why_a_revision_cannot_run(
    tmp_path: Path, container: dict[str, Any], reason: str, message: str
) -> None:
    with pytest.raises(podtemplate.CannotRun) as caught:
        podtemplate.plan(
            rev_of({"containers": [container]}),
            default_dir=tmp_path,
            host=HOST,
            sources=configfiles.ConfigFiles(tmp_path),
        )
    assert caught.value.reason == reason
    assert caught.value.message.startswith(message)


@pytest.mark.parametrize(
    ("probe", "readiness"),
    [
        (None, slots.Readiness()),
        ({"httpGet": {"path": "/h", "port": 8080}}, slots.Readiness(path="/h")),
        (
            {
                "httpGet": {
                    "path": "/h",
                    "port": 8080,
                    "httpHeaders": [{"name": "Host", "value": "a"}],
                }
            },
            slots.Readiness(path="/h", headers=(("Host", "a"),)),
        ),
        ({"tcpSocket": {"port": 8080}}, slots.Readiness(tcp=True)),
        (
            {"exec": {"command": ["true"]}, "failureThreshold": 5},
            slots.Readiness(tcp=True, failure_threshold=5),
        ),
        ({"grpc": {"port": 8080}}, slots.Readiness(tcp=True)),
    ],
    ids=["none", "http", "headers", "tcp", "exec", "grpc"],
)
def test_readiness(probe: dict[str, Any] | None, readiness: slots.Readiness) -> None:
    """httpGet and tcpSocket as written; exec and grpc become a TCP connect on PORT."""
    container = {**APP, **({"readinessProbe": probe} if probe else {})}
    assert slots.Readiness.of(container) == readiness
