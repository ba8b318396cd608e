"""`rollout simulate`: run a policy (or a peer's emulation) against simulated traffic.

Offline and reproducible: the same seeds give the same numbers. Reports, per
scenario, detection of bad canaries, failed requests they served (blast radius), time
to roll back, time to promote a good canary, and false rollbacks. `--json` prints one
JSON object per scenario (one per line).
"""

from __future__ import annotations

import functools
import json
from typing import Any

import click

from rollout.api import loader, rolloutpolicy
from rollout.sim import baselines, batch, harness, policy_runner, scenarios

__all__ = ["simulate_command"]


@click.command("simulate")
@click.option(
    "-f",
    "--filename",
    "path",
    type=click.Path(dir_okay=False, path_type=str),
    help="A YAML file holding one RolloutPolicy (e.g. policies/canary-standard.yaml).",
)
@click.option(
    "--baseline",
    type=click.Choice(["flagger", "argo"]),
    help="Simulate an emulation of a peer's documented defaults instead of a policy.",
)
@click.option(
    "--scenario",
    "scenario_names",
    multiple=True,
    type=click.Choice(["all", *scenarios.SCENARIOS]),
    help="Scenario to run (repeatable); default: all.",
)
@click.option("--seeds", default=200, show_default=True, type=click.IntRange(min=1))
@click.option("--rps", default=10.0, show_default=True, type=click.FloatRange(min=0.1))
@click.option(
    "--p0",
    default=0.001,
    show_default=True,
    type=click.FloatRange(min=0, max=1, max_open=True),
    help="Baseline error rate of the stable revision (and of a good canary).",
)
@click.option(
    "--scrape-delay",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds before a request shows in the metrics, as with a Prometheus scrape.",
)
@click.option(
    "--jobs",
    default=batch.default_jobs(),
    show_default="CPUs",
    type=click.IntRange(min=1),
    help="Worker processes.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per scenario.")
def simulate_command(
    path: str | None,
    baseline: str | None,
    scenario_names: tuple[str, ...],
    seeds: int,
    rps: float,
    p0: float,
    scrape_delay: float,
    jobs: int,
    as_json: bool,
) -> None:
    """Run a release policy against simulated traffic and report how it decides.

    Traffic: Poisson arrivals at --rps with per-minute noise, split by the policy's
    weights; the canary's error rate and latency follow the scenario. The policy's
    analysis reads `local` stats through the same engine the controller runs.

    \b
    Examples:
      rollout simulate -f policies/canary-standard.yaml --scenario bad-5pct --seeds 1000
      rollout simulate --baseline flagger --scenario good --json
    """
    name, make_runner = _runner(path, baseline)
    names = (
        list(scenarios.SCENARIOS)
        if not scenario_names or "all" in scenario_names
        else list(dict.fromkeys(scenario_names))
    )
    rows = []
    for scenario_name in names:
        scenario = scenarios.SCENARIOS[scenario_name]
        summary = batch.run(
            make_runner, scenario, seeds=seeds, rps=rps, p0=p0, scrape_delay=scrape_delay, jobs=jobs
        )
        row = harness.summary_dict(name, scenario, seeds, rps, p0, summary)
        if as_json:
            click.echo(json.dumps(row))
        rows.append(row)
    if not as_json:
        click.echo(render_table(rows))


def _runner(path: str | None, baseline: str | None) -> tuple[str, Any]:
    if (path is None) == (baseline is None):
        raise click.UsageError("give a policy with -f PATH, or --baseline flagger|argo")
    if baseline == "flagger":
        return "flagger", baselines.FlaggerRunner
    if baseline == "argo":
        return "argo", baselines.ArgoRunner
    assert path is not None
    parsed = loader.load_paths([path])
    for diagnostic in parsed.diagnostics:
        click.echo(str(diagnostic), err=True)
    if parsed.diagnostics:
        raise SystemExit(2)
    policies = [d for d in parsed.documents if isinstance(d.resource, rolloutpolicy.RolloutPolicy)]
    if len(policies) != 1:
        click.echo(f"{path}: expected one RolloutPolicy, found {len(policies)}", err=True)
        raise SystemExit(2)
    resource = policies[0].resource
    assert isinstance(resource, rolloutpolicy.RolloutPolicy)
    problems = policy_runner.check(resource.spec)
    for problem in problems:
        click.echo(f"{policies[0].path}: {problem}", err=True)
    if problems:
        raise SystemExit(2)
    if resource.spec.webhooks:
        click.echo(
            f"{policies[0].path}: note: the simulator ignores the policy's"
            f" {len(resource.spec.webhooks)} webhook(s): gates count as passed, checks as"
            " never failing; rehearse them with `rollout controller --platform sim`",
            err=True,
        )
    return resource.metadata.name, functools.partial(policy_runner.PolicyRunner, resource.spec)


def _num(value: float | None, scale: float = 1.0, digits: int = 1) -> str:
    return "—" if value is None else f"{value * scale:.{digits}f}"


def render_table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of simulation summaries (the same content as --json)."""
    header = (
        "policy", "scenario", "seeds", "detect", "promoted", "rolled back", "paused",
        "failed mean", "failed p95", "rollback s", "promote s", "promote p95 s", "false rb",
    )  # fmt: skip
    lines = [header]
    for r in rows:
        lines.append(
            (
                r["policy"],
                r["scenario"],
                str(r["seeds"]),
                _num(r["detection"], 100, 0) + ("%" if r["detection"] is not None else ""),
                _num(r["promoted"], 100, 0) + "%",
                _num(r["rolledBack"], 100, 0) + "%",
                _num(r["paused"], 100, 0) + "%",
                _num(r["failedRequests"]["mean"], digits=2),
                _num(r["failedRequests"]["p95"]),
                _num(r["timeToRollbackS"]["mean"], digits=0),
                _num(r["timeToPromoteS"]["mean"], digits=0),
                _num(r["timeToPromoteS"]["p95"], digits=0),
                _num(r["falseRollback"], 100, 1) + ("%" if r["falseRollback"] is not None else ""),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i < 2 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    )
