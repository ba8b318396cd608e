"""Our release engine as a simulator `Runner`: the same `decide()` the controller uses.

Each decision gathers readings for the metrics that are due (`engine.due_metrics`)
from the simulated world, exactly as the release reconciler will gather them from a
provider — with the world's scrape delay — builds an `Observation`, calls
`engine.decide`, and applies the `SetWeights` actions at once (a router with no
latency; the engine is asked again at the same instant so that an applied weight is
observed, as a watch event would trigger a reconcile).

Readings per provider (only the `local` provider can be simulated; other providers
are refused by `check`):
- `compare: sequential` on `errors`/`error_rate`: request and error counts of both
  revisions since the metric's previous reading (an increment, never overlapping);
- thresholds on `error_rate`, `errors`, `requests`, `latency_p50|p90|p99`: the canary's
  value over the metric's `window`, with the number of requests behind it;
- `compare: mann-whitney` on latency stats: latency samples of both revisions over the
  window.

No I/O. Called by `rollout simulate` and the decision-quality benchmark.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rollout.analysis import measurement
from rollout.api import policyspec
from rollout.api.release import Phase, ReleaseSpec, ReleaseStatus, Weights
from rollout.release import actions, engine, observation
from rollout.sim import harness, world

__all__ = ["EPOCH", "PolicyRunner", "check"]

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_QUANTILES = {
    policyspec.LocalStat.LATENCY_P50: 0.5,
    policyspec.LocalStat.LATENCY_P90: 0.9,
    policyspec.LocalStat.LATENCY_P99: 0.99,
}
_MAX_LATENCY_SAMPLES = 200
_AT_ONCE = 8  # decisions at one instant while weights are being applied


def check(policy: policyspec.RolloutPolicySpec) -> list[str]:
    """Why a policy cannot be simulated (metrics with non-local providers); empty if it can."""
    metrics = policy.analysis.metrics if policy.analysis else []
    return [
        f"metric {m.name!r} uses the {m.provider.kind} provider; the simulator reads only"
        " `local` stats"
        for m in metrics
        if m.provider.local is None
    ]


def _at(seconds: float) -> datetime:
    return EPOCH + timedelta(seconds=seconds)


def _seconds(at: datetime) -> float:
    return (at - EPOCH).total_seconds()


class PolicyRunner:
    """Drives `engine.decide` for one release of a simulated canary."""

    def __init__(self, policy: policyspec.RolloutPolicySpec) -> None:
        self.spec = ReleaseSpec(
            service="sim",
            stable_revision="sim-00001",
            canary_revision="sim-00002",
            policy=policy,
        )
        self.status = ReleaseStatus()
        self.applied = Weights(stable=100, canary=0)
        self._next = 0.0

    def start(self, w: world.World) -> None:
        self._next = w.now

    def next_decision_at(self) -> float:
        return self._next

    @property
    def weight(self) -> float:
        return self.applied.canary / 100

    @property
    def outcome(self) -> harness.Outcome | None:
        phase = self.status.phase
        if phase is Phase.SUCCEEDED:
            return harness.Outcome.PROMOTED
        if phase in (Phase.ROLLED_BACK, Phase.ABORTED, Phase.FAILED):
            return harness.Outcome.ROLLED_BACK
        if phase is Phase.PAUSED and self.status.pause_reason != "user":
            return harness.Outcome.PAUSED  # waits for a human: the simulation stops here
        return None

    def decide(self, w: world.World) -> None:
        now = _at(w.now)
        readings = tuple(
            self._read(m, w) for m in engine.due_metrics(self.spec.policy, self.status, now)
        )
        requeue: timedelta | None = None
        for _ in range(_AT_ONCE):
            obs = observation.Observation(
                now=now, canary_ready=True, applied=self.applied, readings=readings
            )
            decision = engine.decide(self.spec, self.status, obs)
            self.status = decision.status
            readings = ()
            moved = [a.weights for a in decision.actions if isinstance(a, actions.SetWeights)]
            requeue = decision.requeue_after
            if not moved or moved[-1] == self.applied:
                break
            self.applied = moved[-1]
        step = requeue.total_seconds() if requeue is not None else 3600.0
        self._next = w.now + max(step, 0.5)

    def _read(self, metric: policyspec.Metric, w: world.World) -> measurement.Measurement:
        now = _at(w.now)
        assert metric.provider.local is not None, "check() refuses non-local providers"
        stat = metric.provider.local.stat
        visible_end = w.now - w.scrape_delay
        until = _at(max(visible_end, 0.0))
        if (
            metric.compare is not None
            and metric.compare.method is policyspec.CompareMethod.SEQUENTIAL
        ):
            since = self._measured_until(metric.name)
            c_req, c_err = w.counts("canary", since, visible_end)
            s_req, s_err = w.counts("stable", since, visible_end)
            return measurement.Measurement(
                metric=metric.name,
                at=now,
                until=until,
                value=None,
                canary=measurement.Counts(c_req, c_err),
                stable=measurement.Counts(s_req, s_err),
            )
        start = w.now - metric.window.total_seconds()
        requests, errors = w.counts("canary", start, w.now)
        value: float | None
        if stat is policyspec.LocalStat.REQUESTS:
            value = float(requests)
        elif stat is policyspec.LocalStat.ERRORS:
            value = float(errors)
        elif stat is policyspec.LocalStat.ERROR_RATE:
            value = errors / requests if requests else None
        else:
            value = w.latency_quantile("canary", start, w.now, _QUANTILES[stat])
        canary_values: tuple[float, ...] = ()
        stable_values: tuple[float, ...] = ()
        if metric.compare is not None:  # mann-whitney on latency samples
            canary_values = tuple(w.latency_sample("canary", start, w.now, _MAX_LATENCY_SAMPLES))
            stable_values = tuple(w.latency_sample("stable", start, w.now, _MAX_LATENCY_SAMPLES))
        return measurement.Measurement(
            metric=metric.name,
            at=now,
            until=until,
            value=value,
            samples=requests,
            canary_values=canary_values,
            stable_values=stable_values,
        )

    def _measured_until(self, name: str) -> float:
        for status in self.status.analysis:
            if status.metric == name and status.measured_until is not None:
                return _seconds(status.measured_until)
        return 0.0
