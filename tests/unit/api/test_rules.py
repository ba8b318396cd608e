"""Every validation rule, shown by an invalid document and the line `rollout validate` prints.

One row per rule: a small YAML document (line 1 is its first line), the line and field
path the problem must be reported at, and a word of the message. Each document breaks
exactly one rule, so the CLI must print exactly one `PATH:LINE: FIELD.PATH: message`
line for it and exit 2 (DESIGN §7).
"""

from __future__ import annotations

import pathlib
import textwrap

import pytest
from click.testing import CliRunner, Result

from rollout.api import documents
from rollout.cli import main


def _validate(*paths: pathlib.Path) -> Result:
    args = ["validate"]
    for path in paths:
        args += ["-f", str(path)]
    return CliRunner().invoke(main.cli, args)


def _problem_lines(result: Result, path: pathlib.Path) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith(f"{path}")]


def _assert_reported(result: Result, path: pathlib.Path, line: int, field: str, word: str) -> None:
    prefix = f"{path}:{line}: {field}: " if field else f"{path}:{line}: "
    assert result.exit_code == 2, result.output
    found = _problem_lines(result, path)
    assert any(p.startswith(prefix) and word in p for p in found), (
        f"no line starting with {prefix!r} and containing {word!r} in:\n{result.stderr}"
    )


# --- steps ----------------------------------------------------------------------------

STEP_RULES = [
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata:
          name: canary
        spec:
          steps:
            - setWeight: 150
            - pause: {}
        """,
        7,
        "spec.steps[0].setWeight",
        "between 0 and 100",
        id="setWeight-above-100",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata:
          name: canary
        spec:
          steps:
            - setWeight: -1
            - pause: {}
        """,
        7,
        "spec.steps[0].setWeight",
        "between 0 and 100",
        id="setWeight-negative",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata:
          name: canary
        spec:
          steps:
            - setWeight: 50
            - pause: {}
            - setWeight: 20
        """,
        9,
        "spec.steps[2].setWeight",
        "must not decrease",
        id="setWeight-decreasing",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata:
          name: canary
        spec:
          steps: []
        """,
        6,
        "spec.steps",
        "at least one step",
        id="steps-empty",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata:
          name: canary
        spec:
          progressDeadline: 5m
        """,
        5,
        "spec.steps",
        "needs steps",
        id="neither-steps-nor-canary",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata:
          name: canary
        spec:
          steps:
            - setWeight: 10
          canary: {stepWeight: 10, interval: 1m}
          analysis:
            metrics:
              - name: error-rate
                provider: {local: {stat: error_rate}}
                thresholds: {max: 0.01}
        """,
        8,
        "spec.canary",
        "not both",
        id="both-steps-and-canary",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata:
          name: canary
        spec:
          steps:
            - setWeight: 10
              pause: {}
        """,
        7,
        "spec.steps[0]",
        "exactly one of setWeight, pause, analysis, setHeaderRoute, setMirror"
        " (got setWeight, pause)",
        id="step-with-setWeight-and-pause",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata:
          name: canary
        spec:
          steps:
            - setWeight: 10
            - {}
        """,
        8,
        "spec.steps[1]",
        "(got none)",
        id="step-empty",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata:
          name: canary
        spec:
          steps:
            - setWieght: 10
        """,
        7,
        "spec.steps[0].setWieght",
        "unknown field (did you mean setWeight?)",
        id="typo-setWieght",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata:
          name: canary
        spec:
          steps:
            setWeight: 10
        """,
        6,
        "spec.steps",
        "must be a list",
        id="steps-not-a-list",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata:
          name: canary
        spec:
          steps:
            - setWeight: 10
            - analysis: {duration: 1m}
        """,
        8,
        "spec.steps[1].analysis",
        "needs metrics",
        id="analysis-step-without-metrics",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata:
          name: canary
        spec:
          steps:
            - setWeight: 10
            - analysis:
                duration: 1m
                metrics: [error-rate, latency]
          analysis:
            metrics:
              - name: error-rate
                provider: {local: {stat: error_rate}}
                thresholds: {max: 0.01}
        """,
        10,
        "spec.steps[1].analysis.metrics[1]",
        "unknown metric 'latency'",
        id="analysis-step-unknown-metric",
    ),
]

