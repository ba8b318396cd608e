"""Properties of the YAML loader: whatever the input, a diagnosis and never a crash.

`documents.parse` promises to never raise on bad input and to place every problem at
a line of the file. Hypothesis feeds it random text, random YAML built from random
data, and random mutations of the policies shipped in `policies/`.
"""

from __future__ import annotations

import copy
import functools
import pathlib
import re
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rollout.api import documents, kinds

POLICIES = pathlib.Path(__file__).resolve().parents[3] / "policies"

# Bounded so that this file runs in well under 20 s on two cores.
BOUNDED = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Names the model knows, so that random documents often get past the first checks.
FIELD_NAMES = [
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "namespace",
    "labels",
    "spec",
    "steps",
    "setWeight",
    "pause",
    "analysis",
    "duration",
    "metrics",
    "canary",
    "stepWeight",
    "maxWeight",
    "interval",
    "failureLimit",
    "provider",
    "local",
    "stat",
    "prometheus",
    "address",
    "query",
    "web",
    "url",
    "thresholds",
    "min",
    "max",
    "compare",
    "alpha",
    "maxRatio",
    "webhooks",
    "progressDeadline",
    "template",
    "containers",
    "command",
    "image",
    "traffic",
    "revisionName",
    "percent",
    "tag",
    "policy",
]

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([-1, 0, 1, 5, 50, 100, 150]),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(
        [
            "",
            "0s",
            "15",
            "1m",
            "1h30m",
            "500ms",
            "web-00001",
            "http://127.0.0.1:9090",
            "{{revision}}",
            "{{revison}}",
            "{{",
            "rollout.dev/v1alpha1",
            "RolloutPolicy",
            "Service",
            "errors",
            "stable",
        ]
    ),
)
KEYS = st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=12))
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=12,
)
DOCUMENTS = st.one_of(
    VALUES,
    st.fixed_dictionaries(
        {
            "apiVersion": st.sampled_from([kinds.API_VERSION, "rollout.dev/v1", "v1"]),
            "kind": st.sampled_from([*kinds.KINDS, "Deployment"]),
        },
        optional={
            "metadata": st.one_of(
                st.fixed_dictionaries({"name": st.sampled_from(["web", "Web", "canary"])}),
                VALUES,
            ),
            "spec": st.dictionaries(KEYS, VALUES, max_size=5),
            "status": VALUES,
        },
    ),
)

_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


def _assert_well_formed(parsed: documents.Parsed, text: str) -> None:
    """Every diagnostic names the file, a line inside it and says something."""
    assert isinstance(parsed, documents.Parsed)
    last_line = len(_LINE_BREAK.split(text))
    for diagnostic in parsed.diagnostics:
        assert diagnostic.path == "x.yaml"
        assert 1 <= diagnostic.line <= last_line, (diagnostic, last_line)
        assert diagnostic.message.strip(), diagnostic
        assert isinstance(diagnostic.field, str)
        assert str(diagnostic).startswith(f"x.yaml:{diagnostic.line}: ")
    for doc in parsed.documents:
        assert doc.path == "x.yaml"
        assert 1 <= doc.line <= last_line
        assert doc.resource.kind in kinds.KINDS


@BOUNDED
@given(st.text())
def test_any_text_is_diagnosed_never_raised(text: str) -> None:
    """Random text parses to documents and diagnostics; nothing escapes as an exception."""
    _assert_well_formed(documents.parse(text, "x.yaml"), text)


@BOUNDED
@given(st.lists(DOCUMENTS, min_size=1, max_size=3))
def test_any_yaml_data_is_diagnosed_never_raised(data: list[Any]) -> None:
    """Random YAML streams (well-formed syntax, arbitrary content) never crash the loader."""
    text = yaml.safe_dump_all(data)
    _assert_well_formed(documents.parse(text, "x.yaml"), text)


# --- mutations of the shipped policies -----------------------------------------------------


@functools.cache
def _policy_data(path: pathlib.Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path of every value under `node` (the root excluded)."""
    if isinstance(node, dict):
        children = list(node.items())
    elif isinstance(node, list):
        children = list(enumerate(node))
    else:
        return []
    found = []
    for key, child in children:
        found.append((*prefix, key))
        found.extend(_paths(child, (*prefix, key)))
    return found


def _at(root: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        root = root[key]
    return root


@st.composite
def _mutated_policy(draw: st.DrawFn) -> Any:
    files = sorted(POLICIES.glob("*.yaml"))
    data = copy.deepcopy(_policy_data(draw(st.sampled_from(files))))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(data)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _at(data, path[:-1]), path[-1]
        mutation = draw(st.sampled_from(["delete", "replace", "rename", "insert"]))
        if mutation == "delete":
            del parent[key]
        elif mutation == "replace":
            parent[key] = draw(VALUES)
        elif mutation == "rename" and isinstance(parent, dict):
            parent[draw(KEYS)] = parent.pop(key)
        else:
            target = _at(data, path)
            if isinstance(target, dict):
                target[draw(KEYS)] = draw(VALUES)
            elif isinstance(target, list):
                target.insert(draw(st.integers(0, len(target))), draw(VALUES))
            else:
                parent[key] = draw(VALUES)
    return data


def test_policies_are_there_and_valid() -> None:
    """The mutation test below has policies to start from, and each of them loads."""
    files = sorted(POLICIES.glob("*.yaml"))
    assert files, f"no policies in {POLICIES}"
    for path in files:
        parsed = documents.parse(path.read_text(encoding="utf-8"), str(path))
        assert parsed.diagnostics == []
        assert [d.resource.kind for d in parsed.documents] == ["RolloutPolicy"]


@BOUNDED
@given(_mutated_policy())
def test_mutated_policy_loads_or_is_diagnosed(data: Any) -> None:
    """A randomly edited policy either loads cleanly or is diagnosed, never both, never raises."""
    text = yaml.safe_dump(data)
    parsed = documents.parse(text, "x.yaml")
    _assert_well_formed(parsed, text)
    if parsed.documents:
        assert len(parsed.documents) == 1
        assert parsed.diagnostics == []
    else:
        assert parsed.diagnostics != []
