"""Valid documents load into the values they mean, and the pure helpers of the model.

Covers the shapes a user writes (explicit steps, the canary shorthand, each provider,
services with a policy or a manual split), the defaults, durations, query templates,
revision names, conditions and field paths.
"""

from __future__ import annotations

import re
import textwrap
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollout.api import (
    condition,
    documents,
    durations,
    policyspec,
    rolloutpolicy,
    service,
    split,
    templates,
)


def _load(text: str) -> list[documents.Document]:
    parsed = documents.parse(textwrap.dedent(text), "x.yaml")
    assert parsed.diagnostics == []
    return parsed.documents


def _load_one(text: str) -> Any:
    (doc,) = _load(text)
    return doc.resource


def _plan(steps: list[policyspec.Step]) -> list[tuple[str, object]]:
    """Steps as (kind, value) pairs: ("setWeight", 10), ("analysis", 1m), ("pause", None)."""
    plan: list[tuple[str, object]] = []
    for step in steps:
        if step.set_weight is not None:
            plan.append(("setWeight", step.set_weight))
        elif step.analysis is not None:
            plan.append(("analysis", step.analysis.duration))
        else:
            assert step.pause is not None
            plan.append(("pause", step.pause.duration))
    return plan


_PATH_PART = re.compile(r"\.?([A-Za-z_]+)|\[(\d+)\]")


def _get(obj: Any, path: str) -> Any:
    """Follow a Python attribute path like `spec.steps[1].pause.duration`, and keys of
    plain mappings (a pod spec: `spec.template.spec.containers[0].readinessProbe`)."""
    for name, index in _PATH_PART.findall(path):
        if index:
            obj = obj[int(index)]
        else:
            obj = obj[name] if isinstance(obj, dict) else getattr(obj, name)
    return obj


MINUTE = timedelta(minutes=1)

# --- the canary shorthand ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("canary", "plan"),
    [
        pytest.param(
            "{stepWeight: 10, maxWeight: 30, interval: 1m}",
            [
                ("setWeight", 10),
                ("analysis", MINUTE),
                ("setWeight", 20),
                ("analysis", MINUTE),
                ("setWeight", 30),
                ("analysis", MINUTE),
            ],
            id="10-to-30",
        ),
        pytest.param(
            "{stepWeight: 20, maxWeight: 50, interval: 30s}",
            [
                ("setWeight", 20),
                ("analysis", timedelta(seconds=30)),
                ("setWeight", 40),
                ("analysis", timedelta(seconds=30)),
                ("setWeight", 50),
                ("analysis", timedelta(seconds=30)),
            ],
            id="last-weight-clamped-to-max",
        ),
        pytest.param(
            "{stepWeight: 40, interval: 2m}",
            [
                ("setWeight", 40),
                ("analysis", 2 * MINUTE),
                ("setWeight", 80),
                ("analysis", 2 * MINUTE),
                ("setWeight", 100),
                ("analysis", 2 * MINUTE),
            ],
            id="maxWeight-defaults-to-100",
        ),
        pytest.param(
            "{stepWeight: 50, maxWeight: 50, interval: 1m}",
            [("setWeight", 50), ("analysis", MINUTE)],
            id="one-step",
        ),
    ],
)
def test_canary_shorthand_expands_to_weight_and_analysis_steps(
    canary: str, plan: list[tuple[str, object]]
) -> None:
    """Each interval raises the weight by stepWeight and analyses, up to maxWeight."""
    policy = _load_one(f"""\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata: {{name: canary}}
        spec:
          canary: {canary}
          analysis:
            metrics:
              - name: error-rate
                provider: {{local: {{stat: error_rate}}}}
                thresholds: {{max: 0.01}}
        """)
    assert _plan(policy.spec.expanded_steps()) == plan
    assert policy.spec.steps is None