# --- metrics and providers -------------------------------------------------------------

# The policy every metric row starts from: its metric begins on line 9.
METRIC_POLICY = """\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata:
  name: canary
spec:
  steps: [{setWeight: 10}, {analysis: {duration: 1m}}]
  analysis:
    metrics:
"""


def _metric(lines: str) -> str:
    """A policy whose metrics list holds `lines` (a metric or two), from line 9 on."""
    return METRIC_POLICY + textwrap.indent(textwrap.dedent(lines), " " * 6)


METRIC_RULES = [
    pytest.param(
        _metric("""\
            - name: error-rate
              provider: {local: {stat: error_rate}}
              thresholds: {min: 0.5, max: 0.01}
            """),
        11,
        "spec.analysis.metrics[0].thresholds.min",
        "at most max",
        id="thresholds-min-above-max",
    ),
    pytest.param(
        _metric("""\
            - name: error-rate
              provider: {local: {stat: error_rate}}
              thresholds: {}
            """),
        11,
        "spec.analysis.metrics[0].thresholds",
        "give min, max or both",
        id="thresholds-empty",
    ),
    *[
        pytest.param(
            _metric(f"""\
                - name: errors-vs-stable
                  provider: {{local: {{stat: errors}}}}
                  compare: {{alpha: {alpha}}}
                """),
            11,
            "spec.analysis.metrics[0].compare.alpha",
            "between 0 and 1",
            id=f"alpha-{alpha}",
        )
        for alpha in ("0", "1", "1.5")
    ],
    pytest.param(
        _metric("""\
            - name: errors-vs-stable
              provider: {local: {stat: errors}}
              compare: {maxRatio: 0.5}
            """),
        11,
        "spec.analysis.metrics[0].compare.maxRatio",
        "at least 1",
        id="maxRatio-below-1",
    ),
    pytest.param(
        _metric("""\
            - name: latency-vs-stable
              provider: {local: {stat: latency_p50}}
              compare: {method: mann-whitney, history: 30m}
            """),
        11,
        "spec.analysis.metrics[0].compare.history",
        "sequential method only",
        id="history-needs-sequential",
    ),
    pytest.param(
        _metric("""\
            - name: error-rate
              provider: {local: {stat: error_rate}}
              thresholds: {max: 0.01}
            - name: error-rate
              provider: {local: {stat: errors}}
              compare: {}
            """),
        12,
        "spec.analysis.metrics[1].name",
        "duplicate metric name 'error-rate'",
        id="metric-names-duplicate",
    ),
    pytest.param(
        _metric("""\
            - name: error-rate
              provider: {local: {stat: error_rate}}
              window: 1m
            """),
        9,
        "spec.analysis.metrics[0]",
        "needs a gate",
        id="metric-without-gate",
    ),
    pytest.param(
        _metric("""\
            - name: errors
              provider: {prometheus: {address: "http://127.0.0.1:9090", query: "up"}}
              compare: {method: sequential}
              thresholds: {max: 1}
            """),
        10,
        "spec.analysis.metrics[0].provider.prometheus.counts",
        "compare with prometheus reads counters",
        id="compare-with-prometheus-needs-counts",
    ),
    pytest.param(
        _metric("""\
            - name: error-rate
              provider: {local: {stat: error_rate}}
              thresholds: {max: 0.01}
              minSamples: -1
            """),
        12,
        "spec.analysis.metrics[0].minSamples",
        "0 or more",
        id="minSamples-negative",
    ),
    pytest.param(
        _metric("""\
            - name: error-rate
              provider: {local: {stat: p99}}
              thresholds: {max: 0.01}
            """),
        10,
        "spec.analysis.metrics[0].provider.local.stat",
        "must be 'requests'",
        id="local-stat-unknown",
    ),
    pytest.param(
        _metric("""\
            - name: error-rate
              provider: {datadog: {query: "avg:errors{*}"}}
              thresholds: {max: 0.01}
            """),
        10,
        "spec.analysis.metrics[0].provider.datadog",
        "unknown field",
        id="provider-unknown-key",
    ),
    pytest.param(
        _metric("""\
            - name: error-rate
              provider: {local: {stat: error_rate}, web: {url: "http://metrics/x"}}
              thresholds: {max: 0.01}
            """),
        10,
        "spec.analysis.metrics[0].provider",
        "exactly one of local, prometheus, web (got local, web)",
        id="provider-two",
    ),
    pytest.param(
        _metric("""\
            - name: error-rate
              provider: {}
              thresholds: {max: 0.01}
            """),
        10,
        "spec.analysis.metrics[0].provider",
        "(got none)",
        id="provider-none",
    ),
    pytest.param(
        _metric("""\
            - name: error-rate
              provider:
                prometheus: {address: "http://prometheus:9090"}
              thresholds: {max: 0.01}
            """),
        11,
        "spec.analysis.metrics[0].provider.prometheus.query",
        "give query (for thresholds), counts (for compare), or both",
        id="prometheus-without-query",
    ),
    pytest.param(
        _metric("""\
            - name: error-rate
              provider:
                prometheus:
                  address: prometheus:9090
                  query: sum(rate(errors[1m]))
              thresholds: {max: 0.01}
            """),
        12,
        "spec.analysis.metrics[0].provider.prometheus.address",
        "http:// or https://",
        id="prometheus-address-not-http",
    ),
    pytest.param(
        _metric("""\
            - name: error-rate
              provider: {web: {jsonPath: $.value}}
              thresholds: {max: 0.01}
            """),
        10,
        "spec.analysis.metrics[0].provider.web.url",
        "required field missing",
        id="web-without-url",
    ),
    pytest.param(
        _metric("""\
            - name: error-rate
              provider:
                prometheus:
                  address: http://prometheus:9090
                  query: 'sum(rate(errors{revision="{{revison}}"}[1m]))'
              thresholds: {max: 0.01}
            """),
        13,
        "spec.analysis.metrics[0].provider.prometheus.query",
        "unknown template variable {{revison}}",
        id="query-unknown-variable",
    ),
    pytest.param(
        _metric("""\
            - name: error-rate
              provider:
                prometheus:
                  address: http://prometheus:9090
                  query: 'sum(rate(errors{revision="{{revision}"}[1m]))'
              thresholds: {max: 0.01}
            """),
        13,
        "spec.analysis.metrics[0].provider.prometheus.query",
        "unbalanced",
        id="query-unbalanced-braces",
    ),
    pytest.param(
        _metric("""\
            - name: error-rate
              provider: {web: {url: "http://metrics/{{svc}}/errors"}}
              thresholds: {max: 0.01}
            """),
        10,
        "spec.analysis.metrics[0].provider.web.url",
        "unknown template variable {{svc}}",
        id="web-url-unknown-variable",
    ),
]

