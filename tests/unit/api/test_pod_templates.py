"""Pod templates (issue 17): a production template validates and reaches the cluster whole;
each malformed template is one `FILE:LINE: field.path: message` line from `rollout validate`.

The production Service (`tests/podtemplates.py`) goes the controller's way — stored,
made into a Revision (`make_revision`), stored again, made into the Deployment
(`workloads.make_deployment`) — and every field of its pod template arrives, with only
the documented additions: `PORT` on the first container, our labels. That Deployment
passes Kubernetes 1.32's strict schema for `apps/v1 Deployment` (kubernetes-validate,
the package `rollout validate` takes its pod spec schema from).
"""

from __future__ import annotations

import copy
import pathlib
import textwrap
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner, Result
from podtemplates import PRODUCTION, production

from rollout.api import documents, names, podspec, revision, service
from rollout.cli import main
from rollout.platforms.kubernetes import workloads
from rollout.reconcilers.service import builders

POLICIES = pathlib.Path(__file__).parents[3] / "policies"


def _validate(*paths: pathlib.Path) -> Result:
    return CliRunner().invoke(main.cli, ["validate", *(f"-f{p}" for p in paths)])


def _stored(resource: Any) -> Any:
    """`resource` as a store keeps it (JSON, by alias, no nulls) and reads it back."""
    data = resource.model_dump(mode="json", by_alias=True, exclude_none=True)
    again, found = documents.validate_data(data)
    assert found == [], found
    return again


def _deployment_of(svc: service.Service) -> dict[str, Any]:
    """The controller's way: stored Service → Revision → stored Revision → Deployment."""
    stored = _stored(svc)
    stored.metadata.uid = "uid-service"
    rev = builders.make_revision(stored, 1)
    rev.metadata.uid = "uid-revision"
    again = _stored(rev)
    assert isinstance(again, revision.Revision)
    return workloads.make_deployment(again)


def _load(text: str) -> service.Service:
    (doc,) = documents.parse(text, "checkout.yaml").documents
    assert isinstance(doc.resource, service.Service)
    return doc.resource


# --- the production template -------------------------------------------------------------


def test_the_production_template_validates(tmp_path: pathlib.Path) -> None:
    """`rollout validate` accepts it as written, with its policy: exit 0, nothing on
    stderr."""
    path = tmp_path / "checkout.yaml"
    path.write_text(PRODUCTION, encoding="utf-8")
    result = _validate(path, POLICIES / "canary-standard.yaml")
    assert (result.exit_code, result.stderr) == (0, ""), result.stderr
    assert result.stdout == "2 resource(s) valid\n"


def test_the_deployment_carries_every_field_of_the_template() -> None:
    """The Deployment's pod spec is the template's, plus `PORT` (the first declared port)
    on the first container; pod labels are the template's plus ours; annotations kept."""
    written = production()["spec"]["template"]
    deployment = _deployment_of(_load(PRODUCTION))
    pod = deployment["spec"]["template"]
    expected = copy.deepcopy(written["spec"])
    expected["containers"][0]["env"].append({"name": "PORT", "value": "8080"})
    assert pod["spec"] == expected
    assert pod["metadata"]["annotations"] == written["metadata"]["annotations"]
    assert pod["metadata"]["labels"] == {
        **written["metadata"]["labels"],
        names.SERVICE_LABEL: "checkout",
        names.REVISION_LABEL: "checkout-00001",
        names.MANAGED_BY_LABEL: names.MANAGED_BY,
    }
    assert deployment["spec"]["replicas"] == 3  # spec.scaling.minReplicas


def test_the_deployment_passes_the_kubernetes_schema() -> None:
    """kubernetes-validate, strict, Kubernetes 1.32: the whole apps/v1 Deployment."""
    deployment = _deployment_of(_load(PRODUCTION))
    assert kubernetes_validate.validate(deployment, podspec.KUBERNETES_VERSION, strict=True)
    typo = copy.deepcopy(deployment)
    typo["spec"]["template"]["spec"]["containers"][0]["imagePulPolicy"] = "Always"
    with pytest.raises(jsonschema.ValidationError, match="imagePulPolicy"):
        kubernetes_validate.validate(typo, podspec.KUBERNETES_VERSION, strict=True)


