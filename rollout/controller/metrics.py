"""The controller's own metrics (prometheus_client), in a registry per controller so
that several controllers in one process (tests) do not collide.

Served on `--metrics-addr` (default 127.0.0.1:9464) by `rollout controller`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["ControllerMetrics"]


class ControllerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.reconciles = Counter(
            "rollout_reconciles", "Reconciles by kind.", ["kind"], registry=self.registry
        )
        self.errors = Counter(
            "rollout_reconcile_errors",
            "Reconciles that raised, by kind and error.",
            ["kind", "error"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "rollout_reconcile_duration_seconds",
            "Time spent in one reconcile, by kind.",
            ["kind"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )
        self.queue_depth = Gauge(
            "rollout_workqueue_depth", "Keys waiting in the work queue.", registry=self.registry
        )
        self.lateness = Histogram(
            "rollout_reconcile_lateness_seconds",
            "How long after it was due a key was reconciled (clock time).",
            ["kind"],
            registry=self.registry,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0),
        )
        self.release_phase = Gauge(
            "rollout_release_phase",
            "1 for the phase each running release is in.",
            ["namespace", "release", "phase"],
            registry=self.registry,
        )
        self.canary_weight = Gauge(
            "rollout_release_canary_weight",
            "Canary weight of each release, percent.",
            ["namespace", "release"],
            registry=self.registry,
        )
        self.verdicts = Counter(
            "rollout_analysis_verdicts",
            "Analysis verdicts by release and verdict.",
            ["namespace", "release", "verdict"],
            registry=self.registry,
        )