# --- durations --------------------------------------------------------------------------

DURATION_RULES = [
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata:
          name: blue-green
        spec:
          steps:
            - setWeight: 0
            - pause: {duration: 15}
        """,
        8,
        "spec.steps[1].pause.duration",
        "with a unit",
        id="duration-without-unit",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata:
          name: blue-green
        spec:
          steps:
            - setWeight: 0
            - pause: {duration: 15x}
        """,
        8,
        "spec.steps[1].pause.duration",
        "'15x' is not a duration",
        id="duration-unknown-unit",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata:
          name: blue-green
        spec:
          steps:
            - setWeight: 0
            - pause: {duration: 0s}
        """,
        8,
        "spec.steps[1].pause.duration",
        "longer than 0s",
        id="duration-zero-pause",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata:
          name: blue-green
        spec:
          steps:
            - setWeight: 0
          progressDeadline: 0s
        """,
        8,
        "spec.progressDeadline",
        "longer than 0s",
        id="duration-zero-deadline",
    ),
]

# --- canary shorthand -------------------------------------------------------------------

CANARY_RULES = [
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata:
          name: canary
        spec:
          canary: {stepWeight: 30, maxWeight: 20, interval: 1m}
          analysis:
            metrics:
              - name: error-rate
                provider: {local: {stat: error_rate}}
                thresholds: {max: 0.01}
        """,
        6,
        "spec.canary.maxWeight",
        "at least stepWeight (30)",
        id="canary-maxWeight-below-stepWeight",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata:
          name: canary
        spec:
          canary:
            stepWeight: 0
            interval: 1m
          analysis:
            metrics:
              - name: error-rate
                provider: {local: {stat: error_rate}}
                thresholds: {max: 0.01}
        """,
        7,
        "spec.canary.stepWeight",
        "at least 1",
        id="canary-stepWeight-zero",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata:
          name: canary
        spec:
          canary: {stepWeight: 10, maxWeight: 50, interval: 1m}
        """,
        6,
        "spec.canary",
        "needs metrics",
        id="canary-without-metrics",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata:
          name: canary
        spec:
          canary: {stepWeight: 10}
          analysis:
            metrics:
              - name: error-rate
                provider: {local: {stat: error_rate}}
                thresholds: {max: 0.01}
        """,
        6,
        "spec.canary.interval",
        "required field missing",
        id="canary-without-interval",
    ),
]