def test_the_deployment_passes_the_schema_rollout_validate_reads() -> None:
    """The same check through `podspec.definitions()`: the Deployment definition of the
    document whose PodSpec `rollout validate` checks templates against."""
    document = {**podspec.definitions(), "$ref": "#/$defs/io.k8s.api.apps.v1.Deployment"}
    jsonschema.Draft202012Validator(document).validate(_deployment_of(_load(PRODUCTION)))


def test_a_template_that_sets_port_and_declares_none_gets_only_its_port() -> None:
    """The documented additions are all there is: `http` is declared only when the first
    container declares no port, and `PORT` only when the template does not set it."""
    data = production()
    first = data["spec"]["template"]["spec"]["containers"][0]
    del first["ports"]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        first[probe]["httpGet"]["port"] = 8080
    first["env"].append({"name": "PORT", "value": "8080"})
    svc, found = documents.validate_data(data)
    assert found == [], found
    assert isinstance(svc, service.Service)
    container = _deployment_of(svc)["spec"]["template"]["spec"]["containers"][0]
    assert container["env"] == first["env"]
    assert container["ports"] == [{"containerPort": 8080, "protocol": "TCP", "name": "http"}]


# --- malformed templates: one line each -------------------------------------------------------

HEAD = """\
apiVersion: rollout.dev/v1alpha1
kind: Service
metadata:
  name: web
spec:
  template:
    spec:
"""


def _pod(lines: str) -> str:
    """A Service whose pod spec is `lines` (its first line is line 8)."""
    return HEAD + textwrap.indent(textwrap.dedent(lines), " " * 6)


def _app(lines: str) -> str:
    """A Service with one container `app` (image web:1) and `lines` added to it, from
    line 11 on."""
    return _pod("containers:\n  - name: app\n    image: web:1\n") + textwrap.indent(
        textwrap.dedent(lines), " " * 10
    )


C = "spec.template.spec.containers[0]"

