"""Text that reaches a process or a request, and every count, is checked by `validate`.

Found in issue 13: a header value `"v\\r\\nX-Injected: 1"` validated and then made every
reconcile of its release fail; NUL bytes in env or args validated and failed at spawn;
`failureLimit: 99999999999999999999999999` was accepted. One row per rule: a document
breaking exactly it, the line and field path of the one problem, and words of its message.
"""

from __future__ import annotations

import pathlib
import textwrap

import pytest
from click.testing import CliRunner

from rollout.api import documents, service
from rollout.cli import main

INT32_MAX = 2_147_483_647

SERVICE = """\
apiVersion: rollout.dev/v1alpha1
kind: Service
metadata:
  name: web
spec:
  template:
    spec:
      containers:
        - name: app
          command: [python3, app.py]
"""


def _container(lines: str) -> str:
    """A service whose one container has `lines` added (from line 11 on)."""
    return SERVICE + textwrap.indent(textwrap.dedent(lines), " " * 10)


POLICY = """\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata:
  name: gate
spec:
  steps:
    - setWeight: 10
    - analysis: {duration: 1m}
  analysis:
    metrics:
      - name: errors
        thresholds: {max: 1}
        provider:
"""


def _provider(lines: str) -> str:
    """A policy whose one metric's provider is `lines` (from line 14 on)."""
    return POLICY + textwrap.indent(textwrap.dedent(lines), " " * 10)


def _web(headers: str) -> str:
    """A web provider with the given headers block (its first header on line 17)."""
    return _provider(
        "web:\n  url: http://metrics.example/q\n  headers:\n"
        + textwrap.indent(textwrap.dedent(headers), "    ")
    )


HEADERS = "spec.analysis.metrics[0].provider.web.headers"