# --- webhooks ---------------------------------------------------------------------------

WEBHOOK_RULES = [
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata:
          name: canary
        spec:
          steps:
            - setWeight: 10
          webhooks:
            - {name: load, type: rollout, url: "http://gate/load"}
        """,
        9,
        "spec.webhooks[0].type",
        "this plan has none, so it would never be called",
        id="rollout-webhook-without-analysis",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata:
          name: canary
        spec:
          steps:
            - setWeight: 10
            - pause: {duration: 1m}
          webhooks:
            - {name: more, type: confirm-traffic-increase, url: "http://gate/more"}
        """,
        10,
        "spec.webhooks[0].type",
        "confirm-traffic-increase would never be asked",
        id="increase-gate-without-an-increase",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata:
          name: canary
        spec:
          steps:
            - setWeight: 10
          notifications:
            - {name: chat, sink: slack, urlFrom: {env: SLACK_URL}, on: [Paused]}
        """,
        9,
        "spec.notifications[0]",
        "a key YAML reads as the boolean true",
        id="notification-on-is-a-yaml-boolean",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata:
          name: canary
        spec:
          steps:
            - setWeight: 10
          notifications:
            - name: chat
              sink: slack
              urlFrom: {env: SLACK_URL}
              url: https://hooks.slack.com/services/T/B/x
        """,
        12,
        "spec.notifications[0].url",
        "unknown field (did you mean urlFrom?)",
        id="notification-url-must-come-from-urlFrom",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata:
          name: canary
        spec:
          steps:
            - setWeight: 0
          webhooks:
            - name: approve
              type: confirm-promotion
              url: gate/approve
        """,
        11,
        "spec.webhooks[0].url",
        "http:// or https://",
        id="webhook-url-not-http",
    ),
]

# --- services ---------------------------------------------------------------------------

SERVICE_RULES = [
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: Service
        metadata:
          name: web
        spec:
          template:
            spec:
              containers: []
        """,
        8,
        "spec.template.spec.containers",
        "at least one container",
        id="containers-empty",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: Service
        metadata:
          name: web
        spec:
          template:
            spec:
              containers:
                - name: app
                  env: [{name: VERSION, value: v2}]
        """,
        9,
        "spec.template.spec.containers[0]",
        "needs an image",
        id="container-without-image-or-command",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: Service
        metadata:
          name: web
        spec:
          template:
            spec:
              containers:
                - {name: app, image: "web:1"}
                - {name: app, image: "proxy:1"}
        """,
        10,
        "spec.template.spec.containers[1].name",
        "duplicate container name 'app'",
        id="container-names-duplicate",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: Service
        metadata:
          name: My_Service
        spec:
          template:
            spec:
              containers:
                - {name: app, command: [python3, app.py]}
        """,
        4,
        "metadata.name",
        "'My_Service' is not a valid name",
        id="name-not-dns-1123",
    ),
    pytest.param(
        f"""\
        apiVersion: rollout.dev/v1alpha1
        kind: Service
        metadata:
          name: {"a" * 58}
        spec:
          template:
            spec:
              containers:
                - {{name: app, command: [python3, app.py]}}
        """,
        4,
        "metadata.name",
        "at most 57 characters",
        id="name-longer-than-57",
    ),
    pytest.param(
        """\
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
                  env:
                    - {name: "1 VERSION", value: v2}
        """,
        12,
        "spec.template.spec.containers[0].env[0].name",
        "'1 VERSION' is not a valid environment variable name",
        id="env-name-invalid",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: Service
        metadata:
          name: web
        spec:
          template:
            spec:
              containers:
                - name: app
                  image: "web:1"
                  resources:
                    limits: {cpu: true}
        """,
        12,
        "spec.template.spec.containers[0].resources.limits.cpu",
        "must be a quantity",
        id="resource-quantity-bool",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: Service
        metadata:
          name: web
        spec:
          scaling: {minReplicas: 3, maxReplicas: 2}
          template:
            spec:
              containers:
                - {name: app, image: "web:1"}
        """,
        6,
        "spec.scaling.maxReplicas",
        "at least minReplicas (3)",
        id="scaling-max-below-min",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: Service
        metadata:
          name: web
        spec:
          port: 70000
          template:
            spec:
              containers:
                - {name: app, command: [python3, app.py]}
        """,
        6,
        "spec.port",
        "port number",
        id="port-out-of-range",
    ),
    pytest.param(
        """\
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
                  readinessProbe: {periodSeconds: 0, httpGet: {path: /healthz, port: 8080}}
        """,
        11,
        "spec.template.spec.containers[0].readinessProbe.periodSeconds",
        "at least 1",
        id="probe-period-zero",
    ),
]

