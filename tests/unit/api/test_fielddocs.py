"""Field docstrings become descriptions in the JSON schema (`rollout.api.fielddocs`), by
pydantic's rule: an annotated field followed by a string; an explicit description wins;
nested classes are found by their qualified name; inherited fields keep their parent's.
Nothing is read when a class is created (the CLI's start-up never pays for it)."""

from __future__ import annotations

from pydantic import Field

from rollout.api import base, fielddocs, service


class Outer(base.ApiModel):
    """The outer model."""

    plain: int = 0
    """The plain field,
    on two lines."""
    explicit: int = Field(default=0, description="said in Field")
    """Not this one."""
    undocumented: int = 0
    after: str = ""
    """After an undocumented field."""

    class Inner(base.ApiModel):
        depth: int = 1
        """A nested class's field."""


class Child(Outer):
    extra: bool = False
    """The child's own field."""


def describe(model: type[base.ApiModel]) -> dict[str, str | None]:
    properties = fielddocs.json_schema(model)["properties"]
    return {name: properties[name].get("description") for name in model.model_fields}


def test_docstrings_become_descriptions_by_pydantics_rule() -> None:
    assert describe(Outer) == {
        "plain": "The plain field,\non two lines.",
        "explicit": "said in Field",
        "undocumented": None,
        "after": "After an undocumented field.",
    }
    assert describe(Outer.Inner) == {"depth": "A nested class's field."}
    assert describe(Child)["extra"] == "The child's own field."
    assert describe(Child)["plain"] == "The plain field,\non two lines."


def test_nested_models_are_described_in_the_definitions() -> None:
    class Holder(base.ApiModel):
        inner: Outer.Inner
        """The inner one."""

    schema = fielddocs.json_schema(Holder, by_alias=True)
    assert schema["$defs"]["Inner"]["properties"]["depth"]["description"] == (
        "A nested class's field."
    )


def test_creating_a_class_reads_no_source() -> None:
    """Descriptions are filled in when a schema is asked for, not at class creation."""
    assert Outer.model_fields["plain"].description is None
    assert "description" not in Outer.model_json_schema()["properties"]["plain"]


def test_a_class_defined_in_a_function_has_no_docstrings_and_no_error() -> None:
    class Local(base.ApiModel):
        field: int = 0
        """Not found: classes in functions are left out."""

    assert fielddocs.docstrings(Local) == {}
    assert describe(Local) == {"field": None}


def test_the_resource_models_are_described() -> None:
    assert fielddocs.json_schema(service.ServiceSpec, by_alias=True)["properties"]["policy"][
        "description"
    ]