TEXT_RULES = [
    # --- web provider headers: names are tokens, literal values one line --------------
    pytest.param(
        _web('X-Trace: "v\\r\\nX-Injected: 1"\n'),
        17,
        f"{HEADERS}.X-Trace",
        "must not contain a carriage return (\\r) (at character 1)",
        id="header-value-crlf",
    ),
    pytest.param(
        _web('X-Trace: "v\\nw"\n'),
        17,
        f"{HEADERS}.X-Trace",
        "line feed",
        id="header-value-lf",
    ),
    pytest.param(
        _web('X-Trace: "v\\0"\n'),
        17,
        f"{HEADERS}.X-Trace",
        "NUL",
        id="header-value-nul",
    ),
    pytest.param(
        _web('X-Trace: "v\\x01"\n'),
        17,
        f"{HEADERS}.X-Trace",
        "control character U+0001",
        id="header-value-control",
    ),
    pytest.param(
        _web("X-Trace: " + "v" * 8193 + "\n"),
        17,
        f"{HEADERS}.X-Trace",
        "too large (8193 bytes; at most 8192)",
        id="header-value-over-8k",
    ),
    pytest.param(
        _web('"X Trace": v\n'),
        17,
        f"{HEADERS}['X Trace']",
        "is not an HTTP header name",
        id="header-name-space",
    ),
    pytest.param(
        _web('"X-Trace:": v\n'),
        17,
        f"{HEADERS}['X-Trace:']",
        "is not an HTTP header name",
        id="header-name-colon",
    ),
    pytest.param(
        _web('"": v\n'),
        17,
        f"{HEADERS}['']",
        "is not an HTTP header name",
        id="header-name-empty",
    ),
    pytest.param(
        _web("Content-Length: '5'\n"),
        17,
        f"{HEADERS}.Content-Length",
        "set by the HTTP client",
        id="header-content-length",
    ),
    pytest.param(
        _web("Accept: a/b\naccept: c/d\n"),
        18,
        f"{HEADERS}.accept",
        "duplicate header: 'Accept' is the same name",
        id="header-duplicate-by-case",
    ),
    pytest.param(
        _web("X-Trace: 5\n"),
        17,
        f"{HEADERS}.X-Trace",
        "must be a string or {valueFrom",
        id="header-value-number",
    ),
    # --- valueFrom ----------------------------------------------------------------------
    pytest.param(
        _web("Authorization: {valueFrom: {env: 1TOKEN}}\n"),
        17,
        f"{HEADERS}.Authorization.valueFrom.env",
        "'1TOKEN' is not an environment variable name",
        id="value-from-env-digit-first",
    ),
    pytest.param(
        _web("Authorization: {valueFrom: {env: MY-TOKEN}}\n"),
        17,
        f"{HEADERS}.Authorization.valueFrom.env",
        "is not an environment variable name",
        id="value-from-env-dash",
    ),
    pytest.param(
        _web("Authorization: {valueFrom: {file: secrets/token}}\n"),
        17,
        f"{HEADERS}.Authorization.valueFrom.file",
        "must be an absolute path",
        id="value-from-file-relative",
    ),
    pytest.param(
        _web('Authorization: {valueFrom: {file: "/run/tok\\0en"}}\n'),
        17,
        f"{HEADERS}.Authorization.valueFrom.file",
        "NUL",
        id="value-from-file-nul",
    ),
    pytest.param(
        _web("Authorization: {valueFrom: {secretKeyRef: {name: prom, key: 'a b'}}}\n"),
        17,
        f"{HEADERS}.Authorization.valueFrom.secretKeyRef.key",
        "is not a Secret key",
        id="value-from-secret-key",
    ),
    pytest.param(
        _web("Authorization: {valueFrom: {secretKeyRef: {name: Prom_Token, key: t}}}\n"),
        17,
        f"{HEADERS}.Authorization.valueFrom.secretKeyRef.name",
        "is not a valid name",
        id="value-from-secret-name",
    ),
    pytest.param(
        _web("Authorization: {valueFrom: {env: A, file: /b}}\n"),
        17,
        f"{HEADERS}.Authorization.valueFrom",
        "exactly one of env, file, secretKeyRef (got env, file)",
        id="value-from-two-sources",
    ),
    # --- URLs ---------------------------------------------------------------------------
    pytest.param(
        _provider('web: {url: "http://metrics.example/q\\r\\nX: 1"}\n'),
        14,
        "spec.analysis.metrics[0].provider.web.url",
        "carriage return",
        id="web-url-crlf",
    ),
    pytest.param(
        _provider('web: {url: "http://metrics.example/a b"}\n'),
        14,
        "spec.analysis.metrics[0].provider.web.url",
        "must not contain a space",
        id="web-url-space",
    ),
    pytest.param(
        _provider('web: {url: "http:///errors"}\n'),
        14,
        "spec.analysis.metrics[0].provider.web.url",
        "must name a host",
        id="web-url-no-host",
    ),
    pytest.param(
        _provider('web: {url: "http://metrics.example:99999/q"}\n'),
        14,
        "spec.analysis.metrics[0].provider.web.url",
        "is not a valid URL",
        id="web-url-bad-port",
    ),
    pytest.param(
        _provider('prometheus: {address: "http://prom\\n:9090", query: up}\n'),
        14,
        "spec.analysis.metrics[0].provider.prometheus.address",
        "line feed",
        id="prometheus-address-lf",
    ),
    # --- containers: what execve, a probe request and an image reference carry ---------
    pytest.param(
        _container('env: [{name: A, value: "x\\0y"}]\n'),
        11,
        "spec.template.spec.containers[0].env[0].value",
        "must not contain a NUL (\\0) (at character 1)",
        id="env-value-nul",
    ),
    pytest.param(
        _container('env: [{name: "A\\n", value: x}]\n'),
        11,
        "spec.template.spec.containers[0].env[0].name",
        "is not a valid environment variable name",
        id="env-name-trailing-lf",
    ),
    pytest.param(
        _container('env: [{name: "A=B", value: x}]\n'),
        11,
        "spec.template.spec.containers[0].env[0].name",
        "no '='",
        id="env-name-equals",
    ),
    pytest.param(
        _container('args: [ok, "a\\0b"]\n'),
        11,
        "spec.template.spec.containers[0].args[1]",
        "NUL",
        id="args-nul",
    ),
    pytest.param(
        SERVICE.replace("[python3, app.py]", '[python3, "app\\0.py"]'),
        10,
        "spec.template.spec.containers[0].command[1]",
        "NUL",
        id="command-nul",
    ),
    pytest.param(
        _container("args: [" + "x" * (128 * 1024 + 1) + "]\n"),
        11,
        "spec.template.spec.containers[0].args[0]",
        "too large (131073 bytes; at most 131072)",
        id="arg-over-128k",
    ),
    pytest.param(
        _container('workingDir: "/srv\\n"\n'),
        11,
        "spec.template.spec.containers[0].workingDir",
        "line feed",
        id="working-dir-lf",
    ),
    pytest.param(
        _container("readinessProbe: {httpGet: {path: healthz, port: 8080}}\n"),
        11,
        "spec.template.spec.containers[0].readinessProbe.httpGet.path",
        "must start with '/'",
        id="probe-path-relative",
    ),
    pytest.param(
        _container('readinessProbe: {httpGet: {path: "/ready\\r\\nX: 1", port: 8080}}\n'),
        11,
        "spec.template.spec.containers[0].readinessProbe.httpGet.path",
        "carriage return",
        id="probe-path-crlf",
    ),
    pytest.param(
        _container('readinessProbe: {httpGet: {path: "/a b", port: 8080}}\n'),
        11,
        "spec.template.spec.containers[0].readinessProbe.httpGet.path",
        "space",
        id="probe-path-space",
    ),
    pytest.param(
        SERVICE.replace("command: [python3, app.py]", 'image: "web:1 --privileged"'),
        10,
        "spec.template.spec.containers[0].image",
        "space",
        id="image-space",
    ),
    # --- names, labels, annotations -----------------------------------------------------
    pytest.param(
        SERVICE.replace("name: web", 'name: "web\\n"'),
        4,
        "metadata.name",
        "is not a valid name",
        id="name-trailing-lf",
    ),
    pytest.param(
        SERVICE.replace("  name: web\n", "  name: web\n  labels: {'team lead': x}\n"),
        5,
        "metadata.labels['team lead']",
        "is not a valid key",
        id="label-key-space",
    ),
    pytest.param(
        SERVICE.replace("  name: web\n", "  name: web\n  labels: {team: 'a/b'}\n"),
        5,
        "metadata.labels.team",
        "is not a valid label value",
        id="label-value-slash",
    ),
    pytest.param(
        SERVICE.replace(
            "  template:\n", "  template:\n    metadata: {labels: {app: " + "a" * 64 + "}}\n"
        ),
        7,
        "spec.template.metadata.labels.app",
        "is not a valid label value",
        id="template-label-value-64",
    ),
    pytest.param(
        SERVICE.replace("  name: web\n", "  name: web\n  annotations: {'.bad': x}\n"),
        5,
        "metadata.annotations['.bad']",
        "is not a valid key",
        id="annotation-key",
    ),
    pytest.param(
        SERVICE.replace(
            "  name: web\n",
            "  name: web\n  annotations: {"
            + ", ".join(f"a{i}: {'x' * 100_000}" for i in range(3))
            + "}\n",
        ),
        5,
        "metadata.annotations",
        "all together too large (300006 bytes; at most 262144)",
        id="annotations-over-256k",
    ),
]

