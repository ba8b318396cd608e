"""Field docstrings — the string under a field — as the field's description in the JSON
schema, hence in the CRDs (`kubectl explain`).

pydantic's own `use_attribute_docstrings` finds each class's source when the class is
created, re-tokenizing its module: about 2.5 ms a class, paid by every CLI call that
imports the resource models, though only `rollout crds` (and the tests of the CRDs)
ever ask for a JSON schema. Here nothing happens when a class is created: `json_schema`
generates a model's schema with `Described`, a schema generator that fills in each
model's field descriptions from its source — each module parsed once (`ast`), every
class found by its qualified name, inherited fields described by the class that
declares them. The rule is pydantic's: an annotated field followed by a string
literal; an explicit `Field(description=…)` wins.

Pure apart from reading a module's own source file, once per module, when a schema is
generated.
"""

from __future__ import annotations

import ast
import functools
import inspect
import sys
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

__all__ = ["Described", "docstrings", "json_schema"]


@functools.cache
def _classes(module: str) -> dict[str, ast.ClassDef]:
    """Every class of `module` by qualified name (classes in functions are left out)."""
    path = getattr(sys.modules.get(module), "__file__", None)
    if path is None:
        return {}
    try:
        with open(path, encoding="utf-8") as source:
            tree = ast.parse(source.read(), path)
    except (OSError, SyntaxError, ValueError):
        return {}
    found: dict[str, ast.ClassDef] = {}

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                name = f"{prefix}{node.name}"
                found.setdefault(name, node)
                visit(node.body, f"{name}.")

    visit(tree.body, "")
    return found


def docstrings(cls: type) -> dict[str, str]:
    """The docstring of each annotated attribute of `cls` written in its class body."""
    node = _classes(cls.__module__).get(cls.__qualname__)
    if node is None:
        return {}
    docs: dict[str, str] = {}
    for field, following in zip(node.body, node.body[1:], strict=False):
        if (
            isinstance(field, ast.AnnAssign)
            and isinstance(field.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[field.target.id] = inspect.cleandoc(following.value.value)
    return docs


def _field_docs(cls: type[BaseModel]) -> dict[str, str]:
    """The docstrings of `cls`'s fields, own and inherited (the nearest class wins)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if isinstance(klass, type) and issubclass(klass, BaseModel) and klass is not BaseModel:
            docs.update(docstrings(klass))
    return docs


class Described(GenerateJsonSchema):
    """pydantic's JSON schema generator, with each model's field docstrings as the
    descriptions of the fields that have none."""

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        json_schema = super().model_schema(schema)
        cls = schema["cls"]
        properties = json_schema.get("properties")
        if not isinstance(properties, dict):
            return json_schema
        docs = _field_docs(cls)
        for name, info in cls.model_fields.items():
            doc = docs.get(name)
            if doc is None or info.description is not None:
                continue
            key = (info.alias or name) if self.by_alias else name
            prop = properties.get(key)
            if isinstance(prop, dict) and "description" not in prop:
                prop["description"] = doc
        return json_schema


def json_schema(model: type[BaseModel], **kwargs: Any) -> dict[str, Any]:
    """`model.model_json_schema(**kwargs)` with the field docstrings as descriptions."""
    return model.model_json_schema(schema_generator=Described, **kwargs)
