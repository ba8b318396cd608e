"""Type errors do not hide the cross-field rules of the fields that are well-typed.

`documents.validate_data` reports, in the same pass, the type errors and the rules
(`partial`) whose fields validated; a rule that needs a field that did not validate
says nothing (its answer would mean nothing).
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rollout.api import documents

SUM = "percents must sum to 100"
BOTH = "a manual split cannot be combined with spec.policy"


def service(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "rollout.dev/v1alpha1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {
            "template": {"spec": {"containers": [{"name": "app", "command": ["app"]}]}},
            **spec,
        },
    }


def policy(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "rollout.dev/v1alpha1",
        "kind": "RolloutPolicy",
        "metadata": {"name": "p"},
        "spec": spec,
    }


def split(*percents: Any, tags: tuple[str | None, ...] = ()) -> list[dict[str, Any]]:
    return [
        {"revisionName": f"web-{i + 1:05d}", "percent": p, **({"tag": t} if t else {})}
        for i, (p, t) in enumerate(zip(percents, tags or (None,) * len(percents), strict=True))
    ]


def reported(data: dict[str, Any]) -> list[tuple[str, str]]:
    resource, found = documents.validate_data(data)
    assert resource is None
    return [(documents.format_loc(p.loc), p.message) for p in found]


def has(found: list[tuple[str, str]], field: str, words: str) -> bool:
    return any(f == field and words in m for f, m in found)


ONE_PASS = [
    pytest.param(
        service(port="8080", traffic=split(50, 40)),
        ("spec.port", "not a string"),
        ("spec.traffic", SUM),
        id="split-sum",
    ),
    pytest.param(
        service(revisionHistoryLimit=-1, policy="canary", traffic=split(100)),
        ("spec.revisionHistoryLimit", "0 or more"),
        ("spec.traffic", BOTH),
        id="policy-plus-traffic",
    ),
    pytest.param(
        service(progressDeadline="soon", traffic=split(50, 50, tags=("a", "a"))),
        ("spec.progressDeadline", "duration"),
        ("spec.traffic[1].tag", "duplicate tag"),
        id="duplicate-tags",
    ),
    pytest.param(
        service(port=0, scaling={"minReplicas": 3, "maxReplicas": 2}),
        ("spec.port", "port number"),
        ("spec.scaling.maxReplicas", "at least minReplicas"),
        id="min-max-replicas",
    ),
    pytest.param(
        service(
            traffic=split(100),
            scaling={"minReplicas": 1, "targetCpuUtilizationPercentage": "70"},
        ),
        ("spec.scaling.targetCpuUtilizationPercentage", "not a string"),
        ("spec.traffic[0]", ""),  # nothing: the split is valid
        id="nothing-else-wrong",
    ),
    pytest.param(
        policy(steps=[{"setWeight": 50}, {"setWeight": 20}, {"pause": {"duration": "xx"}}]),
        ("spec.steps[2].pause.duration", "not a duration"),
        ("spec.steps[1].setWeight", "must not decrease"),
        id="decreasing-setWeight",
    ),
    pytest.param(
        policy(
            progressDeadline=5,
            steps=[{"setWeight": 10}, {"analysis": {"duration": "1m", "metrics": ["x"]}}],
        ),
        ("spec.progressDeadline", ""),
        ("spec.steps[1].analysis", "needs metrics"),
        id="analysis-without-metrics",
    ),
    pytest.param(
        policy(
            steps=[{"setWeight": "10"}],
            webhooks=[
                {"name": "h", "type": "pre-rollout", "url": "http://h.example/"},
                {"name": "h", "type": "post-rollout", "url": "http://h.example/"},
            ],
        ),
        ("spec.steps[0].setWeight", "not a string"),
        ("spec.webhooks[1].name", "duplicate webhook name"),
        id="duplicate-webhooks",
    ),
]


@pytest.mark.parametrize(("data", "type_error", "rule"), ONE_PASS)
def test_a_type_error_and_a_rule_in_one_pass(
    data: dict[str, Any], type_error: tuple[str, str], rule: tuple[str, str]
) -> None:
    """Both the type error and the cross-field rule of well-typed fields are reported."""
    found = reported(data)
    assert has(found, *type_error), found
    if rule[1]:
        assert has(found, *rule), found
    else:
        assert [f for f, _ in found] == [type_error[0]], found


MEANINGLESS = [
    pytest.param(
        service(traffic=split(50, "40")), "spec.traffic[1].percent", SUM, id="bad-percent-no-sum"
    ),
    pytest.param(
        policy(steps=[{"setWeight": 50}, {"setWeight": "20"}]),
        "spec.steps[1].setWeight",
        "must not decrease",
        id="bad-weight-no-decrease",
    ),
    pytest.param(
        policy(steps=[{"setWieght": 50}]),
        "spec.steps[0].setWieght",
        "exactly one of",
        id="typo-no-step-rule",
    ),
    pytest.param(
        policy(canary={"stepWeight": 0}, analysis={"metrics": []}),
        "spec.canary.interval",
        "confirm",
        id="canary-step-zero-ends",
    ),
]


@pytest.mark.parametrize(("data", "type_error", "silent"), MEANINGLESS)
def test_a_rule_that_needs_an_ill_typed_field_says_nothing(
    data: dict[str, Any], type_error: str, silent: str
) -> None:
    """A rule whose answer the type error makes meaningless is not run."""
    found = reported(data)
    assert any(f == type_error for f, _ in found), found
    assert not any(silent in m for _, m in found), found


# --- property: any unrelated type error leaves the rule's report --------------------------

# Fields of a Service that no traffic rule reads, each with an ill-typed value.
INJECTIONS: list[tuple[tuple[str, ...], Any]] = [
    (("spec", "port"), "8080"),
    (("spec", "port"), 70000),
    (("spec", "revisionHistoryLimit"), "10"),
    (("spec", "revisionHistoryLimit"), 1.5),
    (("spec", "progressDeadline"), "ten minutes"),
    (("spec", "scaleDownDelay"), []),
    (("spec", "scaling"), {"minReplicas": "1"}),
    (("spec", "template", "spec", "containers", 0, "command"), "app"),
    (("metadata", "labels"), {"app": 5}),
    (("spec", "scaling"), {"minReplicaz": 1}),  # an unknown field in an unrelated part
]


def _inject(data: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    node: Any = out
    for part in path[:-1]:
        node = node.setdefault(part, {}) if isinstance(part, str) else node[part]
    node[path[-1]] = value
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    percents=st.lists(st.integers(0, 100), min_size=1, max_size=5).filter(lambda p: sum(p) != 100),
    with_policy=st.booleans(),
    injection=st.sampled_from(INJECTIONS),
)
def test_any_unrelated_type_error_keeps_the_split_rules(
    percents: list[int], with_policy: bool, injection: tuple[tuple[str, ...], Any]
) -> None:
    """A split that does not sum to 100 (and a policy beside it) is reported whatever
    unrelated field is ill-typed — exactly as when that field is left out."""
    spec: dict[str, Any] = {"traffic": split(*percents)}
    if with_policy:
        spec["policy"] = "canary"
    valid = service(**spec)
    expected = reported(valid)
    assert has(expected, "spec.traffic", SUM)
    assert has(expected, "spec.traffic", BOTH) == with_policy
    path, value = injection
    found = reported(_inject(valid, path, value))
    assert any(f.startswith(".".join(map(str, path[:2]))) for f, _ in found), found
    for problem in expected:
        assert problem in found, (problem, found)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    weights=st.lists(st.integers(0, 100), min_size=2, max_size=6).filter(
        lambda w: any(b < a for a, b in itertools.pairwise(w))
    ),
    injection=st.sampled_from(
        [
            (("spec", "progressDeadline"), 10),
            (("spec", "scaleDownDelay"), "later"),
            (("spec", "rollback"), {"onFailure": "explode"}),
            (("spec", "canaryScale"), {"matchWeight": "true"}),
            (("spec", "webhooks"), [{"name": "h", "type": "pre-rollout", "url": 5}]),
        ]
    ),
)
def test_any_unrelated_type_error_keeps_the_weight_rule(
    weights: list[int], injection: tuple[tuple[str, ...], Any]
) -> None:
    """setWeight lowered along the steps is reported whatever unrelated field of the
    policy is ill-typed."""
    valid = policy(steps=[{"setWeight": w} for w in weights])
    expected = [p for p in reported(valid) if "must not decrease" in p[1]]
    assert expected
    path, value = injection
    found = reported(_inject(valid, path, value))
    for problem in expected:
        assert problem in found, (problem, found)
