"""The template's `spec` in the CRDs: Kubernetes' PodSpec, structural, described, small enough.

Issue 17: `kubectl explain rsvc.spec.template` must be useful, so the CRDs carry the
structural schema of Kubernetes 1.32's PodSpec (`podschema`, from the schema `rollout
validate` checks against) — and a client-side `kubectl apply` of a CRD copies it
whole into an annotation of at most 256 KiB (docs/decisions.md).
"""

from __future__ import annotations

import functools
import json
import pathlib
import re
from typing import Any

import pytest
import yaml

from rollout.api import crds, kinds, podschema, podspec

CRD_DIR = pathlib.Path(__file__).resolve().parents[3] / "crds"
# The API server's TotalAnnotationSizeLimitB, which last-applied-configuration counts in.
ANNOTATION_LIMIT = 256 * 1024
TEMPLATE_KINDS = ["Service", "Revision"]


@functools.cache
def _committed(kind_name: str) -> dict[str, Any]:
    """The committed CRD (read once: the template's kinds are 400 kB of YAML)."""
    text = (CRD_DIR / crds.file_name(kinds.KINDS[kind_name])).read_text(encoding="utf-8")
    crd: dict[str, Any] = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return crd


def _pod_spec(kind_name: str) -> dict[str, Any]:
    top = _committed(kind_name)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    found: dict[str, Any] = top["properties"]["spec"]["properties"]["template"]["properties"][
        "spec"
    ]
    return found


def _nodes(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = [(path, schema)]
    for name, sub in schema.get("properties", {}).items():
        found += _nodes(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        found += _nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        found += _nodes(schema["additionalProperties"], f"{path}{{}}")
    return found


def _last_applied_bytes(crd: dict[str, Any]) -> int:
    """What `kubectl apply` stores in `last-applied-configuration`: the object as compact
    JSON (the annotation is then part of the object's annotations, all bounded together)."""
    return len(json.dumps(crd, separators=(",", ":")).encode("utf-8"))


@pytest.mark.parametrize("kind_name", TEMPLATE_KINDS)
def test_the_template_spec_is_the_kubernetes_pod_spec(kind_name: str) -> None:
    """Every PodSpec field of Kubernetes 1.32 is declared, with the pod spec's required list."""
    schema = _pod_spec(kind_name)
    declared = podspec.definitions()["$defs"][podspec.POD_SPEC]["properties"]
    assert set(schema["properties"]) == set(declared)
    assert schema["type"] == "object"
    assert schema["required"] == ["containers"]
    assert "x-kubernetes-preserve-unknown-fields" not in schema


@pytest.mark.parametrize(
    "path",
    [
        ".containers",
        ".containers[].image",
        ".containers[].readinessProbe",
        ".containers[].env[].valueFrom",
        ".initContainers[].restartPolicy",
        ".containers[].readinessProbe.periodSeconds",
        ".volumes[].secret",
        ".serviceAccountName",
    ],
)
def test_kubectl_explain_has_descriptions_down_to_the_probe_fields(path: str) -> None:
    """Descriptions down to `DESCRIBED_DEPTH` (3): a pod spec field, a container's field,
    a probe's field — what `kubectl explain rsvc.spec.template.spec…` prints."""
    nodes = dict(_nodes(_pod_spec("Service")))
    assert len(nodes[path].get("description", "")) > 20, path


def test_descriptions_stop_below_the_described_depth() -> None:
    """A field four levels down (an HTTP GET's port) keeps its type, not its description."""
    nodes = dict(_nodes(_pod_spec("Service")))
    port = nodes[".containers[].readinessProbe.httpGet.port"]
    assert port == {"x-kubernetes-int-or-string": True}
    assert podschema.DESCRIBED_DEPTH == 3


@pytest.mark.parametrize("kind_name", TEMPLATE_KINDS)
def test_only_markers_a_crd_may_carry(kind_name: str) -> None:
    """A list-map's keys are required in its items (else the marker goes: `ports`, whose
    protocol is optional); no strategic-merge or union markers, no nullable."""
    for path, node in _nodes(_pod_spec(kind_name)):
        extensions = {k for k in node if k.startswith("x-")}
        assert extensions <= {
            "x-kubernetes-list-type",
            "x-kubernetes-list-map-keys",
            "x-kubernetes-map-type",
            "x-kubernetes-int-or-string",
            "x-kubernetes-preserve-unknown-fields",
        }, path
        assert "nullable" not in node, path
        if node.get("x-kubernetes-list-type") == "map":
            keys = node["x-kubernetes-list-map-keys"]
            assert set(keys) <= set(node["items"].get("required", ())), path
        if node.get("x-kubernetes-list-type") == "set":
            assert node["items"]["type"] not in ("object", "array"), path
    nodes = dict(_nodes(_pod_spec(kind_name)))
    assert nodes[".containers"]["x-kubernetes-list-map-keys"] == ["name"]
    assert "x-kubernetes-list-type" not in nodes[".containers[].ports"]


@pytest.mark.parametrize(
    ("path", "bounds"),
    [
        (".containers[].ports[].containerPort", (1, 65535)),
        (".containers[].readinessProbe.periodSeconds", (1, 2**31 - 1)),
        (".containers[].readinessProbe.initialDelaySeconds", (0, 2**31 - 1)),
        (".terminationGracePeriodSeconds", (-(2**63), 2**63 - 1)),
    ],
)
def test_integers_carry_the_api_servers_bounds(path: str, bounds: tuple[int, int]) -> None:
    """Go's int32/int64 ranges, and the ranges the API server checks in Go (ports, probes)."""
    node = dict(_nodes(_pod_spec("Service")))[path]
    assert (node["minimum"], node["maximum"]) == bounds


def test_quantities_are_int_or_string_with_their_pattern() -> None:
    """`cpu: lots` is refused by the CRD too; `500m` and `2` pass."""
    node = dict(_nodes(_pod_spec("Service")))[".containers[].resources.limits{}"]
    assert node["x-kubernetes-int-or-string"] is True
    pattern = re.compile(node["pattern"])
    assert [bool(pattern.match(q)) for q in ("500m", "1Gi", "2", "0.5", "lots", "1 Gi")] == [
        True,
        True,
        True,
        True,
        False,
        False,
    ]


@pytest.mark.parametrize("kind_name", list(kinds.KINDS))
def test_each_crd_fits_the_annotation_of_a_client_side_apply(kind_name: str) -> None:
    """`kubectl apply` (client-side) copies the CRD into a 256 KiB annotation: each fits,
    with room to spare for a Kubernetes version with longer descriptions."""
    size = _last_applied_bytes(_committed(kind_name))
    assert size < ANNOTATION_LIMIT * 0.85, f"{kind_name}: {size} bytes"


def test_every_description_would_not_fit() -> None:
    """The reason for the depth: the full pod spec's descriptions exceed the annotation."""
    crd = crds.crd(kinds.KINDS["Service"])
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec["properties"]["template"]["properties"]["spec"] = podschema.pod_spec(described_depth=99)
    assert _last_applied_bytes(crd) > ANNOTATION_LIMIT


def test_the_rendered_crd_shares_no_node() -> None:
    """YAML anchors (`&id001`) would make the generated CRD unreadable: every node is fresh."""
    text = crds.render(kinds.KINDS["Service"])
    assert "&id" not in text
    assert "*id" not in text
