"""Field docstrings — the string under a field — as the field's description.

A description reaches the JSON schema and so the CRDs (`kubectl explain`). pydantic's
own `use_attribute_docstrings` finds each class's source by walking the call stack and
re-tokenizing its module from the class's first line: about 2.5 ms a class, 0.15 s of
every CLI call that imports the resource models (bench/cli_startup.py). Here each
module's source is parsed once (`ast`) and every class found by its qualified name;
`ApiModel.__pydantic_init_subclass__` sets the descriptions, which is early enough as
the models' schemas are built on first use (`defer_build`). The rule is pydantic's: an
annotated field followed by a string literal; an explicit `Field(description=…)` wins.

Pure apart from reading a module's own source file, once per module.
"""

from __future__ import annotations

import ast
import functools
import inspect
import sys

from pydantic import BaseModel

__all__ = ["describe", "docstrings"]


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


def describe(cls: type[BaseModel]) -> None:
    """Give each of `cls`'s own fields without a description its docstring."""
    fields = cls.__pydantic_fields__
    for name, doc in docstrings(cls).items():
        info = fields.get(name)
        if info is not None and info.description is None:
            info.description = doc