MALFORMED = [
    # --- the schema: fields and types -------------------------------------------------------
    pytest.param(
        _app("imagePulPolicy: Always\n"),
        11,
        f"{C}.imagePulPolicy",
        "unknown field (did you mean imagePullPolicy?)",
        id="unknown-field-typo",
    ),
    pytest.param(
        _app("args: serve\n"),
        11,
        f"{C}.args",
        "must be a list (got a string)",
        id="wrong-type",
    ),
    pytest.param(
        _pod("""\
            containers:
              - image: web:1
            """),
        9,
        f"{C}.name",
        "is required",
        id="container-without-name",
    ),
    pytest.param(
        _app("resources: {limits: {cpu: 0.5}}\n"),
        11,
        f"{C}.resources.limits.cpu",
        "write 0.5 as '0.5' or '500m'",
        id="quantity-float",
    ),
    pytest.param(
        _app(f"readinessProbe: {{tcpSocket: {{port: 8080}}, periodSeconds: {2**31}}}\n"),
        11,
        f"{C}.readinessProbe.periodSeconds",
        "must be at most 2147483647",
        id="int32-overflow",
    ),
    # --- containers -----------------------------------------------------------------------------
    pytest.param(
        _pod("""\
            containers:
              - {name: App_1, image: web:1}
            """),
        9,
        f"{C}.name",
        "'App_1' is not a valid name (a DNS-1123 label",
        id="container-name-invalid",
    ),
    pytest.param(
        _pod("""\
            initContainers:
              - {name: app, image: migrate:1}
            containers:
              - {name: app, image: web:1}
            """),
        11,
        f"{C}.name",
        "duplicate container name 'app'",
        id="container-name-in-init-and-app",
    ),
    pytest.param(
        _app("restartPolicy: Always\n"),
        11,
        f"{C}.restartPolicy",
        "only allowed on init containers (native sidecars",
        id="restart-policy-on-app-container",
    ),
    pytest.param(
        _pod("""\
            initContainers:
              - {name: proxy, image: envoy:1, restartPolicy: OnFailure}
            containers:
              - {name: app, image: web:1}
            """),
        9,
        "spec.template.spec.initContainers[0].restartPolicy",
        "may only be Always, on an init container (a native sidecar)",
        id="sidecar-restart-policy-not-always",
    ),
    pytest.param(
        _app("imagePullPolicy: Sometimes\n"),
        11,
        f"{C}.imagePullPolicy",
        "must be one of Always, IfNotPresent, Never",
        id="image-pull-policy-unknown",
    ),
    pytest.param(
        _pod("""\
            containers:
              - {name: app, image: web:1}
            ephemeralContainers:
              - {name: debug, image: busybox}
            """),
        10,
        "spec.template.spec.ephemeralContainers",
        "not allowed in a pod template",
        id="ephemeral-containers",
    ),
    # --- ports -------------------------------------------------------------------------------
    pytest.param(
        _app("ports: [{name: http-metrics-port, containerPort: 9090}]\n"),
        11,
        f"{C}.ports[0].name",
        "'http-metrics-port' is not a valid port name (an IANA service name: at most 15",
        id="port-name-over-15",
    ),
    pytest.param(
        _app('ports: [{name: "8080", containerPort: 8080}]\n'),
        11,
        f"{C}.ports[0].name",
        "'8080' is not a valid port name (it needs at least one letter)",
        id="port-name-without-letter",
    ),
    pytest.param(
        _app("ports: [{name: web--ui, containerPort: 8080}]\n"),
        11,
        f"{C}.ports[0].name",
        "no '--'",
        id="port-name-double-dash",
    ),
    pytest.param(
        _app("ports: [{containerPort: 0}]\n"),
        11,
        f"{C}.ports[0].containerPort",
        "must be between 1 and 65535",
        id="container-port-0",
    ),
    pytest.param(
        _app("ports: [{containerPort: 70000}]\n"),
        11,
        f"{C}.ports[0].containerPort",
        "must be between 1 and 65535",
        id="container-port-70000",
    ),
    # --- resources -----------------------------------------------------------------------------
    pytest.param(
        _app("resources: {limits: {cpu: lots}}\n"),
        11,
        f"{C}.resources.limits.cpu",
        "'lots' is not a quantity (such as 500m, 2, 256Mi or 1Gi)",
        id="cpu-lots",
    ),
    pytest.param(
        _app("resources: {requests: {memory: 2Gi}, limits: {memory: 1Gi}}\n"),
        11,
        f"{C}.resources.requests.memory",
        "must be less than or equal to the memory limit (1Gi)",
        id="requests-over-limits",
    ),
    # --- env -------------------------------------------------------------------------------------
    pytest.param(
        _app('env: [{name: "A=B", value: x}]\n'),
        11,
        f"{C}.env[0].name",
        "'A=B' is not a valid environment variable name",
        id="env-name-with-equals",
    ),
    pytest.param(
        _app("""\
            env:
              - name: TOKEN
                value: abc
                valueFrom: {secretKeyRef: {name: api, key: token}}
            """),
        14,
        f"{C}.env[0].valueFrom",
        "may not be given with a non-empty value",
        id="env-value-and-value-from",
    ),
    pytest.param(
        _app("""\
            env:
              - name: TOKEN
                valueFrom:
                  secretKeyRef: {name: api, key: token}
                  configMapKeyRef: {name: api, key: token}
            """),
        13,
        f"{C}.env[0].valueFrom",
        "needs exactly one of fieldRef, resourceFieldRef, configMapKeyRef, secretKeyRef"
        " (got configMapKeyRef, secretKeyRef)",
        id="value-from-two-sources",
    ),
    # --- probes ---------------------------------------------------------------------------------
    pytest.param(
        _app("readinessProbe: {httpGet: {path: /, port: 8080}, tcpSocket: {port: 8080}}\n"),
        11,
        f"{C}.readinessProbe",
        "needs exactly one handler of exec, httpGet, tcpSocket, grpc (got httpGet, tcpSocket)",
        id="probe-two-handlers",
    ),
    pytest.param(
        _app("livenessProbe: {httpGet: {path: healthz, port: 8080}}\n"),
        11,
        f"{C}.livenessProbe.httpGet.path",
        "must start with '/' (got 'healthz')",
        id="probe-path-without-slash",
    ),
    pytest.param(
        _app("""\
            ports: [{name: http, containerPort: 8080}]
            readinessProbe: {httpGet: {path: /ready, port: metrics}}
            """),
        12,
        f"{C}.readinessProbe.httpGet.port",
        "names no port of the container ('metrics')",
        id="probe-port-name-not-declared",
    ),
    pytest.param(
        _app("startupProbe: {exec: {command: [cat, /tmp/up]}, initialDelaySeconds: -1}\n"),
        11,
        f"{C}.startupProbe.initialDelaySeconds",
        "must be 0 or more",
        id="probe-negative-delay",
    ),
    pytest.param(
        _app("livenessProbe: {tcpSocket: {port: 8080}, successThreshold: 2}\n"),
        11,
        f"{C}.livenessProbe.successThreshold",
        "must be 1 for a liveness or startup probe",
        id="liveness-success-threshold",
    ),
    # --- volumes ----------------------------------------------------------------------------------
    pytest.param(
        _app("volumeMounts: [{name: config, mountPath: /etc/app}]\n"),
        11,
        f"{C}.volumeMounts[0].name",
        "names no volume of the pod ('config' is not in spec.volumes)",
        id="mount-of-no-volume",
    ),
    pytest.param(
        _pod("""\
            containers:
              - {name: app, image: web:1}
            volumes:
              - {name: config, configMap: {name: app}}
              - {name: config, secret: {secretName: app}}
            """),
        12,
        "spec.template.spec.volumes[1].name",
        "duplicate volume name 'config'",
        id="volume-names-duplicate",
    ),
    pytest.param(
        _pod("""\
            containers:
              - {name: app, image: web:1}
            volumes:
              - {name: data, emptyDir: {}, secret: {secretName: app}}
            """),
        11,
        "spec.template.spec.volumes[0]",
        "may have only one source, not emptyDir, secret",
        id="volume-two-sources",
    ),
    # --- the pod --------------------------------------------------------------------------------
    pytest.param(
        _pod("""\
            restartPolicy: Never
            containers:
              - {name: app, image: web:1}
            """),
        8,
        "spec.template.spec.restartPolicy",
        "must be Always (the pods of a Deployment), not 'Never'",
        id="restart-policy-never",
    ),
    pytest.param(
        _pod("containers: [{name: app, image: web:1}]\n").replace("name: web", "name: 1web"),
        4,
        "metadata.name",
        "'1web' must start with a letter",
        id="service-name-starting-with-a-digit",
    ),
    # --- the old flattened shape -----------------------------------------------------------------
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: Service
        metadata:
          name: web
        spec:
          template:
            containers:
              - {name: app, image: web:1}
        """,
        7,
        "spec.template.containers",
        "move `template.containers` under `template.spec` (a Kubernetes pod template",
        id="old-flattened-shape",
    ),
    pytest.param(
        _pod("containers: [{name: app, image: web:1}]\n") + "    scaling: {minReplicas: 2}\n",
        9,
        "spec.template.scaling",
        "move `template.scaling` to the Service's `spec.scaling`",
        id="old-template-scaling",
    ),
]


@pytest.mark.parametrize(("document", "line", "field", "words"), MALFORMED)
def test_a_malformed_template_is_one_line_at_its_field(
    tmp_path: pathlib.Path, document: str, line: int, field: str, words: str
) -> None:
    """Exactly one `FILE:LINE: field.path: message` line, exit 2, nothing on stdout."""
    path = tmp_path / "web.yaml"
    path.write_text(textwrap.dedent(document), encoding="utf-8")
    yaml.safe_load(path.read_text(encoding="utf-8"))  # the row is YAML: its one fault is ours
    result = _validate(path)
    assert result.exit_code == 2, result.output
    problems = [p for p in result.stderr.splitlines() if p.startswith(str(path))]
    assert len(problems) == 1, result.stderr
    prefix = f"{path}:{line}: {field}: "
    assert problems[0].startswith(prefix), f"{problems[0]!r} does not start with {prefix!r}"
    assert words in problems[0], problems[0]
    assert result.stdout == ""


def test_there_are_twenty_and_more_malformed_templates() -> None:
    """The issue asks for 20+ (one rule each)."""
    assert len(MALFORMED) >= 20
