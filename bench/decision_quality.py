"""Decision-quality benchmark: our ready policies against Flagger and Argo emulations.

Runs every scenario of `rollout.sim.scenarios` for `canary-standard`, `canary-fast`
and the `flagger` and `argo` baselines on the same seeds (same simulated traffic),
prints a table and one JSON line, and writes `bench/results/decision_quality.md`
with the table, the Flagger/ours ratio of failed requests per scenario, the command
and the machine.

    .venv/bin/python bench/decision_quality.py [--seeds 1000] [--jobs 2] [--out PATH]
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import pathlib
import platform
import sys
import time
from typing import Any

from rollout.api import loader, rolloutpolicy
from rollout.cli import simulate_cmd
from rollout.sim import baselines, batch, harness, policy_runner, scenarios

ROOT = pathlib.Path(__file__).resolve().parents[1]
POLICIES = ("canary-standard", "canary-fast")


def _policy(name: str) -> Any:
    parsed = loader.load_paths([ROOT / "policies" / f"{name}.yaml"])
    assert not parsed.diagnostics, parsed.diagnostics
    resource = parsed.documents[0].resource
    assert isinstance(resource, rolloutpolicy.RolloutPolicy)
    return functools.partial(policy_runner.PolicyRunner, resource.spec)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=batch.default_jobs())
    parser.add_argument("--rps", type=float, default=10.0)
    parser.add_argument("--p0", type=float, default=0.001)
    parser.add_argument("--scrape-delay", type=float, default=10.0)
    parser.add_argument(
        "--out", type=pathlib.Path, default=ROOT / "bench/results/decision_quality.md"
    )
    args = parser.parse_args()

    runners = {name: _policy(name) for name in POLICIES}
    runners["flagger"] = baselines.FlaggerRunner
    runners["argo"] = baselines.ArgoRunner
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for scenario in scenarios.SCENARIOS.values():
        for name, make in runners.items():
            t = time.perf_counter()
            summary = batch.run(
                make, scenario, seeds=args.seeds, rps=args.rps, p0=args.p0,
                scrape_delay=args.scrape_delay, jobs=args.jobs,
            )  # fmt: skip
            row = harness.summary_dict(name, scenario, args.seeds, args.rps, args.p0, summary)
            rows.append(row)
            print(
                f"{scenario.name:14s} {name:16s} {time.perf_counter() - t:6.1f}s", file=sys.stderr
            )
    elapsed = time.perf_counter() - started
    table = simulate_cmd.render_table(rows)
    ratios = _ratios(rows)
    print(table)
    print(ratios)
    print(json.dumps({"benchmark": "decision_quality", "seeds": args.seeds, "rows": rows}))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(_report(args, table, ratios, elapsed), encoding="utf-8")
    return 0


def _ratios(rows: list[dict[str, Any]]) -> str:
    """Flagger's mean failed requests divided by ours, per scenario and policy."""
    by = {(r["policy"], r["scenario"]): r for r in rows}
    lines = ["scenario        " + "".join(f"flagger/{p:<18s}" for p in POLICIES)]
    for scenario in scenarios.SCENARIOS:
        flagger = by[("flagger", scenario)]["failedRequests"]["mean"] or 0.0
        cells = []
        for policy in POLICIES:
            ours = by[(policy, scenario)]["failedRequests"]["mean"] or 0.0
            cells.append(f"{flagger / ours:>6.1f}×" if ours > 0 else "     —")
        lines.append(f"{scenario:16s}" + "".join(f"{c:<26s}" for c in cells))
    return "\n".join(lines)


def _report(args: argparse.Namespace, table: str, ratios: str, elapsed: float) -> str:
    command = (
        f".venv/bin/python bench/decision_quality.py --seeds {args.seeds} --jobs {args.jobs}"
        f" --rps {args.rps:g} --p0 {args.p0:g} --scrape-delay {args.scrape_delay:g}"
    )
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    return f"""# Decision quality: rollout policies vs Flagger and Argo Rollouts emulations

Generated {datetime.date.today().isoformat()} by `{command}` on {machine}
in {elapsed / 60:.1f} minutes. Same seeds (same simulated traffic) for every row.

Traffic: Poisson arrivals at {args.rps:g} req/s with per-minute noise, baseline error
rate {args.p0:g}, metrics visible after a {args.scrape_delay:g} s scrape delay. Failed
requests are those the canary served until its weight returned to 0 (or the run
ended); shares are of {args.seeds} runs; times in seconds from the release start.

```
{table}
```

Failed requests served by a bad canary, Flagger emulation / ours (higher is better
for us):

```
{ratios}
```
"""


if __name__ == "__main__":
    raise SystemExit(main())
