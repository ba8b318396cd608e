"""The everyday commands load only what they use (issue 19, a CLI that starts fast):
`get`, `status` and `promote` against a state dir never import the controller's
clients (aiohttp, the Prometheus client, the Kubernetes client), numpy/scipy, the
structured-logging stack or jsonschema. Each case runs the command in a fresh interpreter, as the
`rollout` entry point does, and lists the heavy modules it ended up with.
(The time these imports cost is measured by bench/cli_startup.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
HEAVY = (
    "aiohttp",
    "prometheus_api_client",
    "requests",
    "kubernetes",
    "numpy",
    "scipy",
    "structlog",
    "jsonschema",  # the pod spec's OpenAPI check: objects read from the store skip it
    "rollout.controller.manager",
    "rollout.platforms.local.runtime",
)
PROBE = """
import json, sys
sys.argv = ["rollout", *sys.argv[1:]]
from rollout.cli import main
try:
    main.main()
except SystemExit:
    pass
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)), file=sys.stderr)
"""


def run(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *args],
        env={**os.environ, "ROLLOUT_STATE_DIR": str(state)},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("state")
    applied = run(directory, "apply", "-f", str(ROOT / "examples/local/hello.yaml"))
    assert "created" in applied.stdout, applied.stdout + applied.stderr
    return directory


@pytest.mark.parametrize(
    "args",
    [
        ["get", "services"],
        ["status", "hello"],
        ["promote", "hello"],
        ["get", "rrev", "-o", "yaml"],
        ["delete", "rpol", "nope", "--ignore-not-found"],
    ],
)
def test_everyday_commands_do_not_load_the_controller_stack(state: Path, args: list[str]) -> None:
    done = run(state, *args)
    assert "Traceback" not in done.stderr, done.stderr
    loaded = json.loads(done.stderr.strip().splitlines()[-1])
    assert loaded == [], f"rollout {' '.join(args)} imported {loaded}\n{done.stderr}"
