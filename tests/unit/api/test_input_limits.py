"""Input is bounded before it is validated: files, documents, strings, and YAML aliases.

Each limit is shown just over and just under its value, with the line `rollout validate`
prints (`PATH:LINE: FIELD.PATH: too large (N bytes; at most M)`). Alias bombs are checked
to be refused quickly, without pydantic ever seeing their expansion.
"""

from __future__ import annotations

import pathlib
import textwrap
import time

import pytest
from click.testing import CliRunner, Result

from rollout.api import documents, limits, loader
from rollout.cli import main

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
          env:
            - {name: BIG, value: "VALUE"}
"""


def _service(value: str) -> str:
    return SERVICE.replace("VALUE", value)


def _validate(path: pathlib.Path) -> Result:
    return CliRunner().invoke(main.cli, ["validate", "-f", str(path)])


def _write(tmp_path: pathlib.Path, text: str, name: str = "web.yaml") -> pathlib.Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- one string ---------------------------------------------------------------------


def test_a_10_mb_env_value_is_refused_with_its_size(tmp_path: pathlib.Path) -> None:
    """The reproduction: a 10 MB env value passed and grew the state to 302 MB."""
    path = _write(tmp_path, _service("x" * 10_000_000))
    result = _validate(path)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        f"{path}: file too large ({path.stat().st_size} bytes; at most {limits.MAX_FILE_BYTES})"
    )


def test_a_string_over_the_limit_is_named_by_its_field(tmp_path: pathlib.Path) -> None:
    """A string one byte over 128 KiB: its field path, line, size and the limit."""
    size = limits.MAX_STRING_BYTES + 1
    path = _write(tmp_path, _service("x" * size))
    result = _validate(path)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"{path}:12: spec.template.spec.containers[0].env[0].value: too large ({size} bytes;"
        f" at most {limits.MAX_STRING_BYTES})",
        "1 problem(s) found",
    ]


def test_a_string_at_the_limit_is_accepted() -> None:
    """Exactly 128 KiB is fine (the limit is inclusive)."""
    parsed = documents.parse(_service("x" * limits.MAX_STRING_BYTES), "web.yaml")
    assert parsed.diagnostics == []


def test_string_size_counts_utf8_bytes_not_characters() -> None:
    """`é` is two bytes: 65,537 of them are over 128 KiB though fewer characters."""
    count = limits.MAX_STRING_BYTES // 2 + 1
    parsed = documents.parse(_service("é" * count), "web.yaml")
    assert [d.message for d in parsed.diagnostics] == [
        f"too large ({2 * count} bytes; at most {limits.MAX_STRING_BYTES})"
    ]


def test_a_long_key_is_a_string_too() -> None:
    """A mapping key is bounded like a value (an annotation name, a header name)."""
    key = "k" * 200_000  # an explicit key: YAML's plain keys stop at 1024 characters
    text = SERVICE.replace("  name: web\n", f"  name: web\n  annotations:\n    ? {key}\n    : v\n")
    parsed = documents.parse(text, "web.yaml")
    assert [(d.line, d.field, d.message) for d in parsed.diagnostics] == [
        (
            6,
            f"metadata.annotations.{key}",
            f"too large (200000 bytes; at most {limits.MAX_STRING_BYTES})",
        )
    ]


# --- a document and a file ------------------------------------------------------------


def _many_env(count: int, value_size: int) -> str:
    head = _service("v").rsplit("        env:\n", 1)[0] + "        env:\n"
    return head + "".join(
        f"          - {{name: E{i}, value: {'x' * value_size}}}\n" for i in range(count)
    )


def test_a_document_over_the_limit_as_written(tmp_path: pathlib.Path) -> None:
    """A document of 1.6 MB in a 1.6 MB file: the document's line and size."""
    path = _write(tmp_path, _many_env(16, 100_000))
    result = _validate(path)
    assert result.exit_code == 2
    (line, count) = result.stderr.splitlines()
    assert line.startswith(f"{path}:1: document too large (")
    assert line.endswith(f" bytes; at most {limits.MAX_DOCUMENT_BYTES})")
    assert count == "1 problem(s) found"


def test_documents_under_the_limit_in_one_file_are_accepted() -> None:
    """Two documents of 1 MB each in one 2 MB file: each document is within bounds."""
    one = _many_env(10, 100_000)
    text = one + "---\n" + one.replace("name: web", "name: api")
    parsed = documents.parse(text, "two.yaml")
    assert parsed.diagnostics == []
    assert [d.resource.metadata.name for d in parsed.documents] == ["web", "api"]