# --- manual traffic split ---------------------------------------------------------------

TRAFFIC_RULES = [
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: Service
        metadata:
          name: web
        spec:
          template:
            spec:
              containers:
                - {name: app, command: [python3, app.py]}
          traffic:
            - {revisionName: web-00001, percent: 90}
            - {revisionName: web-00002, percent: 5, tag: canary}
        """,
        10,
        "spec.traffic",
        "sum to 100 (they sum to 95)",
        id="traffic-percents-not-100",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: Service
        metadata:
          name: web
        spec:
          template:
            spec:
              containers:
                - {name: app, command: [python3, app.py]}
          traffic:
            - {revisionName: web-00001, percent: 50, tag: canary}
            - {revisionName: web-00002, percent: 50, tag: canary}
        """,
        12,
        "spec.traffic[1].tag",
        "duplicate tag 'canary'",
        id="traffic-tags-duplicate",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: Service
        metadata:
          name: web
        spec:
          template:
            spec:
              containers:
                - {name: app, command: [python3, app.py]}
          traffic:
            - {revisionName: other-00001, percent: 100}
        """,
        11,
        "spec.traffic[0].revisionName",
        "not a revision of service 'web'",
        id="traffic-revision-of-other-service",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: Service
        metadata:
          name: web
        spec:
          template:
            spec:
              containers:
                - {name: app, command: [python3, app.py]}
          traffic:
            - {revisionName: web-00001, percent: 50}
            - {revisionName: web-1, percent: 50}
        """,
        12,
        "spec.traffic[1].revisionName",
        "not a revision of service 'web'",
        id="traffic-revision-without-counter",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: Service
        metadata:
          name: web
        spec:
          policy: canary-standard
          template:
            spec:
              containers:
                - {name: app, command: [python3, app.py]}
          traffic:
            - {revisionName: web-00001, percent: 100}
        """,
        11,
        "spec.traffic",
        "cannot be combined with spec.policy",
        id="traffic-with-policy",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: Service
        metadata:
          name: web
        spec:
          template:
            spec:
              containers:
                - {name: app, command: [python3, app.py]}
          traffic: []
        """,
        10,
        "spec.traffic",
        "at least one target",
        id="traffic-empty",
    ),
]

