"""CLI start-up benchmark (issue 19): how long a `rollout` command takes, end to end,
against `kubectl` (the habit it is compared with) in the same run.

Each command runs `--runs` times (10) as a new process, after one unmeasured warm-up
run; the table reports the median wall time and the median CPU time (user + system,
from `getrusage` of the children), and the ratio of rollout's median wall time to
`kubectl version --client`'s. The local commands read a state dir where
`examples/local/hello.yaml` was applied (one Service, no controller running: the
commands read and write the store and exit). `python -c pass` is the floor: the
interpreter's own start; the goal (issue 19) is `status`, `get` and `promote` in
≤ 0.3 s. The commands run without `PYTHONDONTWRITEBYTECODE` (set on some CI machines,
never by an installed `rollout`): the warm-up run writes the `.pyc` files, as a user's
first run does.

    .venv/bin/python bench/cli_startup.py [--runs 10] [--out PATH]

Prints a table and one JSON line; writes `bench/results/cli_startup.md`.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
ROLLOUT = str(pathlib.Path(sys.executable).parent / "rollout")
GOAL = ("rollout get services", "rollout status hello", "rollout promote hello")


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.returncode


def measure(argv: list[str], runs: int, env: dict[str, str]) -> dict[str, float | int]:
    _run(argv, env)  # warm-up: page cache, .pyc files
    walls, cpus, codes = [], [], set()
    for _ in range(runs):
        wall, cpu, code = _run(argv, env)
        walls.append(wall)
        cpus.append(cpu)
        codes.add(code)
    return {
        "wall_s": statistics.median(walls),
        "cpu_s": statistics.median(cpus),
        "exit": max(codes),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "bench/results/cli_startup.md")
    args = parser.parse_args()

    state = pathlib.Path(tempfile.mkdtemp(prefix="cli-start-"))
    env = {**os.environ, "ROLLOUT_STATE_DIR": str(state)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    applied = subprocess.run(
        [ROLLOUT, "apply", "-f", str(ROOT / "examples/local/hello.yaml")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if applied.returncode != 0:
        sys.exit(f"apply failed: {applied.stderr}")
    cases: list[tuple[str, list[str]]] = [
        ("python -c pass (floor)", [sys.executable, "-c", "pass"]),
        ("kubectl version --client", ["kubectl", "version", "--client"]),
        ("rollout --version", [ROLLOUT, "--version"]),
        ("rollout get services", [ROLLOUT, "get", "services"]),
        ("rollout status hello", [ROLLOUT, "status", "hello"]),
        ("rollout promote hello", [ROLLOUT, "promote", "hello"]),
        ("rollout validate -f policies/", [ROLLOUT, "validate", "-f", str(ROOT / "policies")]),
        ("rollout get services --help", [ROLLOUT, "get", "--help"]),
    ]
    if shutil.which("kubectl") is None:
        cases = [c for c in cases if not c[0].startswith("kubectl")]
    results = {name: measure(argv, args.runs, env) for name, argv in cases}
    shutil.rmtree(state, ignore_errors=True)

    base = results.get("kubectl version --client", {}).get("wall_s")
    floor = results["python -c pass (floor)"]["wall_s"]
    lines = [
        "| command | wall (median) | CPU (median) | exit | wall / kubectl | wall / floor"
        " | ≤ 0.3 s |",
        "|---|---|---|---|---|---|---|",
    ]
    goals = {}
    for name, r in results.items():
        ratio = f"{r['wall_s'] / base:.1f}×" if base else "—"
        goal = "—"
        if name in GOAL:
            goals[name] = r["wall_s"] <= 0.3
            goal = "yes" if goals[name] else "**no**"
        lines.append(
            f"| `{name}` | {r['wall_s'] * 1000:.0f} ms | {r['cpu_s'] * 1000:.0f} ms"
            f" | {r['exit']} | {ratio} | {r['wall_s'] / floor:.1f}× | {goal} |"
        )
    table = "\n".join(lines)
    print(table)
    summary = {
        "bench": "cli_startup",
        "runs": args.runs,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "results": results,
        "goal_met": goals,
    }
    print(json.dumps(summary))
    args.out.write_text(
        "# CLI start-up\n\n"
        f"`.venv/bin/python bench/cli_startup.py --runs {args.runs}` on {os.cpu_count()} CPUs,"
        f" Python {platform.python_version()}. Medians of {args.runs} runs each, after a"
        " warm-up run. `promote hello` exits 1 (no release to promote): the time of a"
        " command that reads the store, decides and answers.\n\n"
        f"{table}\n\n```json\n{json.dumps(summary)}\n```\n"
    )


if __name__ == "__main__":
    main()
