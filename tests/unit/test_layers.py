"""The import contract of `pyproject.toml` (import-linter; `make check` runs
`lint-imports`) holds, and fails when a forbidden import is added: each contract is
broken once, in a copy of the package, and `lint-imports` must name it.

import-linter sees an external package only by its root (`urllib`, not
`urllib.request`), and `urllib.parse` is pure: so `urllib.request` is checked here."""

from __future__ import annotations

import ast
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "rollout"
LINT_IMPORTS = pathlib.Path(sys.executable).parent / "lint-imports"
PURE_PACKAGES = ["api", "release", "sim", "views"]


def lint_imports(root: pathlib.Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` on the package under `root` with the contracts of `root`."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_contracts_are_kept() -> None:
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    root = tmp_path_factory.mktemp("layers")
    shutil.copytree(PACKAGE, root / "rollout", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        pytest.param(
            "api/offender.py", "from rollout.cli import main", "Each layer", id="api-imports-cli"
        ),
        pytest.param(
            "analysis/offender.py",
            "from rollout.platforms import ports",
            "Each layer",
            id="analysis-imports-platforms",
        ),
        pytest.param(
            "reconcilers/service/offender.py",
            "from rollout.reconcilers import release",
            "never import one another",
            id="reconciler-imports-reconciler",
        ),
        pytest.param(
            "platforms/local/offender.py",
            "from rollout.platforms.kubernetes import router",
            "local and kubernetes apart",
            id="local-imports-kubernetes",
        ),
        pytest.param(
            "release/offender.py", "import threading", "do no I/O", id="release-imports-threading"
        ),
        pytest.param(
            "controller/offender.py", "import sqlite3", "only through ports", id="controller-sqlite"
        ),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    copy: pathlib.Path, module: str, line: str, contract: str
) -> None:
    offender = copy / "rollout" / module
    offender.write_text(f"{line}\n")
    try:
        done = lint_imports(copy)
    finally:
        offender.unlink()
    assert done.returncode != 0, done.stdout
    broken = done.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, done.stdout
    assert "offender" in broken, done.stdout


def _imports(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", [*PURE_PACKAGES, "analysis"])
def test_no_pure_module_opens_urls(package: str) -> None:
    """`urllib.request` stays in the adapters (analysis/providers, platforms, cli)."""
    offenders = {
        str(path.relative_to(PACKAGE))
        for path in (PACKAGE / package).rglob("*.py")
        if "providers" not in path.relative_to(PACKAGE).parts
        and any(n == "urllib.request" or n.startswith("urllib.request.") for n in _imports(path))
    }
    assert not offenders
