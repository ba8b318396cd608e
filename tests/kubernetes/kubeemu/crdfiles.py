"""The CRD files tests register, and `register(emu, files)` to POST them.

`PROJECT_CRDS` are the project's CRDs (`crds/*.yaml` at the repository root);
`MESH_CRDS` the minimal Gateway API `HTTPRoute` and Istio `VirtualService` CRDs of
`tests/kubernetes/crds/`. `register` sends each with a plain POST to
`/apis/apiextensions.k8s.io/v1/customresourcedefinitions` (as `kubectl create -f`
would), parsing each file once per process with the C YAML loader (the project's
CRDs are large). Used by `conftest.py` fixtures and by tests that start their own
emulator (e.g. with a fake clock).
"""

from __future__ import annotations

import functools
import json
import pathlib
from typing import TYPE_CHECKING

import yaml

from kubeemu import rawclient

if TYPE_CHECKING:
    from kubeemu.server import Emulator

__all__ = ["MESH_CRDS", "PROJECT_CRDS", "register"]

_TESTS = pathlib.Path(__file__).resolve().parents[1]
PROJECT_CRDS = tuple(sorted((_TESTS.parents[1] / "crds").glob("*.yaml")))
MESH_CRDS = tuple(sorted((_TESTS / "crds").glob("*.yaml")))


@functools.cache
def _as_json(path: pathlib.Path) -> str:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return json.dumps(yaml.load(path.read_text(encoding="utf-8"), Loader=loader))


def register(emu: Emulator, files: tuple[pathlib.Path, ...] | list[pathlib.Path]) -> None:
    """POST each CRD file to the emulator; raise if one is not created."""
    for path in files:
        reply = rawclient.call(
            emu.url,
            "POST",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            body=_as_json(path),
            headers={"Content-Type": "application/json"},
        )
        if reply.status != 201:
            raise AssertionError(f"registering {path.name}: {reply.status} {reply.body}")
