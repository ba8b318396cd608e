"""Field docstrings become descriptions (`rollout.api.fielddocs`), by pydantic's rule:
an annotated field followed by a string; an explicit description wins; nested
classes are found by their qualified name; inherited fields keep their parent's."""

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
    return {name: info.description for name, info in model.model_fields.items()}


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


def test_descriptions_reach_the_json_schema() -> None:
    schema = Outer.model_json_schema()
    assert schema["properties"]["plain"]["description"] == "The plain field,\non two lines."
    assert schema["properties"]["explicit"]["description"] == "said in Field"
    assert "description" not in schema["properties"]["undocumented"]


def test_a_class_defined_in_a_function_has_no_docstrings_and_no_error() -> None:
    class Local(base.ApiModel):
        field: int = 0
        """Not found: classes in functions are left out."""

    assert fielddocs.docstrings(Local) == {}
    assert describe(Local) == {"field": None}


def test_the_resource_models_are_described() -> None:
    assert service.ServiceSpec.model_fields["policy"].description
