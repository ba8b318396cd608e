"""Import contract: the decision layers never import I/O clients (DESIGN §2)."""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "rollout"

# Modules no pure layer may import; the adapters that may are named in DESIGN §2.
IO_MODULES = {
    "kubernetes",
    "sqlite3",
    "prometheus_api_client",
    "aiohttp",
    "httpx",
    "requests",
    "urllib.request",
    "http.client",
    "socket",
    "subprocess",
    "threading",
    "asyncio",
}
PURE_PACKAGES = ["api", "release", "analysis", "sim"]
# Adapters inside a pure package: the metric providers do the I/O of analysis.
ADAPTER_DIRS = [PACKAGE / "analysis" / "providers"]


def _imports(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _forbidden(name: str) -> bool:
    return any(name == m or name.startswith(m + ".") for m in IO_MODULES)


@pytest.mark.parametrize("package", [p for p in PURE_PACKAGES if (PACKAGE / p).is_dir()])
def test_pure_layer_imports_no_io_client(package: str) -> None:
    """No module of a pure layer imports an I/O client library."""
    offenders = {
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in (PACKAGE / package).rglob("*.py")
        if not _in_adapter_dir(path)
        for name in _imports(path)
        if _forbidden(name)
    }
    assert not offenders


def _in_adapter_dir(path: pathlib.Path) -> bool:
    return any(path.is_relative_to(d) for d in ADAPTER_DIRS)


def test_only_the_providers_are_exempt() -> None:
    """The exemption covers rollout/analysis/providers/ and nothing else of analysis."""
    analysis = PACKAGE / "analysis"
    assert _in_adapter_dir(analysis / "providers" / "prometheus.py")
    assert not _in_adapter_dir(analysis / "evaluate.py")
    assert not _in_adapter_dir(analysis / "providers_extra.py")
    assert not _in_adapter_dir(PACKAGE / "sim" / "providers" / "x.py")


# The core runs on every platform: only adapters may import clients and databases.
CORE_PACKAGES = ["reconcilers", "controller"]
ADAPTER_MODULES = {"kubernetes", "sqlite3", "prometheus_api_client", "aiohttp", "httpx", "requests"}


@pytest.mark.parametrize("package", CORE_PACKAGES)
def test_core_imports_no_adapter_client(package: str) -> None:
    """Reconcilers and the controller reach the world only through ports."""
    offenders = {
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in (PACKAGE / package).rglob("*.py")
        for name in _imports(path)
        if any(name == m or name.startswith(m + ".") for m in ADAPTER_MODULES)
    }
    assert not offenders


def test_contract_detects_an_offender(tmp_path: pathlib.Path) -> None:
    """The checker itself finds a forbidden import (so the contract can fail)."""
    module = tmp_path / "bad.py"
    module.write_text("import sqlite3\nfrom kubernetes import client\nimport json\n")
    assert {n for n in _imports(module) if _forbidden(n)} == {"sqlite3", "kubernetes"}
