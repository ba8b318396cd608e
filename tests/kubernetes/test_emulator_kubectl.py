"""The real kubectl against the emulator: apply, get (printer columns, -A), patch, delete,
explain (from the CRDs' schemas, served as OpenAPI v3)."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import kubeemu
import pytest
import yaml
from kubeemu import crdfiles

from rollout.api import crds, kinds, podschema

ROOT = pathlib.Path(__file__).resolve().parents[2]
ECHO = ROOT / "examples" / "kubernetes" / "echo.yaml"
CORE_SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: web
  labels: {app: web}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: 8080}
"""


def _ok(result: Any) -> str:
    assert result.returncode == 0, f"kubectl failed: {result.stderr}"
    return str(result.stdout)


def _lines(text: str) -> list[list[str]]:
    return [line.split() for line in text.strip().splitlines()]


def _table(text: str) -> list[dict[str, str]]:
    """kubectl's table output as one dict per row, cut at the header's column starts."""
    header, *rows = text.rstrip("\n").splitlines()
    names = header.split()
    starts = [header.index(f"{n} " if n != names[-1] else n) for n in names]
    ends = [*starts[1:], None]
    return [
        {n: row[a:b].strip() for n, a, b in zip(names, starts, ends, strict=True)} for row in rows
    ]


@pytest.fixture
def applied(crds_applied: kubeemu.Emulator, kubectl: Any) -> kubeemu.Emulator:
    """The project's CRDs (registered) and the echo Service, applied with kubectl."""
    out = _ok(kubectl(crds_applied, "apply", "--validate=false", "-f", str(ECHO)))
    assert out.strip() == "service.rollout.dev/echo created"
    return crds_applied


def test_apply_the_project_crds(emulator: kubeemu.Emulator, kubectl: Any) -> None:
    """`kubectl apply --validate=false -f crds/` creates every CRD; re-applying is unchanged."""
    out = _ok(kubectl(emulator, "apply", "--validate=false", "-f", str(ROOT / "crds")))
    expected = [
        f"customresourcedefinition.apiextensions.k8s.io/{p.stem.split('_')[1]}.rollout.dev"
        for p in crdfiles.PROJECT_CRDS
    ]
    assert out.splitlines() == [f"{name} created" for name in expected]
    again = _ok(kubectl(emulator, "apply", "--validate=false", "-f", str(ROOT / "crds")))
    assert again.splitlines() == [f"{name} unchanged" for name in expected]
    names = _ok(kubectl(emulator, "get", "crd", "-o", "name"))
    assert len(names.split()) == len(expected)


def test_apply_stores_the_object_with_last_applied(applied: kubeemu.Emulator, kubectl: Any) -> None:
    """kubectl apply creates the Service; applying it again is `unchanged`."""
    stored = applied.get_object("rollout.dev", "v1alpha1", "services", "default", "echo")
    assert stored is not None
    assert stored["spec"]["policy"] == "canary-standard"
    annotation = stored["metadata"]["annotations"][
        "kubectl.kubernetes.io/last-applied-configuration"
    ]
    assert json.loads(annotation)["metadata"]["name"] == "echo"
    again = _ok(kubectl(applied, "apply", "--validate=false", "-f", str(ECHO)))
    assert again.strip() == "service.rollout.dev/echo unchanged"


