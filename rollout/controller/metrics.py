"""The controller's own metrics (prometheus_client), in a registry per controller so
that several controllers in one process (tests) do not collide.

A reconcile touches them on every call, so the labelled children of each kind are
looked up once (`of_kind`), and a release's phase gauges are written when its phase
changes, not on every decision (`release_decided`).

Served on `--metrics-addr` (default 127.0.0.1:9464) by `rollout controller`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from rollout.api import release

__all__ = ["ControllerMetrics", "KindMetrics"]


@dataclasses.dataclass(frozen=True)
class KindMetrics:
    """The children of one kind (prometheus_client's `labels(kind)`)."""

    reconciles: Counter
    duration: Histogram
    lateness: Histogram


class ControllerMetrics:
    def __init__(self) -> None:
        self._kinds: dict[str, KindMetrics] = {}
        self._phases: dict[tuple[str, str], release.Phase] = {}  # as last written
        self._weights: dict[tuple[str, str], int] = {}
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
        self.notifications_failed = Counter(
            "rollout_notifications_failed",
            "Notifications given up on after their retries (or never sent), by sink.",
            ["sink"],
            registry=self.registry,
        )
        self.invalid_objects = Gauge(
            "rollout_invalid_objects",
            "Stored objects that do not decode (marked InvalidSpec), by kind.",
            ["kind"],
            registry=self.registry,
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

    def of_kind(self, kind: str) -> KindMetrics:
        found = self._kinds.get(kind)
        if found is None:
            found = self._kinds[kind] = KindMetrics(
                self.reconciles.labels(kind),
                self.duration.labels(kind),
                self.lateness.labels(kind),
            )
        return found

    def release_decided(
        self,
        namespace: str,
        name: str,
        phase: release.Phase,
        canary_weight: int,
        verdicts: Iterable[release.Verdict],
    ) -> None:
        """After a decision: 1 for the release's phase and 0 for the others, its canary
        weight, and one count per verdict. A release is decided by one worker at a
        time, so its entries are never written by two threads at once."""
        key = (namespace, name)
        last = self._phases.get(key)
        if last is not phase:
            for p in release.Phase if last is None else (last, phase):
                self.release_phase.labels(namespace, name, p.value).set(1 if p is phase else 0)
            self._phases[key] = phase
        if self._weights.get(key) != canary_weight:
            self.canary_weight.labels(namespace, name).set(canary_weight)
            self._weights[key] = canary_weight
        for verdict in verdicts:
            self.verdicts.labels(namespace, name, verdict.value).inc()