def test_explicit_steps_are_the_plan_as_written() -> None:
    """Without the shorthand, the plan is the steps in their order."""
    policy = _load_one("""\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata: {name: blue-green}
        spec:
          steps:
            - setWeight: 0
            - pause: {}
            - setWeight: 100
        """)
    assert _plan(policy.spec.expanded_steps()) == [
        ("setWeight", 0),
        ("pause", None),
        ("setWeight", 100),
    ]


# --- shapes and their values -------------------------------------------------------------

SHAPES = [
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata: {name: canary}
        spec:
          steps:
            - setWeight: 5
            - pause: {duration: 10m}
            - setWeight: 5
            - pause: {}
        """,
        {
            "spec.steps[1].pause.duration": timedelta(minutes=10),
            "spec.steps[2].set_weight": 5,
            "spec.steps[3].pause.duration": None,
            "spec.analysis": None,
        },
        id="equal-weights-allowed",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata: {name: canary}
        spec:
          steps: [{setWeight: 10}, {analysis: {duration: 2m, metrics: [error-rate]}}]
          analysis:
            metrics:
              - name: error-rate
                provider: {local: {stat: error_rate}}
                thresholds: {max: 0.01}
        """,
        {
            "spec.steps[1].analysis.duration": 2 * MINUTE,
            "spec.steps[1].analysis.metrics": ["error-rate"],
            "spec.analysis.metrics[0].provider.local.stat": policyspec.LocalStat.ERROR_RATE,
            "spec.analysis.metrics[0].thresholds.max": 0.01,
            "spec.analysis.metrics[0].thresholds.min": None,
            "spec.analysis.metrics[0].provider.kind": "local",
        },
        id="local-threshold",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata: {name: canary}
        spec:
          steps: [{setWeight: 10}, {analysis: {duration: 1m}}]
          analysis:
            metrics:
              - name: latency
                provider:
                  prometheus:
                    address: https://prometheus:9090
                    query: 'rate(x{revision="{{ revision }}"}[{{window}}])'
                    timeout: 2s
                window: 5m
                thresholds: {min: 0, max: 1}
        """,
        {
            "spec.analysis.metrics[0].provider.prometheus.address": "https://prometheus:9090",
            "spec.analysis.metrics[0].provider.prometheus.timeout": timedelta(seconds=2),
            "spec.analysis.metrics[0].provider.kind": "prometheus",
            "spec.analysis.metrics[0].window": 5 * MINUTE,
            "spec.analysis.metrics[0].thresholds.min": 0.0,
            "spec.analysis.metrics[0].thresholds.max": 1.0,
        },
        id="prometheus-with-template",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata: {name: canary}
        spec:
          steps: [{setWeight: 10}, {analysis: {duration: 1m}}]
          analysis:
            metrics:
              - name: errors
                provider:
                  web:
                    url: "http://metrics/{{service}}/{{canary}}"
                    jsonPath: $.data.errorRate
                    headers: {Authorization: Bearer x}
                thresholds: {max: 0.05}
        """,
        {
            "spec.analysis.metrics[0].provider.web.url": "http://metrics/{{service}}/{{canary}}",
            "spec.analysis.metrics[0].provider.web.json_path": "$.data.errorRate",
            "spec.analysis.metrics[0].provider.web.headers": {"Authorization": "Bearer x"},
            "spec.analysis.metrics[0].thresholds.max": 0.05,
            "spec.analysis.metrics[0].compare": None,
        },
        id="web-thresholds",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata: {name: canary}
        spec:
          steps: [{setWeight: 0}, {pause: {}}]
          rollback: {onFailure: pause}
        """,
        {"spec.rollback.on_failure": policyspec.OnFailure.PAUSE},
        id="soft-rollback",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: Service
        metadata:
          name: hello
          namespace: shop
          labels: {team: web}
        spec:
          port: 8080
          policy: canary-standard
          template:
            spec:
              containers:
                - name: app
                  command: [python3, app.py]
                  env: [{name: VERSION, value: v1}]
                  readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1}
        """,
        {
            "metadata.namespace": "shop",
            "metadata.labels": {"team": "web"},
            "spec.port": 8080,
            "spec.policy": "canary-standard",
            "spec.traffic": None,
            "spec.scaling": None,
            "spec.template.metadata": None,
            # The pod spec is kept as written: no field added, no default filled in.
            "spec.template.spec": {
                "containers": [
                    {
                        "name": "app",
                        "command": ["python3", "app.py"],
                        "env": [{"name": "VERSION", "value": "v1"}],
                        "readinessProbe": {
                            "httpGet": {"path": "/healthz", "port": 8080},
                            "periodSeconds": 1,
                        },
                    }
                ]
            },
        },
        id="local-service-with-policy",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: Service
        metadata: {name: echo}
        spec:
          scaling: {minReplicas: 2, maxReplicas: 5, targetCpuUtilizationPercentage: 70}
          template:
            metadata: {labels: {app: echo}, annotations: {team: edge}}
            spec:
              containers:
                - name: echo
                  image: ghcr.io/example/echo:1.2
                  ports: [{containerPort: 8080}]
                  resources: {requests: {cpu: 500m, memory: 64Mi}, limits: {cpu: 2}}
        """,
        {
            "spec.policy": None,
            "spec.template.metadata.labels": {"app": "echo"},
            "spec.template.metadata.annotations": {"team": "edge"},
            "spec.template.spec.containers[0].image": "ghcr.io/example/echo:1.2",
            "spec.template.spec.containers[0].ports": [{"containerPort": 8080}],
            "spec.template.spec.containers[0].resources.requests": {
                "cpu": "500m",
                "memory": "64Mi",
            },
            "spec.template.spec.containers[0].resources.limits": {"cpu": 2},
            "spec.scaling.min_replicas": 2,
            "spec.scaling.max_replicas": 5,
            "spec.scaling.target_cpu_utilization_percentage": 70,
        },
        id="kubernetes-service-with-scaling",
    ),
    pytest.param(
        """\
        apiVersion: rollout.dev/v1alpha1
        kind: Service
        metadata: {name: web}
        spec:
          template:
            spec:
              containers: [{name: app, command: [python3, app.py]}]
          traffic:
            - {revisionName: web-00001, percent: 100, tag: stable}
            - {revisionName: web-00002, percent: 0, tag: canary}
        """,
        {
            "spec.traffic[0].percent": 100,
            "spec.traffic[1].revision_name": "web-00002",
            "spec.traffic[1].tag": "canary",
        },
        id="manual-split-with-tags",
    ),
]


@pytest.mark.parametrize(("text", "expected"), SHAPES)
def test_valid_shape_loads_with_its_values(text: str, expected: dict[str, object]) -> None:
    """A valid document loads without diagnostics, with the values it spells out."""
    resource = _load_one(text)
    for path, value in expected.items():
        assert _get(resource, path) == value, path


@pytest.mark.parametrize(("text", "expected"), SHAPES)
def test_valid_shape_round_trips_through_its_serialisation(
    text: str, expected: dict[str, object]
) -> None:
    """What a resource serialises to (as a store or `get -o yaml` would) loads back equal."""
    resource = _load_one(text)
    data = resource.model_dump(mode="json", by_alias=True, exclude_none=True)
    again, found = documents.validate_data(data)
    assert found == []
    assert again == resource


# --- durations in documents --------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "value", "serialised"),
    [
        pytest.param("500ms", timedelta(milliseconds=500), "500ms", id="500ms"),
        pytest.param("1h30m", timedelta(hours=1, minutes=30), "1h30m", id="1h30m"),
        pytest.param("90s", timedelta(seconds=90), "1m30s", id="90s-written-1m30s"),
        pytest.param("2m", 2 * MINUTE, "2m", id="2m"),
        pytest.param("1500ms", timedelta(seconds=1.5), "1s500ms", id="1500ms"),
        pytest.param("36h", timedelta(hours=36), "36h", id="36h-stays-in-hours"),
    ],
)
def test_duration_loads_as_timedelta_and_serialises_back(
    written: str, value: timedelta, serialised: str
) -> None:
    """A duration field holds a timedelta and is written back in the shortest form."""
    policy = _load_one(f"""\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata: {{name: blue-green}}
        spec:
          steps: [{{setWeight: 0}}, {{pause: {{duration: {written}}}}}]
          progressDeadline: {written}
        """)
    assert policy.spec.steps[1].pause.duration == value
    assert policy.spec.progress_deadline == value
    data = policy.model_dump(mode="json", by_alias=True)
    assert data["spec"]["steps"][1]["pause"]["duration"] == serialised
    assert data["spec"]["progressDeadline"] == serialised
    assert durations.format_duration(value) == serialised


# --- defaults ------------------------------------------------------------------------------


def test_policy_defaults() -> None:
    """Unwritten policy fields take the documented defaults (DESIGN §5)."""
    policy = _load_one("""\
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata: {name: canary}
        spec:
          steps: [{setWeight: 10}, {analysis: {duration: 1m}}]
          analysis:
            metrics:
              - name: errors
                provider: {local: {stat: errors}}
                compare: {}
              - name: latency
                provider: {prometheus: {address: "http://p:9090", query: up}}
                thresholds: {max: 1}
              - name: web
                provider: {web: {url: "http://m/x"}}
                thresholds: {min: 1}
        """)
    assert isinstance(policy, rolloutpolicy.RolloutPolicy)
    spec = policy.spec
    assert spec.progress_deadline == timedelta(minutes=10)
    assert spec.rollback.on_failure is policyspec.OnFailure.ROLLBACK
    assert spec.webhooks == []
    assert spec.analysis is not None
    assert spec.analysis.interval == timedelta(seconds=15)
    assert spec.analysis.failure_limit == 1
    assert spec.analysis.inconclusive_limit == 8
    assert spec.analysis.consecutive_error_limit == 4
    errors, latency, web = spec.analysis.metrics
    assert errors.window == MINUTE
    assert errors.interval is None
    assert errors.min_samples == 0
    assert errors.failure_limit is None
    assert errors.compare == policyspec.Compare(
        against="stable", method=policyspec.CompareMethod.SEQUENTIAL, alpha=0.01, max_ratio=2.0
    )
    assert latency.provider.prometheus is not None
    assert latency.provider.prometheus.timeout == timedelta(seconds=10)
    assert web.provider.web is not None
    assert web.provider.web.json_path == "$"
    assert web.provider.web.headers == {}


def test_service_defaults() -> None:
    """Unwritten service fields take their defaults (10 old revisions, no scaling); the
    pod spec gets none (Kubernetes fills its defaults in)."""
    svc = _load_one("""\
        apiVersion: rollout.dev/v1alpha1
        kind: Service
        metadata: {name: web}
        spec:
          template:
            spec:
              containers: [{name: app, command: [python3, app.py]}]
        """)
    assert isinstance(svc, service.Service)
    assert svc.metadata.namespace is None
    assert svc.spec.policy is None
    assert svc.spec.traffic is None
    assert svc.spec.port is None
    assert svc.spec.revision_history_limit == 10
    assert svc.spec.scaling is None
    assert svc.spec.template.metadata is None
    assert svc.spec.template.spec == {
        "containers": [{"name": "app", "command": ["python3", "app.py"]}]
    }
    assert svc.status == service.ServiceStatus()


# --- several documents -----------------------------------------------------------------------


def test_multi_document_file_loads_every_resource_with_its_line() -> None:
    """A `---` separated stream gives each resource with the line it starts on."""
    docs = _load("""\
        # a policy and the service that uses it
        apiVersion: rollout.dev/v1alpha1
        kind: RolloutPolicy
        metadata: {name: blue-green}
        spec:
          steps: [{setWeight: 0}, {pause: {}}]
        ---
        ---
        apiVersion: rollout.dev/v1alpha1
        kind: Service
        metadata: {name: web}
        spec:
          policy: blue-green
          template:
            spec:
              containers: [{name: app, command: [python3, app.py]}]
        """)
    assert [(d.path, d.line, d.resource.kind, d.resource.metadata.name) for d in docs] == [
        ("x.yaml", 2, "RolloutPolicy", "blue-green"),
        ("x.yaml", 9, "Service", "web"),
    ]


def test_empty_stream_has_no_documents_and_no_problems() -> None:
    """Comments and empty documents are not resources, and not errors either."""
    parsed = documents.parse("# nothing yet\n---\n---\n", "x.yaml")
    assert parsed.documents == []
    assert parsed.diagnostics == []


# --- rollout.api.durations --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500ms", timedelta(milliseconds=500)),
        ("15s", timedelta(seconds=15)),
        ("2m", timedelta(minutes=2)),
        ("1h", timedelta(hours=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1m30s250ms", timedelta(minutes=1, seconds=30, milliseconds=250)),
        ("0s", timedelta(0)),
        (" 15s\n", timedelta(seconds=15)),
    ],
)
def test_parse_duration(text: str, value: timedelta) -> None:
    """Unit-suffixed durations parse to their timedelta."""
    assert durations.parse_duration(text) == value


@pytest.mark.parametrize(
    "text",
    ["15", "15x", "", "s", "1.5s", "-1s", "1 s", "1H", "1hm", "1d", "PT1S"],
)
def test_parse_duration_refuses(text: str) -> None:
    """Anything but digits-and-unit groups is a ValueError that shows the input."""
    with pytest.raises(ValueError, match="is not a duration"):
        durations.parse_duration(text)


def test_parse_duration_too_long_for_timedelta_is_a_value_error() -> None:
    """A duration beyond what a timedelta holds is a ValueError like any bad duration."""
    with pytest.raises(ValueError, match="duration"):
        durations.parse_duration("99999999999999999999h")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(milliseconds=500), "500ms"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(hours=1, seconds=1), "1h1s"),
        (timedelta(days=1), "24h"),
        (timedelta(microseconds=1500), "2ms"),
    ],
)
def test_format_duration(value: timedelta, text: str) -> None:
    """Largest units first, zero parts left out, milliseconds rounded."""
    assert durations.format_duration(value) == text


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=10 * 365 * 24 * 3_600_000))
def test_format_then_parse_is_identity(millis: int) -> None:
    """Every whole-millisecond duration up to the ten-year limit survives format → parse."""
    value = timedelta(milliseconds=millis)
    assert durations.parse_duration(durations.format_duration(value)) == value


# --- rollout.api.templates --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("up", []),
        ('x{revision="{{revision}}"}[{{window}}]', ["revision", "window"]),
        ("{{ service }}/{{canary}}", ["service", "canary"]),
        ("{{nope}}", ["nope"]),
    ],
)
def test_variables_in(text: str, names: list[str]) -> None:
    """Placeholder names in order, with surrounding spaces stripped."""
    assert templates.variables_in(text) == names


@pytest.mark.parametrize(
    ("text", "errors"),
    [
        pytest.param("sum(rate(x[1m]))", [], id="no-placeholders"),
        pytest.param(
            "{{service}}{{namespace}}{{revision}}{{stable}}{{canary}}{{window}}",
            [],
            id="every-variable",
        ),
        pytest.param("{{ revision }}", [], id="spaces-inside"),
        pytest.param("{{revison}}", ["unknown template variable {{revison}}"], id="typo"),
        pytest.param("{{revision}", ["unbalanced"], id="unclosed"),
        pytest.param("revision}}", ["unbalanced"], id="unopened"),
        pytest.param(
            "{{a}} {{b}",
            ["unknown template variable {{a}}", "unbalanced"],
            id="unknown-and-unbalanced",
        ),
    ],
)
def test_template_errors(text: str, errors: list[str]) -> None:
    """One message per unknown variable, and one for unbalanced braces."""
    found = templates.template_errors(text)
    assert len(found) == len(errors)
    for message, expected in zip(found, errors, strict=True):
        assert expected in message


# --- rollout.api.split.belongs_to -------------------------------------------------------------


@pytest.mark.parametrize(
    ("revision", "service_name", "belongs"),
    [
        ("web-00001", "web", True),
        ("web-123456", "web", True),
        ("web-1", "web", False),
        ("other-00001", "web", False),
        ("web-api-00001", "web", False),
        ("web-00001-x", "web", False),
        ("web-0000a", "web", False),
        ("web-api-00001", "web-api", True),
        ("web00001", "web", False),
    ],
)
def test_belongs_to(revision: str, service_name: str, belongs: bool) -> None:
    """A revision belongs to a service when named `<service>-NNNNN`."""
    assert split.belongs_to(revision, service_name) is belongs


# --- rollout.api.condition.set_condition ------------------------------------------------------

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def _set(
    conditions: list[condition.Condition], status: condition.ConditionStatus, reason: str
) -> list[condition.Condition]:
    return condition.set_condition(
        conditions,
        type_=condition.ConditionType.READY,
        status=status,
        reason=reason,
        message=f"because {reason}",
        now=T1,
        observed_generation=3,
    )


def test_set_condition_adds_a_new_type_at_now() -> None:
    """A condition not yet present is appended with lastTransitionTime = now."""
    valid = condition.Condition(
        type="Valid", status=condition.ConditionStatus.TRUE, last_transition_time=T0
    )
    result = _set([valid], condition.ConditionStatus.FALSE, "NotReady")
    assert result[0] == valid
    assert (result[1].type, result[1].status) == ("Ready", condition.ConditionStatus.FALSE)
    assert result[1].last_transition_time == T1
    assert (result[1].reason, result[1].message) == ("NotReady", "because NotReady")
    assert result[1].observed_generation == 3


def test_set_condition_keeps_transition_time_when_status_unchanged() -> None:
    """Same status: reason and message update, lastTransitionTime stays."""
    old = _set([], condition.ConditionStatus.FALSE, "Starting")
    old = [old[0].model_copy(update={"last_transition_time": T0})]
    result = _set(old, condition.ConditionStatus.FALSE, "ProbeFailing")
    assert len(result) == 1
    assert result[0].last_transition_time == T0
    assert result[0].reason == "ProbeFailing"


def test_set_condition_moves_transition_time_when_status_changes() -> None:
    """A new status is a transition: lastTransitionTime becomes now, in place."""
    valid = condition.Condition(type="Valid", status=condition.ConditionStatus.TRUE)
    ready = condition.Condition(
        type="Ready", status=condition.ConditionStatus.FALSE, last_transition_time=T0
    )
    before = [ready, valid]
    result = _set(before, condition.ConditionStatus.TRUE, "Ready")
    assert [c.type for c in result] == ["Ready", "Valid"]
    assert result[0].status is condition.ConditionStatus.TRUE
    assert result[0].last_transition_time == T1
    assert before == [ready, valid]
    assert condition.is_true(result, "Ready")
    assert not condition.is_true(before, "Ready")
    assert condition.get_condition(result, "Missing") is None


# --- rollout.api.documents.format_loc ---------------------------------------------------------


@pytest.mark.parametrize(
    ("loc", "text"),
    [
        ((), ""),
        (("spec",), "spec"),
        (("spec", "steps", 2, "setWeight"), "spec.steps[2].setWeight"),
        (("spec", "traffic", 0, "revisionName"), "spec.traffic[0].revisionName"),
        ((0, "name"), "[0].name"),
        (("metadata", "labels", "team_name"), "metadata.labels.team_name"),
        (("metadata", "labels", "my-label"), "metadata.labels.my-label"),
        (
            ("metadata", "labels", "app.kubernetes.io/name"),
            "metadata.labels['app.kubernetes.io/name']",
        ),
        (("spec", "a b"), "spec['a b']"),
    ],
)
def test_format_loc(loc: tuple[str | int, ...], text: str) -> None:
    """Names joined by dots, indexes in brackets, odd keys quoted in brackets."""
    assert documents.format_loc(loc) == text