COUNT_RULES = [
    pytest.param(
        POLICY.replace(
            "  analysis:\n", "  analysis:\n    failureLimit: 99999999999999999999999999\n"
        )
        + "          local: {stat: error_rate}\n",
        10,
        "spec.analysis.failureLimit",
        f"must be at most {INT32_MAX} (got 99999999999999999999999999)",
        id="failureLimit-huge",
    ),
    *[
        pytest.param(
            POLICY.replace("  analysis:\n", f"  analysis:\n    {field}: {INT32_MAX + 1}\n")
            + "          local: {stat: error_rate}\n",
            10,
            f"spec.analysis.{field}",
            f"must be at most {INT32_MAX}",
            id=f"{field}-int32-plus-one",
        )
        for field in ("failureLimit", "inconclusiveLimit", "consecutiveErrorLimit")
    ],
    *[
        pytest.param(
            POLICY.replace(
                "        thresholds:", f"        {field}: {INT32_MAX + 1}\n        thresholds:"
            )
            + "          local: {stat: error_rate}\n",
            12,
            f"spec.analysis.metrics[0].{field}",
            f"must be at most {INT32_MAX}",
            id=f"metric-{field}-int32-plus-one",
        )
        for field in ("minSamples", "failureLimit")
    ],
    pytest.param(
        POLICY.replace(
            "  analysis:\n",
            "  webhooks:\n"
            "    - {name: h, type: post-rollout, url: 'http://h/', retries: 2147483648}\n"
            "  analysis:\n",
        )
        + "          local: {stat: error_rate}\n",
        10,
        "spec.webhooks[0].retries",
        "must be from 0 to 10",
        id="webhook-retries",
    ),
    *[
        pytest.param(
            _container(
                f"readinessProbe: {{{field}: {INT32_MAX + 1}, tcpSocket: {{port: 8080}}}}\n"
            ),
            11,
            f"spec.template.spec.containers[0].readinessProbe.{field}",
            f"must be at most {INT32_MAX}",
            id=f"probe-{field}",
        )
        for field in ("initialDelaySeconds", "periodSeconds", "timeoutSeconds", "failureThreshold")
    ],
    *[
        pytest.param(
            SERVICE.replace(
                "  template:\n", f"  scaling: {{{field}: {INT32_MAX + 1}}}\n  template:\n"
            ),
            6,
            f"spec.scaling.{field}",
            f"must be at most {INT32_MAX}",
            id=f"scaling-{field}",
        )
        for field in ("minReplicas", "maxReplicas")
    ],
    pytest.param(
        SERVICE.replace("  template:\n", f"  revisionHistoryLimit: {INT32_MAX + 1}\n  template:\n"),
        6,
        "spec.revisionHistoryLimit",
        f"must be at most {INT32_MAX}",
        id="revisionHistoryLimit",
    ),
]


