"""The committed CRDs match the models, are structural, and accept every example."""

from __future__ import annotations

import copy
import pathlib
from typing import Any

import jsonschema
import podtemplates
import pytest
import yaml
from click.testing import CliRunner

from rollout.api import crds, kinds, loader
from rollout.cli import main

ROOT = pathlib.Path(__file__).resolve().parents[3]
# libyaml when present: the CRDs with a pod template are 400 kB of YAML.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
CRD_DIR = ROOT / "crds"
KIND_IDS = list(kinds.KINDS)


def _committed(kind: kinds.Kind) -> dict[str, Any]:
    return yaml.load((CRD_DIR / crds.file_name(kind)).read_text(encoding="utf-8"), Loader=_LOADER)


def _schema(kind_name: str) -> dict[str, Any]:
    crd = _committed(kinds.KINDS[kind_name])
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def _as_draft4(schema: Any) -> Any:
    """OpenAPI v3 → JSON Schema draft 4: `nullable` and int-or-string as type lists."""
    if isinstance(schema, list):
        return [_as_draft4(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _as_draft4(v) for k, v in schema.items()}
    if out.pop("x-kubernetes-int-or-string", False):
        out["type"] = ["integer", "string"]
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"] if isinstance(out["type"], str) else out["type"]
    return out


def _nodes(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every sub-schema with its path."""
    found = [(path, schema)]
    for name, sub in schema.get("properties", {}).items():
        found += _nodes(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        found += _nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        found += _nodes(schema["additionalProperties"], f"{path}{{}}")
    return found


@pytest.mark.parametrize("kind_name", KIND_IDS)
def test_committed_crd_matches_generated(kind_name: str) -> None:
    """crds/ is exactly what `rollout crds` generates (run `make crds` after model changes)."""
    kind = kinds.KINDS[kind_name]
    committed = (CRD_DIR / crds.file_name(kind)).read_text(encoding="utf-8")
    assert committed == crds.render(kind), f"crds/{crds.file_name(kind)} is stale: run make crds"


def test_crd_directory_holds_one_file_per_kind() -> None:
    """No stale CRD files for kinds that no longer exist."""
    expected = {crds.file_name(k) for k in kinds.KINDS.values()}
    assert {p.name for p in CRD_DIR.glob("*.yaml")} == expected


def test_cli_prints_the_same_crds() -> None:
    """`rollout crds` prints every committed CRD as one multi-document stream."""
    result = CliRunner().invoke(main.cli, ["crds"])
    assert result.exit_code == 0
    printed = list(yaml.load_all(result.output, Loader=_LOADER))
    assert printed == [_committed(k) for k in kinds.KINDS.values()]


@pytest.mark.parametrize("kind_name", KIND_IDS)
def test_crd_schema_is_structural(kind_name: str) -> None:
    """Every node has a type, no refs or unions, no additionalProperties: false."""
    for path, node in _nodes(_schema(kind_name)):
        assert not {"$ref", "anyOf", "oneOf", "allOf", "not", "$defs"} & node.keys(), path
        assert node.get("additionalProperties") is not False, path
        # Kubernetes exempts these two from needing a type (a header is a string or
        # {valueFrom: ...}: preserve-unknown-fields, and `rollout validate` checks it).
        typed = (
            "type" in node
            or node.get("x-kubernetes-int-or-string") is True
            or node.get("x-kubernetes-preserve-unknown-fields") is True
        )
        assert typed, path
        if "properties" in node:
            assert node["type"] == "object", path


@pytest.mark.parametrize("kind_name", KIND_IDS)
def test_crd_names_columns_and_subresources(kind_name: str) -> None:
    """Names, short names, printer columns and the status subresource are declared."""
    kind = kinds.KINDS[kind_name]
    crd = _committed(kind)
    names = crd["spec"]["names"]
    assert crd["metadata"]["name"] == f"{kind.plural}.rollout.dev"
    assert names["kind"] == kind_name
    assert names["shortNames"] == list(kind.short_names)
    version = crd["spec"]["versions"][0]
    assert [c["name"] for c in version["additionalPrinterColumns"]][-1] == "Age"
    assert ("subresources" in version) is kind.has_status


def test_release_columns_show_phase_weight_stable_canary() -> None:
    """`kubectl get rrel` shows what a release is doing."""
    version = _committed(kinds.KINDS["Release"])["spec"]["versions"][0]
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns["Phase"] == ".status.phase"
    assert columns["Weight"] == ".status.weights.canary"
    assert columns["Stable"] == ".spec.stableRevision"
    assert columns["Canary"] == ".spec.canaryRevision"


def _shipped_documents() -> list[tuple[str, dict[str, Any]]]:
    parsed = loader.load_paths([ROOT / "policies", ROOT / "examples"])
    assert not parsed.diagnostics, [str(d) for d in parsed.diagnostics]
    return [
        (f"{d.path}:{d.resource.metadata.name}", d.resource.model_dump(mode="json", by_alias=True))
        for d in parsed.documents
    ]


SHIPPED = _shipped_documents()


@pytest.mark.parametrize(("where", "data"), SHIPPED, ids=[w for w, _ in SHIPPED])
def test_shipped_documents_validate_against_their_crd(where: str, data: dict[str, Any]) -> None:
    """Every ready policy and example, as stored, is accepted by its CRD's schema."""
    schema = _as_draft4(_schema(data["kind"]))
    jsonschema.Draft4Validator(schema).validate(data)


def test_raw_example_files_validate_against_their_crd() -> None:
    """The files as users write them (without defaults filled in) are accepted too."""
    for path in sorted([*ROOT.glob("policies/*.yaml"), *ROOT.glob("examples/**/*.yaml")]):
        for data in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            schema = _as_draft4(_schema(data["kind"]))
            jsonschema.Draft4Validator(schema).validate(data)


def test_a_production_pod_template_validates_against_the_crd() -> None:
    """The production Service of tests/podtemplates.py, as written, fits the CRD's schema
    of the pod spec (types, bounds, a quantity's pattern)."""
    data = podtemplates.production()
    schema = _as_draft4(_schema("Service"))
    jsonschema.Draft4Validator(schema).validate(data)
    data["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = "lots"
    with pytest.raises(jsonschema.ValidationError, match="lots"):
        jsonschema.Draft4Validator(schema).validate(data)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        pytest.param(
            lambda d: d["spec"]["steps"][0].update(setWeight=150), "150", id="weight-above-100"
        ),
        pytest.param(
            lambda d: d["spec"]["analysis"].update(interval=15), "15", id="duration-without-unit"
        ),
        pytest.param(
            lambda d: d["spec"]["analysis"]["metrics"][0]["compare"].update(alpha=1),
            "1",
            id="alpha-one",
        ),
    ],
)
def test_crd_schema_rejects_bad_values(mutate: Any, expected: str) -> None:
    """The CRD schema is not a rubber stamp: out-of-range values are rejected."""
    data = yaml.safe_load((ROOT / "policies" / "canary-standard.yaml").read_text("utf-8"))
    bad = copy.deepcopy(data)
    mutate(bad)
    schema = _as_draft4(_schema("RolloutPolicy"))
    with pytest.raises(jsonschema.ValidationError) as caught:
        jsonschema.Draft4Validator(schema).validate(bad)
    assert expected in caught.value.message