# --- documents --------------------------------------------------------------------------

DOCUMENT_RULES = [
    pytest.param(
        """\
        apiVersion: rollout.dev/v1
        kind: Service
        metadata:
          name: web
        spec:
          template:
            spec:
              containers:
                - {name: app, command: [python3, app.py]}
        """,
        1,
        "apiVersion",
        "must be rollout.dev/v1alpha1",
        id="apiVersion-wrong",
    ),
    pytest.param(
        """\
        # the web service
        kind: Service
        metadata:
          name: web
        spec:
          template:
            spec:
              containers:
                - {name: app, command: [python3, app.py]}
        """,
        2,
        "apiVersion",
        "required field missing",
        id="apiVersion-missing",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: Deployment
        metadata:
          name: web
        """,
        2,
        "kind",
        "unknown kind 'Deployment'",
        id="kind-unknown",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        metadata:
          name: web
        """,
        1,
        "kind",
        "required field missing",
        id="kind-missing",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: Service
        spec:
          template:
            spec:
              containers:
                - {name: app, command: [python3, app.py]}
        """,
        1,
        "metadata",
        "required field missing",
        id="metadata-missing",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata:
          name: canary
        spec: canary
        """,
        5,
        "spec",
        "must be a mapping",
        id="spec-not-a-mapping",
    ),
    pytest.param(
        """\
        - apiVersion: rollout.dev/v1alpha1
          kind: Service
        """,
        1,
        "",
        "a document must be a mapping",
        id="document-is-a-list",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: Service
        metadata:
          name: web
          labels: app: web
        spec:
          template:
            spec:
              containers:
                - {name: app, command: [python3, app.py]}
        """,
        5,
        "",
        "YAML syntax error",
        id="yaml-syntax-mapping-in-plain-value",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: Service
        metadata:
          name: web
        spec:
          template: {spec: {containers: [{name: app, command: [python3, app.py]}}}
        """,
        6,
        "",
        "YAML syntax error",
        id="yaml-syntax-unbalanced-brackets",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata:
          name: blue-green
        spec:
          steps:
            - setWeight: 0
            - pause: {}
        ---
        apiVersion: rollout.dev/v1alpha1
        kind: Service
        metadata:
          name: web
          labels: app: web
        """,
        14,
        "",
        "YAML syntax error",
        id="yaml-syntax-in-second-document",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: Service
        metadata:
          name: web
          name: api
        spec:
          template:
            spec:
              containers:
                - {name: app, command: [python3, app.py]}
        """,
        5,
        "metadata.name",
        "duplicate key (first at line 4)",
        id="duplicate-key",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: Service
        metadata:
          name: web
        spec:
          template:
            spec:
              containers:
                - {name: app, command: [python3, app.py]}
        ---
        apiVersion: rollout.dev/v1alpha1
        kind: Service
        metadata:
          name: web
        spec:
          template:
            spec:
              containers:
                - {name: app, command: [python3, app.py, --v2]}
        """,
        14,
        "metadata.name",
        "Service 'web' is defined twice",
        id="defined-twice-in-one-file",
    ),
]

# --- strict types -----------------------------------------------------------------------

TYPE_RULES = [
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata:
          name: canary
        spec:
          steps:
            - setWeight: "5"
        """,
        7,
        "spec.steps[0].setWeight",
        "a number, not a string",
        id="setWeight-string",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata:
          name: canary
        spec:
          steps:
            - setWeight: 5.0
        """,
        7,
        "spec.steps[0].setWeight",
        "integer",
        id="setWeight-float",
    ),
    pytest.param(
        _metric("""\
            - name: error-rate
              provider: {local: {stat: error_rate}}
              thresholds: {max: "0.01"}
            """),
        11,
        "spec.analysis.metrics[0].thresholds.max",
        "number",
        id="threshold-string",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata:
          name: canary
        spec:
          steps: [{setWeight: 10}, {analysis: {duration: 1m}}]
          analysis:
            failureLimit: true
            metrics:
              - name: error-rate
                provider: {local: {stat: error_rate}}
                thresholds: {max: 0.01}
        """,
        8,
        "spec.analysis.failureLimit",
        "integer",
        id="failureLimit-bool",
    ),
]