@pytest.mark.parametrize(("document", "line", "field", "words"), [*TEXT_RULES, *COUNT_RULES])
def test_the_one_problem_is_reported_at_its_line_and_field(
    document: str, line: int, field: str, words: str
) -> None:
    """Exactly one diagnostic, at the line and field path, saying what is wrong."""
    parsed = documents.parse(document, "doc.yaml")
    assert [(d.line, d.field) for d in parsed.diagnostics] == [(line, field)], parsed.diagnostics
    assert words in parsed.diagnostics[0].message
    assert parsed.documents == []


def test_the_injected_header_is_refused_by_the_cli_with_its_field(tmp_path: pathlib.Path) -> None:
    """The issue's reproduction through `rollout validate`: exit 2, one line, no echo."""
    path = tmp_path / "policy.yaml"
    path.write_text(_web('X-Trace: "v\\r\\nX-Injected: 1"\n'), encoding="utf-8")
    result = CliRunner().invoke(main.cli, ["validate", "-f", str(path)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"{path}:17: {HEADERS}.X-Trace: must not contain a carriage return (\\r) (at character 1)",
        "1 problem(s) found",
    ]
    assert "Injected" not in result.stderr


VALID = [
    pytest.param(_web("X-Trace: 'a\tb'\n"), id="header-value-with-tab"),
    pytest.param(_web("X-Api-Key: {valueFrom: {env: METRICS_KEY}}\n"), id="header-from-env"),
    pytest.param(
        _web("Authorization: {valueFrom: {secretKeyRef: {name: prom.token, key: bearer.txt}}}\n"),
        id="header-from-secret-with-dots",
    ),
    pytest.param(
        _provider('web: {url: "http://{{ service }}.svc:8080/q?rev={{canary}}"}\n'),
        id="url-spaces-inside-placeholders",
    ),
    # Line breaks are data in argv and env values, as in Kubernetes: `sh -c` scripts.
    pytest.param(
        _container("args: ['-c', \"set -e\\necho one\\necho two\\n\"]\n"), id="script-arg"
    ),
    pytest.param(_container('env: [{name: CERT, value: "-----BEGIN\\nabc\\n"}]\n'), id="pem-env"),
    pytest.param(
        SERVICE.replace(
            "  name: web\n", "  name: web\n  labels: {app.kubernetes.io/name: web, tier: ''}\n"
        ),
        id="labels-qualified-and-empty",
    ),
    pytest.param(
        POLICY.replace("  analysis:\n", f"  analysis:\n    failureLimit: {INT32_MAX}\n")
        + "          local: {stat: error_rate}\n",
        id="failureLimit-at-int32-max",
    ),
]


@pytest.mark.parametrize("document", VALID)
def test_what_is_allowed_stays_allowed(document: str) -> None:
    """Tabs in header values, references, placeholders, scripts, and the bounds themselves."""
    parsed = documents.parse(document, "doc.yaml")
    assert parsed.diagnostics == []
    assert len(parsed.documents) == 1


def test_a_multi_line_script_reaches_the_container_unchanged() -> None:
    """`args` keeps its line breaks (they are not refused, nor stripped)."""
    (doc,) = documents.parse(_container("args: ['-c', \"a\\nb\"]\n"), "x.yaml").documents
    assert isinstance(doc.resource, service.Service)
    assert doc.resource.spec.template.spec["containers"][0]["args"] == ["-c", "a\nb"]