def test_get_shows_printer_columns(applied: kubeemu.Emulator, kubectl: Any) -> None:
    """`kubectl get rsvc` prints the CRD's columns, with values once the status has them."""
    applied.set_status(
        "rollout.dev",
        "v1alpha1",
        "services",
        "default",
        "echo",
        {
            "stableRevision": "echo-00001",
            "latestCreatedRevision": "echo-00002",
            "url": "http://echo.default",
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    )
    [row] = _table(_ok(kubectl(applied, "get", "rsvc")))
    assert list(row) == ["NAME", "STABLE", "LATEST", "RELEASE", "READY", "URL", "AGE"]
    assert row == {
        "NAME": "echo",
        "STABLE": "echo-00001",
        "LATEST": "echo-00002",
        "RELEASE": "",
        "READY": "True",
        "URL": "http://echo.default",
        "AGE": row["AGE"],
    }
    assert row["AGE"][:-1].isdigit()
    assert row["AGE"][-1] in "sm"  # an age like 0s


def test_get_several_kinds_in_all_namespaces(applied: kubeemu.Emulator, kubectl: Any) -> None:
    """`kubectl get rsvc,rrel -A` shows a NAMESPACE column and each kind's own table."""
    release = {
        "apiVersion": "rollout.dev/v1alpha1",
        "kind": "Release",
        "metadata": {"name": "echo-00002", "namespace": "default"},
        "spec": {
            "service": "echo",
            "canaryRevision": "echo-00002",
            "policy": {"steps": [{"setWeight": 10}]},
        },
    }
    _ok(kubectl(applied, "apply", "--validate=false", "-f", "-", stdin=json.dumps(release)))
    out = _ok(kubectl(applied, "get", "rsvc,rrel", "-A"))
    blocks = [b for b in out.strip().split("\n\n") if b]
    services, releases = (_lines(b) for b in blocks)
    assert services[0][:2] == ["NAMESPACE", "NAME"]
    assert services[1][:2] == ["default", "service.rollout.dev/echo"]
    assert releases[0] == [
        "NAMESPACE",
        "NAME",
        "SERVICE",
        "PHASE",
        "STEP",
        "WEIGHT",
        "STABLE",
        "CANARY",
        "AGE",
    ]
    assert releases[1][:3] == ["default", "release.rollout.dev/echo-00002", "echo"]


def test_patch_merge_and_strategic(applied: kubeemu.Emulator, kubectl: Any) -> None:
    """`kubectl patch --type merge` works on a CR; the default strategic patch is refused (415)."""
    out = _ok(
        kubectl(applied, "patch", "rsvc", "echo", "--type", "merge", "-p", '{"spec":{"port":8080}}')
    )
    assert out.strip() == "service.rollout.dev/echo patched"
    stored = applied.get_object("rollout.dev", "v1alpha1", "services", "default", "echo")
    assert stored is not None
    assert stored["spec"]["port"] == 8080
    assert stored["metadata"]["generation"] == 2
    refused = kubectl(applied, "patch", "rsvc", "echo", "-p", '{"spec":{"port":9090}}')
    assert refused.returncode != 0
    assert "application/strategic-merge-patch+json is not supported" in refused.stderr
    invalid = kubectl(
        applied, "patch", "rsvc", "echo", "--type", "merge", "-p", '{"spec":{"port":0}}'
    )
    assert invalid.returncode != 0
    assert 'The Service "echo" is invalid: spec.port: Invalid value: 0' in invalid.stderr
    jsonpath = _ok(kubectl(applied, "get", "rsvc", "echo", "-o", "jsonpath={.spec.port}"))
    assert jsonpath == "8080"


def test_delete(applied: kubeemu.Emulator, kubectl: Any) -> None:
    """`kubectl delete` deletes (and its wait ends); a second delete reports NotFound."""
    out = _ok(kubectl(applied, "delete", "rsvc", "echo"))
    assert out.strip() == 'service.rollout.dev "echo" deleted'
    assert applied.get_object("rollout.dev", "v1alpha1", "services", "default", "echo") is None
    again = kubectl(applied, "delete", "rsvc", "echo")
    assert again.returncode != 0
    assert 'services.rollout.dev "echo" not found' in again.stderr


def test_builtin_apply_reapply_and_get(emulator: kubeemu.Emulator, kubectl: Any) -> None:
    """A core Service: create, then a changed re-apply (strategic patch without OpenAPI), get."""
    assert _ok(
        kubectl(emulator, "apply", "--validate=false", "-f", "-", stdin=CORE_SERVICE)
    ).strip() == ("service/web created")
    changed = CORE_SERVICE.replace("port: 80,", "port: 81,")
    out = _ok(kubectl(emulator, "apply", "--validate=false", "-f", "-", stdin=changed))
    assert out.strip() == "service/web configured"
    stored = emulator.get_object("", "v1", "services", "default", "web")
    assert stored is not None
    assert stored["spec"]["ports"] == [
        {"name": "http", "port": 81, "targetPort": 8080, "protocol": "TCP"}
    ]
    header, row = _lines(_ok(kubectl(emulator, "get", "svc")))
    assert header == ["NAME", "AGE"]
    assert row[0] == "web"


def test_label_and_selectors(emulator: kubeemu.Emulator, kubectl: Any) -> None:
    """`kubectl label` (a patch), then `kubectl get -l` with a set-based selector, `-o name`."""
    namespace = "apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n"
    _ok(kubectl(emulator, "apply", "--validate=false", "-f", "-", stdin=namespace))
    assert _ok(kubectl(emulator, "label", "namespace", "team", "tier=apps")).strip() == (
        "namespace/team labeled"
    )
    out = _ok(kubectl(emulator, "get", "ns", "-l", "tier in (apps,web)", "-o", "name"))
    assert out.split() == ["namespace/team"]


def test_protobuf_bodies_are_refused_with_415(emulator: kubeemu.Emulator, kubectl: Any) -> None:
    """kubectl's generator commands send protobuf, which the emulator does not speak (use -f)."""
    refused = kubectl(emulator, "create", "namespace", "team")
    assert refused.returncode != 0
    assert "UnsupportedMediaType" in refused.stderr
    assert "application/vnd.kubernetes.protobuf" in refused.stderr


DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: app:1.0
        ports: [{containerPort: 8080}]
        env: [{name: A, value: "1"}]
"""


def test_deployment_apply_twice(emulator: kubeemu.Emulator, kubectl: Any) -> None:
    """Re-applying an unchanged Deployment is `unchanged`; a new image is a strategic patch
    that keeps the container's other fields and bumps the generation once."""
    apply = ("apply", "--validate=false", "-f", "-")
    assert _ok(kubectl(emulator, *apply, stdin=DEPLOYMENT)).strip() == "deployment.apps/web created"
    assert (
        _ok(kubectl(emulator, *apply, stdin=DEPLOYMENT)).strip() == "deployment.apps/web unchanged"
    )
    changed = DEPLOYMENT.replace("app:1.0", "app:2.0")
    assert _ok(kubectl(emulator, *apply, stdin=changed)).strip() == "deployment.apps/web configured"
    stored = emulator.get_object("apps", "v1", "deployments", "default", "web")
    assert stored is not None
    [container] = stored["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "app:2.0"
    assert container["env"] == [{"name": "A", "value": "1"}]
    assert container["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    assert stored["metadata"]["generation"] == 2


# --- kubectl explain: the pod template's fields, from the CRD ---------------------------


@pytest.mark.parametrize(
    ("path", "words"),
    [
        pytest.param(
            "rsvc.spec.template.spec",
            ["FIELD: spec <Object>", "containers\t<[]Object> -required-", "serviceAccountName"],
            id="pod-spec",
        ),
        pytest.param(
            "rsvc.spec.template.spec.containers",
            [
                "FIELD: containers <[]Object>",
                "image\t<string>",
                "Container image name.",
                "readinessProbe\t<Object>",
                "Periodic probe of container service readiness.",
            ],
            id="containers",
        ),
        pytest.param(
            "rsvc.spec.template.spec.containers.readinessProbe",
            ["periodSeconds\t<integer>", "How often (in seconds) to perform the probe."],
            id="readiness-probe",
        ),
        pytest.param(
            "rrev.spec.template.spec.volumes",
            ["FIELD: volumes <[]Object>", "secret\t<Object>", "configMap\t<Object>"],
            id="revision-volumes",
        ),
    ],
)
def test_explain_describes_the_pod_template(
    crds_applied: kubeemu.Emulator, kubectl: Any, path: str, words: list[str]
) -> None:
    """`kubectl explain` of a template's fields answers as for a Deployment: types and the
    Kubernetes descriptions (down to `podschema.DESCRIBED_DEPTH` levels)."""
    out = _ok(kubectl(crds_applied, "explain", path))
    assert out.startswith("GROUP:      rollout.dev\n"), out
    for word in words:
        assert word in out, f"{word!r} not in:\n{out}"


def test_a_crd_over_the_annotation_limit_cannot_be_applied_client_side(
    emulator: kubeemu.Emulator, kubectl: Any, tmp_path: pathlib.Path
) -> None:
    """With every description of the pod spec, the Service CRD no longer fits the 256 KiB
    annotation a client-side `kubectl apply` writes: why descriptions stop at a depth."""
    crd = crds.crd(kinds.KINDS["Service"])
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec["properties"]["template"]["properties"]["spec"] = podschema.pod_spec(described_depth=99)
    path = tmp_path / "services.yaml"
    path.write_text(yaml.safe_dump(crd), encoding="utf-8")
    refused = kubectl(emulator, "apply", "--validate=false", "-f", str(path))
    assert refused.returncode != 0
    assert "metadata.annotations: Too long: may not be more than 262144 bytes" in refused.stderr
    created = kubectl(emulator, "create", "--validate=false", "-f", str(path))
    assert created.returncode == 0, created.stderr  # no annotation: only the apply path fails