# --- scaling (issue 17) -------------------------------------------------------------

SCALING_RULES = [
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata:
          name: canary
        spec:
          steps: [{setWeight: 5}]
          canaryScale:
            minReplicas: 2
        """,
        7,
        "spec.canaryScale.matchWeight",
        "matchWeight: true",
        id="canaryScale-without-matchWeight",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata:
          name: canary
        spec:
          steps: [{setWeight: 5}]
          canaryScale: {matchWeight: true, minReplicas: 0}
        """,
        7,
        "spec.canaryScale.minReplicas",
        "at least 1",
        id="canaryScale-minReplicas-0",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata:
          name: canary
        spec:
          steps: [{setWeight: 5}]
          scaleDownDelay: 30
        """,
        7,
        "spec.scaleDownDelay",
        "unit",
        id="policy-scaleDownDelay-without-unit",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: Service
        metadata:
          name: web
        spec:
          scaleDownDelay: soon
          template:
            spec:
              containers: [{name: app, command: [app]}]
        """,
        6,
        "spec.scaleDownDelay",
        "not a duration",
        id="service-scaleDownDelay-not-a-duration",
    ),
]


@pytest.mark.parametrize(
    ("document", "line", "field", "word"),
    [
        *STEP_RULES,
        *SCALING_RULES,
        *METRIC_RULES,
        *DURATION_RULES,
        *CANARY_RULES,
        *WEBHOOK_RULES,
        *SERVICE_RULES,
        *TRAFFIC_RULES,
        *DOCUMENT_RULES,
        *TYPE_RULES,
    ],
)
def test_invalid_document_is_reported_at_its_line_and_field(
    tmp_path: pathlib.Path, document: str, line: int, field: str, word: str
) -> None:
    """The one broken rule is printed as `PATH:LINE: FIELD.PATH: message`; exit 2."""
    path = tmp_path / "resource.yaml"
    path.write_text(textwrap.dedent(document), encoding="utf-8")
    result = _validate(path)
    _assert_reported(result, path, line, field, word)
    assert len(_problem_lines(result, path)) == 1, result.stderr
    assert result.stdout == ""


def test_name_defined_twice_across_a_directory(tmp_path: pathlib.Path) -> None:
    """The same kind and name in two files is an error at the second name."""
    service = textwrap.dedent("""\
        apiVersion: rollout.dev/v1alpha1
        kind: Service
        metadata:
          name: web
        spec:
          template:
            spec:
              containers:
                - {name: app, command: [python3, app.py]}
        """)
    (tmp_path / "a.yaml").write_text(service, encoding="utf-8")
    (tmp_path / "nested").mkdir()
    second = tmp_path / "nested" / "b.yml"
    second.write_text(service, encoding="utf-8")
    result = _validate(tmp_path)
    _assert_reported(result, second, 4, "metadata.name", "defined twice")
    assert str(tmp_path / "a.yaml") in _problem_lines(result, second)[0]


