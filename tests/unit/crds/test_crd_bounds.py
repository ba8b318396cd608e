"""Every integer in every CRD has an upper bound, the same as `rollout validate`'s.

Issue 13: `failureLimit: 99999999999999999999999999` was accepted. Objects applied with
kubectl meet only the CRD schema, so its bounds must match the models': 32-bit for the
counts users write, 64-bit for the controller's counters.
"""

from __future__ import annotations

import pathlib
from typing import Any

import jsonschema
import pytest
import yaml

from rollout.api import crds, kinds

# libyaml when present: the CRDs with a pod template are 400 kB of YAML.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
CRD_DIR = pathlib.Path(__file__).resolve().parents[3] / "crds"
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


def _schema(kind_name: str) -> dict[str, Any]:
    text = (CRD_DIR / crds.file_name(kinds.KINDS[kind_name])).read_text(encoding="utf-8")
    schema: dict[str, Any] = yaml.load(text, Loader=_LOADER)["spec"]["versions"][0]["schema"]
    return schema["openAPIV3Schema"]


def _integers(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = [(path, schema)] if schema.get("type") == "integer" else []
    for name, sub in schema.get("properties", {}).items():
        found += _integers(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        found += _integers(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        found += _integers(schema["additionalProperties"], f"{path}{{}}")
    return found


@pytest.mark.parametrize("kind_name", list(kinds.KINDS))
def test_every_integer_has_a_maximum(kind_name: str) -> None:
    """No integer node without `maximum`; none above int64; `format` says the width."""
    nodes = _integers(_schema(kind_name))
    assert nodes, "every kind has integers (generations at least)"
    for path, node in nodes:
        assert "maximum" in node, path
        limit = INT32_MAX if node.get("format") == "int32" else INT64_MAX
        assert node["maximum"] <= limit, path


@pytest.mark.parametrize(
    ("kind_name", "path"),
    [
        ("RolloutPolicy", ".spec.analysis.failureLimit"),
        ("RolloutPolicy", ".spec.analysis.inconclusiveLimit"),
        ("RolloutPolicy", ".spec.analysis.consecutiveErrorLimit"),
        ("RolloutPolicy", ".spec.analysis.metrics[].minSamples"),
        ("RolloutPolicy", ".spec.analysis.metrics[].failureLimit"),
        ("Service", ".spec.revisionHistoryLimit"),
        ("Service", ".spec.scaling.minReplicas"),
        ("Service", ".spec.template.spec.containers[].readinessProbe.periodSeconds"),
        ("Revision", ".spec.template.spec.initContainers[].startupProbe.failureThreshold"),
    ],
)
def test_counts_users_write_are_int32(kind_name: str, path: str) -> None:
    """The counts a user writes are 32-bit, as in Kubernetes."""
    nodes = dict(_integers(_schema(kind_name)))
    assert nodes[path]["maximum"] == INT32_MAX
    assert nodes[path]["format"] == "int32"


def test_webhook_retries_are_bounded_in_the_crd_too() -> None:
    """At most 10 retries (each attempt has its own timeout): the CRD says so as well."""
    nodes = dict(_integers(_schema("RolloutPolicy")))
    assert nodes[".spec.webhooks[].retries"]["maximum"] == 10


def test_the_crd_refuses_the_huge_failure_limit() -> None:
    """The reproduction, against the committed CRD schema."""
    policy = {
        "apiVersion": "rollout.dev/v1alpha1",
        "kind": "RolloutPolicy",
        "metadata": {"name": "gate"},
        "spec": {
            "steps": [{"setWeight": 10}],
            "analysis": {"failureLimit": 99999999999999999999999999},
        },
    }
    with pytest.raises(jsonschema.ValidationError) as caught:
        jsonschema.Draft4Validator(_schema("RolloutPolicy")).validate(policy)
    assert "99999999999999999999999999" in caught.value.message
