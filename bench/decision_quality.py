"""Decision-quality benchmark: our ready policies against Flagger and Argo emulations.

Runs every scenario of `rollout.sim.scenarios` for `canary-standard`, `canary-fast`
and the `flagger` and `argo` baselines on the same seeds (same simulated traffic),
prints a table and one JSON line, and writes `bench/results/decision_quality.md`
with the table, the Flagger/ours ratio of failed requests per scenario, the command
and the machine.

    .venv/bin/python bench/decision_quality.py [--seeds 1000] [--jobs 2] [--out PATH]

`--backend prometheus` runs the Prometheus path instead (issue 16): the metrics
backend is a Prometheus scraping counters every 15 s (`world.Prometheus`: counts
between scrape instants, Istio's histogram buckets, our reader's 30 s scrape delay
on top), and on the same seeds compares `canary-standard` read through it with
`canary-standard` on local counts (the `--scrape-delay` of the local path) and with
the Flagger emulation's builtin request-success-rate on the same Prometheus model.
It writes `bench/results/decision_quality_prometheus.md`.
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
from rollout.sim import baselines, batch, harness, policy_runner, scenarios, world

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
    parser.add_argument("--backend", choices=("local", "prometheus"), default="local")
    parser.add_argument(
        "--query-delay", type=float, default=world.Prometheus().query_delay,
        help="the Prometheus reader's scrape delay (prometheus backend)",
    )  # fmt: skip
    parser.add_argument("--out", type=pathlib.Path, default=None)
    args = parser.parse_args()
    if args.backend == "prometheus":
        return _prometheus(args)
    args.out = args.out or ROOT / "bench/results/decision_quality.md"

    runners = {name: _policy(name) for name in POLICIES}
    runners["flagger"] = baselines.FlaggerRunner
    runners["argo"] = baselines.ArgoRunner
    rows, elapsed = _rows(args, {n: (m, args.scrape_delay, None) for n, m in runners.items()})
    table = simulate_cmd.render_table(rows)
    ratios = _ratios(rows)
    print(table)
    print(ratios)
    print(json.dumps({"benchmark": "decision_quality", "seeds": args.seeds, "rows": rows}))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(_report(args, table, ratios, elapsed), encoding="utf-8")
    return 0


ON_PROMETHEUS = "canary-standard/prometheus"
ON_LOCAL = "canary-standard/local"
FLAGGER_ON_PROMETHEUS = "flagger/prometheus"


def _prometheus(args: argparse.Namespace) -> int:
    """canary-standard through Prometheus vs through local counts vs Flagger (module)."""
    args.out = args.out or ROOT / "bench/results/decision_quality_prometheus.md"
    standard = _policy("canary-standard")
    model = world.Prometheus(query_delay=args.query_delay)
    runs: dict[str, Run] = {  # name → (runner, the world's scrape delay, its Prometheus model)
        ON_PROMETHEUS: (standard, 0.0, model),
        ON_LOCAL: (standard, args.scrape_delay, None),
        FLAGGER_ON_PROMETHEUS: (baselines.FlaggerRunner, 0.0, model),
    }
    rows, elapsed = _rows(args, runs)
    table = simulate_cmd.render_table(rows)
    ratios = _prometheus_ratios(rows)
    print(table)
    print(ratios)
    print(
        json.dumps({"benchmark": "decision_quality_prometheus", "seeds": args.seeds, "rows": rows})
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(_prometheus_report(args, model, table, ratios, elapsed), encoding="utf-8")
    return 0


Run = tuple[Any, float, world.Prometheus | None]  # runner, scrape delay, Prometheus model


def _rows(args: argparse.Namespace, runs: dict[str, Run]) -> tuple[list[dict[str, Any]], float]:
    """Every scenario for every run on the same seeds: the summary rows, and the time."""
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for scenario in scenarios.SCENARIOS.values():
        for name, (make, delay, backend) in runs.items():
            t = time.perf_counter()
            summary = batch.run(
                make, scenario, seeds=args.seeds, rps=args.rps, p0=args.p0,
                scrape_delay=delay, jobs=args.jobs, prometheus=backend,
            )  # fmt: skip
            rows.append(
                harness.summary_dict(name, scenario, args.seeds, args.rps, args.p0, summary)
            )
            print(
                f"{scenario.name:14s} {name:28s} {time.perf_counter() - t:6.1f}s", file=sys.stderr
            )
    return rows, time.perf_counter() - started


def _prometheus_ratios(rows: list[dict[str, Any]]) -> str:
    """Per scenario: failed requests through Prometheus / local, Flagger / ours."""
    by = {(r["policy"], r["scenario"]): r for r in rows}

    def failed(policy: str, scenario: str) -> float:
        return float(by[(policy, scenario)]["failedRequests"]["mean"] or 0.0)

    lines = [f"{'scenario':16s}{'prometheus/local':>20s}{'flagger/ours (prometheus)':>30s}"]
    for scenario in scenarios.SCENARIOS:
        ours, local = failed(ON_PROMETHEUS, scenario), failed(ON_LOCAL, scenario)
        flagger = failed(FLAGGER_ON_PROMETHEUS, scenario)
        slower = f"{ours / local:.2f}×" if local > 0 else "—"
        fewer = f"{flagger / ours:.1f}×" if ours > 0 else "—"
        lines.append(f"{scenario:16s}{slower:>20s}{fewer:>30s}")
    return "\n".join(lines)


def _prometheus_report(
    args: argparse.Namespace, model: world.Prometheus, table: str, ratios: str, elapsed: float
) -> str:
    command = (
        f".venv/bin/python bench/decision_quality.py --backend prometheus --seeds {args.seeds}"
        f" --jobs {args.jobs} --rps {args.rps:g} --p0 {args.p0:g}"
        f" --scrape-delay {args.scrape_delay:g} --query-delay {args.query_delay:g}"
    )
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    return f"""# Decision quality through Prometheus: canary-standard on a mesh's counters

Generated {datetime.date.today().isoformat()} by `{command}` on {machine}
in {elapsed / 60:.1f} minutes. Same seeds (same simulated traffic) for every row.

Traffic: Poisson arrivals at {args.rps:g} req/s with per-minute noise, baseline error
rate {args.p0:g}. `{ON_PROMETHEUS}`: the controller's `--metrics prometheus`
path — counters scraped every {model.scrape_interval:g} s (a phase of its own per
seed), counts between scrape instants, Istio's latency buckets (the slow bound rounded
up to one), and our reader's {model.query_delay:g} s scrape delay.
`{ON_LOCAL}`: the same policy on the local proxy's counts, visible after
{args.scrape_delay:g} s. `{FLAGGER_ON_PROMETHEUS}`: the Flagger emulation's builtin
request-success-rate over 1 m on the same Prometheus model (no delay of its own).
Failed requests are those the canary served until its weight returned to 0 (or the
run ended); shares are of {args.seeds} runs; times in seconds from the release start.

```
{table}
```

Failed requests, per scenario: through Prometheus / on local counts (lower is
better; the target is at most 1.3×), and the Flagger emulation / ours, both on the
Prometheus model (higher is better; the target is at least 3×):

```
{ratios}
```
"""


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