def test_same_name_in_two_namespaces_is_not_a_duplicate(tmp_path: pathlib.Path) -> None:
    """Names are unique per kind and namespace, not globally."""
    text = textwrap.dedent("""\
        apiVersion: rollout.dev/v1alpha1
        kind: Service
        metadata: {name: web, namespace: shop}
        spec: {template: {spec: {containers: [{name: app, command: [python3, app.py]}]}}}
        ---
        apiVersion: rollout.dev/v1alpha1
        kind: Service
        metadata: {name: web, namespace: blog}
        spec: {template: {spec: {containers: [{name: app, command: [python3, app.py]}]}}}
        ---
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata: {name: web, namespace: shop}
        spec: {steps: [{setWeight: 0}, {pause: {}}]}
        """)
    path = tmp_path / "resources.yaml"
    path.write_text(text, encoding="utf-8")
    result = _validate(path)
    assert result.exit_code == 0, result.stderr
    assert "3 resource(s) valid" in result.stdout


def test_default_namespace_written_or_not_is_the_same_name(tmp_path: pathlib.Path) -> None:
    """No namespace means `default`: the same Service twice is a duplicate."""
    text = textwrap.dedent("""\
        apiVersion: rollout.dev/v1alpha1
        kind: Service
        metadata: {name: web}
        spec: {template: {spec: {containers: [{name: app, command: [python3, app.py]}]}}}
        ---
        apiVersion: rollout.dev/v1alpha1
        kind: Service
        metadata: {name: web, namespace: default}
        spec: {template: {spec: {containers: [{name: app, command: [python3, app.py]}]}}}
        """)
    path = tmp_path / "resources.yaml"
    path.write_text(text, encoding="utf-8")
    _assert_reported(_validate(path), path, 8, "metadata.name", "defined twice")


def test_revision_names_are_checked_one_by_one(tmp_path: pathlib.Path) -> None:
    """Each foreign revision of a split is reported at its own line."""
    path = tmp_path / "web.yaml"
    path.write_text(
        textwrap.dedent("""\
            apiVersion: rollout.dev/v1alpha1
            kind: Service
            metadata:
              name: web
            spec:
              template:
                spec:
                  containers:
                    - {name: app, command: [python3, app.py]}
              traffic:
                - {revisionName: other-00001, percent: 50}
                - {revisionName: web-1, percent: 50}
            """),
        encoding="utf-8",
    )
    result = _validate(path)
    _assert_reported(result, path, 11, "spec.traffic[0].revisionName", "other-00001")
    _assert_reported(result, path, 12, "spec.traffic[1].revisionName", "web-1")


def test_huge_duration_is_a_problem_not_a_crash(tmp_path: pathlib.Path) -> None:
    """A duration too long for a timedelta is reported at its field, not raised."""
    path = tmp_path / "policy.yaml"
    path.write_text(
        textwrap.dedent("""\
            apiVersion: rollout.dev/v1alpha1
            kind: RolloutPolicy
            metadata:
              name: blue-green
            spec:
              steps:
                - pause: {duration: 99999999999999999999h}
            """),
        encoding="utf-8",
    )
    result = _validate(path)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    _assert_reported(result, path, 7, "spec.steps[0].pause.duration", "")


def test_control_character_is_a_problem_not_a_crash(tmp_path: pathlib.Path) -> None:
    """A character YAML forbids (NUL) is reported with its line, not raised."""
    path = tmp_path / "web.yaml"
    path.write_text("apiVersion: rollout.dev/v1alpha1\nkind: Serv\x00ice\n", encoding="utf-8")
    result = _validate(path)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    _assert_reported(result, path, 2, "", "character")


def test_deeply_aliased_value_is_a_problem_not_a_crash() -> None:
    """A value nested past the recursion limit (cheap with YAML aliases) is a problem too."""
    deep: list[object] = [1]
    for _ in range(5000):
        deep = [deep]
    data = {
        "apiVersion": "rollout.dev/v1alpha1",
        "kind": "Service",
        "metadata": {"name": "web", "annotations": {"deep": deep}},
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "app", "command": ["python3", "app.py"]}]}
            }
        },
    }
    resource, found = documents.validate_data(data)
    assert resource is None
    assert [p.loc for p in found] == [("metadata", "annotations", "deep")]
    assert "string" in found[0].message