def test_a_file_over_the_limit_is_not_read_whole(tmp_path: pathlib.Path) -> None:
    """A 4 MB file is refused with its size; its documents are not looked at."""
    path = _write(tmp_path, _many_env(40, 100_000))
    parsed = loader.load_paths([path])
    assert [str(d) for d in parsed.diagnostics] == [
        f"{path}: file too large ({path.stat().st_size} bytes; at most {limits.MAX_FILE_BYTES})"
    ]
    assert parsed.documents == []


def test_a_device_without_end_is_refused_not_read_forever() -> None:
    """`/dev/zero` has no size; reading stops one byte past the limit."""
    parsed = loader.load_paths(["/dev/zero"])
    assert [str(d) for d in parsed.diagnostics] == [
        f"/dev/zero: file too large (more than {limits.MAX_FILE_BYTES} bytes;"
        f" at most {limits.MAX_FILE_BYTES})"
    ]


# --- aliases ----------------------------------------------------------------------------

# Nine levels of nine aliases: 9**9 (387 million) strings once expanded.
LAUGHS = """\
apiVersion: rollout.dev/v1alpha1
kind: Service
metadata:
  name: web
  managedFields:
  - a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
    b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
    c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
    d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
    e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
    f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
    g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
    h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
    i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
spec:
  template:
    spec:
      containers:
        - {name: app, command: [python3, app.py]}
"""


def _flat_aliases(count: int) -> str:
    """One 100 kB env entry used `count` times: a flat list, no nesting to catch it."""
    value = "x" * 100_000
    return textwrap.dedent(
        f"""\
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
                  env: [&e {{name: A, value: {value}}}, {", ".join(["*e"] * count)}]
        """
    )


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(LAUGHS, id="billion-laughs-in-a-free-form-field"),
        pytest.param(_flat_aliases(20), id="one-large-entry-aliased-20-times"),
    ],
)
def test_aliases_expanding_past_the_limit_are_refused_quickly(text: str) -> None:
    """The expansion is measured, not built: refused within a second or two."""
    began = time.monotonic()
    parsed = documents.parse(text, "bomb.yaml")
    elapsed = time.monotonic() - began
    assert [str(d) for d in parsed.diagnostics] == [
        f"bomb.yaml:1: document too large once its YAML aliases are expanded (more than"
        f" {limits.MAX_DOCUMENT_BYTES} bytes; at most {limits.MAX_DOCUMENT_BYTES})"
    ]
    assert parsed.documents == []
    assert elapsed < 5, f"took {elapsed:.1f} s"


def test_aliases_within_the_limit_are_fine() -> None:
    """Anchors and aliases are ordinary YAML: a small expansion validates."""
    parsed = documents.parse(_flat_aliases(5), "ok.yaml")
    assert parsed.diagnostics == []
    (doc,) = parsed.documents
    assert len(doc.resource.spec.template.spec["containers"][0]["env"]) == 6


def test_a_bomb_passed_as_data_is_refused_before_pydantic() -> None:
    """`validate_data` itself measures: shared lists never reach model validation."""
    leaf: list[object] = ["lol"] * 9
    for _ in range(8):
        leaf = [leaf] * 9
    data = {
        "apiVersion": "rollout.dev/v1alpha1",
        "kind": "Service",
        "metadata": {"name": "web", "managedFields": [{"x": leaf}]},
        "spec": {"template": {"spec": {"containers": [{"name": "app", "command": ["app"]}]}}},
    }
    resource, found = documents.validate_data(data)
    assert resource is None
    assert [p.message for p in found] == [
        limits.expanded_problem(limits.MAX_DOCUMENT_BYTES).message
    ]


# --- what no string may hold --------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        pytest.param(
            '  annotations: {note: "a\\0b"}',
            "metadata.annotations.note",
            "must not contain a NUL (\\0) (at character 1)",
            id="nul-in-an-annotation",
        ),
        pytest.param(
            '  annotations: {note: "\\ud800"}',
            "metadata.annotations.note",
            "is not valid Unicode text (a lone surrogate",
            id="lone-surrogate",
        ),
    ],
)
def test_strings_no_field_can_hold_are_refused_anywhere(
    line: str, field: str, message: str
) -> None:
    """NUL and lone surrogates are refused in every string, at its path and line."""
    text = SERVICE.replace("  name: web\n", f"  name: web\n{line}\n")
    parsed = documents.parse(text, "web.yaml")
    assert [(d.line, d.field) for d in parsed.diagnostics] == [(5, field)]
    assert parsed.diagnostics[0].message.startswith(message)
