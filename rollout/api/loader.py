"""Load resources from files and directories, reporting problems with file and line.

Directories are searched recursively for `*.yaml` and `*.yml`, in sorted order. A
name defined twice (same kind, namespace and name) is an error at the second place.
A file larger than `limits.MAX_FILE_BYTES` is an error and is not read further than
that (so `/dev/zero` or a runaway file cannot fill memory). This module reads files;
parsing and validation are `rollout.api.documents`'.

Called by the CLI (`validate`, `apply`).
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterable

from rollout.api import base, documents, limits

__all__ = ["load_paths"]

_SUFFIXES = (".yaml", ".yml")


def load_paths(paths: Iterable[str | pathlib.Path]) -> documents.Parsed:
    """Every resource in the given files and directories, and every problem found."""
    result = documents.Parsed()
    for path in _expand(paths, result):
        try:
            with path.open("rb") as stream:
                data = stream.read(limits.MAX_FILE_BYTES + 1)
                if len(data) > limits.MAX_FILE_BYTES:
                    message = _too_large(os.fstat(stream.fileno()).st_size)
                    result.diagnostics.append(documents.Diagnostic(str(path), 0, "", message))
                    continue
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            result.diagnostics.append(documents.Diagnostic(str(path), 1, "", "not UTF-8 text"))
            continue
        except OSError as exc:
            reason = exc.strerror or str(exc)
            result.diagnostics.append(documents.Diagnostic(str(path), 1, "", reason))
            continue
        result.extend(documents.parse(text, str(path)))
    result.diagnostics.extend(_duplicates(result.documents))
    return result


def _too_large(size: int) -> str:
    """A file over the limit; a device or a pipe has no size, only "more than"."""
    limit = limits.MAX_FILE_BYTES
    if size > limit:
        return "file " + base.too_large(size, limit)
    return f"file too large (more than {limit} bytes; at most {limit})"


def _expand(paths: Iterable[str | pathlib.Path], result: documents.Parsed) -> list[pathlib.Path]:
    files: list[pathlib.Path] = []
    for raw in paths:
        path = pathlib.Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in _SUFFIXES)
            if not found:
                result.diagnostics.append(
                    documents.Diagnostic(str(path), 0, "", "no .yaml or .yml files in directory")
                )
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            result.diagnostics.append(documents.Diagnostic(str(path), 0, "", "no such file"))
    return files


def _duplicates(docs: list[documents.Document]) -> list[documents.Diagnostic]:
    seen: dict[tuple[str, str, str], documents.Document] = {}
    found = []
    for doc in docs:
        meta = doc.resource.metadata
        key = (doc.resource.kind, meta.namespace or "default", meta.name)
        first = seen.setdefault(key, doc)
        if first is not doc:
            found.append(
                documents.Diagnostic(
                    doc.path,
                    doc.line_of(("metadata", "name")),
                    "metadata.name",
                    f"{doc.resource.kind} {meta.name!r} is defined twice"
                    f" (first at {first.path}:{first.line})",
                )
            )
    return found
