"""Traffic simulator and decision-quality harness (`rollout simulate`, DESIGN §11).

- `scenarios`: what the canary does (error rates, latency, noise, incidents);
- `world`: one seed's traffic, queried like a metrics backend behind a scrape delay;
- `harness`: the loop every decision-maker (`Runner`) runs in, and the scores;
- `baselines`: faithful emulations of Flagger's and Argo Rollouts' documented defaults.

Pure and deterministic for a given seed: no I/O, no clocks, no threads.
"""

from rollout.sim import baselines, harness, scenarios, world

__all__ = ["baselines", "harness", "scenarios", "world"]
