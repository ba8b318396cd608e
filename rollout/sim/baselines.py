"""Faithful emulations of Flagger's and Argo Rollouts' documented canary behaviour.

Each baseline is a `harness.Runner` that queries the simulated metrics backend the
way the real controller's Prometheus query would, and moves the canary weight the way
the real controller would. They are the yardstick of DESIGN §11; they must not be
tuned to any figure: when an emulation disagrees with a published estimate, the
difference is explained in the docstring, not patched.

Pure decision logic over `rollout.sim.world.World` queries; no I/O, no clocks. Called
by the harness (through `run_one`/`run_many`), the CLI and the benchmark.
"""

from __future__ import annotations

import dataclasses
import enum

from rollout.sim import harness, world

__all__ = ["ArgoConfig", "ArgoRunner", "FlaggerConfig", "FlaggerRunner", "Measurement"]


# -- Flagger -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FlaggerConfig:
    """The `analysis` block of a Flagger Canary (docs example values by default).

    Weights are in percent, as in Flagger. `max_p99_s` adds the docs' second builtin
    check (request-duration p99 ≤ 500 ms) when set; DESIGN §11 uses success rate only.
    """

    interval_s: float = 60.0
    threshold: int = 5
    step_weight: int = 5
    max_weight: int = 50
    min_success_rate: float = 99.0  # percent, thresholdRange.min of request-success-rate
    metric_interval_s: float = 60.0  # the metric's `interval` (the PromQL range)
    max_p99_s: float | None = None
    initialize_tick: bool = True  # False: start at the first traffic shift (see FlaggerRunner)


class _FlaggerPhase(enum.StrEnum):
    INITIALIZED = "Initialized"
    PROGRESSING = "Progressing"
    PROMOTING = "Promoting"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


class FlaggerRunner:
    """Flagger's canary strategy (progressive traffic shifting) with the docs defaults.

    Sources: Flagger docs, "Deployment Strategies → Canary Release" and "Canary
    analysis" (analysis: interval 1m, threshold 5, maxWeight 50, stepWeight 5, metric
    request-success-rate thresholdRange.min 99 over 1m; minimum promotion time
    interval × maxWeight/stepWeight, rollback after interval × threshold), and the
    scheduler of fluxcd/flagger, `pkg/controller/scheduler.go` (`advanceCanary`,
    `runCanary`, `runPromotionTrafficShift`) and `scheduler_metrics.go`
    (`runBuiltinMetricChecks`).

    Emulated sequence, one tick every `interval` from the start (t = 0 is the tick at
    which Flagger detects the new revision):

    1. First tick (phase "" → Progressing): scale the canary up; weight stays 0.
    2. Each later tick in Progressing, in the order of `advanceCanary`:
       a. if failedChecks ≥ threshold → rollback: weight 0, phase Failed. So the
          check that brings the counter to the threshold is followed by the rollback
          one tick later;
       b. if the canary weight is 0 ("Starting canary analysis") no metric is checked
          (pre-rollout hooks only) and the weight advances;
       c. otherwise the success rate of the canary over the last `metric_interval`
          is checked: 100 × (1 − errors/requests) over [now − 1m, now), as the
          Prometheus query sees it (the world clips the window at now − scrape
          delay). No data (zero canary requests: "no values found") fails the check.
          A failing check increments failedChecks — cumulative, a passing check does
          not reset it — and HOLDS the weight;
       d. a passing check below maxWeight advances the weight by stepWeight; a
          passing check at maxWeight runs `Promote` (copies the canary spec to the
          primary) and enters phase Promoting.
    3. Next tick in Promoting: all traffic to the primary, which now runs the new
       revision — modelled as the new revision at 100%, outcome PROMOTED. (Flagger's
       Finalising/Succeeded ticks that follow do not move traffic.)

    So with the defaults a good canary is at 5% at 1m, 50% at 10m, is promoted at
    11m and takes 100% at 12m; a canary failing every check sits at 5% from 1m and
    is rolled back at 7m. Published estimates that count from the first traffic shift
    (or use the docs formula, 10m to promote, 5m to roll back) are one tick shorter;
    `initialize_tick=False` starts the emulation at that first shift (5% at t = 0).

    The scrape delay matters too: a 1m check sees only 50 s of data, ~25 requests at
    5% weight instead of 30, so a 5%-error canary passes a check more often (29%
    instead of 22%) and climbs more before it is rolled back. With
    `initialize_tick=False` and no scrape delay the emulation gives the idealised
    published figures (bad-5pct: ~16 failed requests, rollback after ~6.8 min).

    Simplifications: the primary's rolling update during Promoting is not modelled
    (the canary keeps its 50% until traffic is switched); webhooks, the HPA,
    `progressDeadlineSeconds` and readiness checks always pass.
    """

    def __init__(self, config: FlaggerConfig | None = None) -> None:
        self.config = config if config is not None else FlaggerConfig()
        self._phase = (
            _FlaggerPhase.INITIALIZED if self.config.initialize_tick else _FlaggerPhase.PROGRESSING
        )
        self._canary_weight = 0  # percent
        self._failed_checks = 0
        self._next_tick = 0.0
        self._outcome: harness.Outcome | None = None
        self.history: list[tuple[float, str]] = []  # (time, event) for tests and tables

    # -- Runner protocol ---------------------------------------------------------------

    def start(self, world: world.World) -> None:
        self._next_tick = world.now

    def next_decision_at(self) -> float:
        return self._next_tick

    @property
    def weight(self) -> float:
        return self._canary_weight / 100.0

    @property
    def outcome(self) -> harness.Outcome | None:
        return self._outcome

    @property
    def failed_checks(self) -> int:
        return self._failed_checks

    def decide(self, world: world.World) -> None:
        self._next_tick = world.now + self.config.interval_s
        if self._phase is _FlaggerPhase.INITIALIZED:
            self._phase = _FlaggerPhase.PROGRESSING
            self._log(world, "initialized: canary scaled up, weight 0")
            return
        if self._phase is _FlaggerPhase.PROMOTING:
            self._canary_weight = 100
            self._phase = _FlaggerPhase.SUCCEEDED
            self._outcome = harness.Outcome.PROMOTED
            self._log(world, "promotion: all traffic to the new revision")
            return
        if self._failed_checks >= self.config.threshold:
            self._canary_weight = 0
            self._phase = _FlaggerPhase.FAILED
            self._outcome = harness.Outcome.ROLLED_BACK
            self._log(world, f"rollback: failedChecks {self._failed_checks}")
            return
        if self._canary_weight > 0:
            passed, reason = self.check(world)
            if not passed:
                self._failed_checks += 1
                self._log(world, f"check failed ({reason}): failedChecks {self._failed_checks}")
                return
            self._log(world, f"check passed ({reason})")
        if self._canary_weight < self.config.max_weight:
            self._canary_weight = min(100, self._canary_weight + self.config.step_weight)
            self._log(world, f"advance: weight {self._canary_weight}")
        else:
            self._phase = _FlaggerPhase.PROMOTING
            self._log(world, "promote: copy canary spec to primary")

    def check(self, world: world.World) -> tuple[bool, str]:
        """The builtin metric checks at `world.now`: (passed, reason)."""
        start = world.now - self.config.metric_interval_s
        requests, errors = world.counts("canary", start, world.now)
        if requests == 0:
            return False, "no values found"
        success = 100.0 * (requests - errors) / requests
        if success < self.config.min_success_rate:
            return False, f"success rate {success:.2f}% < {self.config.min_success_rate}%"
        if self.config.max_p99_s is not None:
            p99 = world.latency_quantile("canary", start, world.now, 0.99)
            if p99 is None:
                return False, "no values found for request-duration"
            if p99 > self.config.max_p99_s:
                return False, f"request duration p99 {p99:.3f}s > {self.config.max_p99_s}s"
        return True, f"success rate {success:.2f}%"

    def _log(self, world: world.World, event: str) -> None:
        self.history.append((world.now, event))


# -- Argo Rollouts -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ArgoConfig:
    """A canary Rollout with background analysis (the docs example by default).

    `steps` are (setWeight percent, pause seconds after it) pairs; Argo numbers
    them flat (setWeight 20 is step 0, its pause step 1, setWeight 40 step 2, ...).
    `starting_step` is Argo's `analysis.startingStep` in that numbering: the
    background AnalysisRun starts once the rollout reaches it (the docs example sets
    2, i.e. at setWeight 40; DESIGN §11 and the published estimates start at once).
    """

    steps: tuple[tuple[int, float], ...] = ((20, 600.0), (40, 600.0), (60, 600.0), (80, 600.0))
    interval_s: float = 300.0
    window_s: float = 300.0
    success_condition: float = 0.95  # result[0] >= 0.95
    failure_limit: int = 3
    consecutive_error_limit: int = 4  # Argo's DefaultConsecutiveErrorLimit
    starting_step: int = 0


class Measurement(enum.StrEnum):
    """Phase of one Argo measurement."""

    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    ERROR = "Error"


class ArgoRunner:
    """Argo Rollouts canary steps with a background AnalysisRun (the docs example).

    Sources: Argo Rollouts docs, "Analysis & Progressive Delivery → Background
    Analysis" (steps setWeight 20/40/60/80 each followed by pause 10m; AnalysisTemplate
    `success-rate`: interval 5m, successCondition `result[0] >= 0.95`, failureLimit 3,
    a Prometheus success-rate query over [5m]) and the "Canary" strategy docs; code of
    argoproj/argo-rollouts: `analysis/analysis.go` (`assessMetricStatus`: Failed when
    failed > failureLimit, Error when consecutiveErrors > consecutiveErrorLimit,
    default 4; measurements every `interval` after the previous one, the first at
    once), `utils/evaluate/evaluate.go` (`EvaluateResult`), `rollout/analysis.go`
    (`reconcileBackgroundAnalysisRun`: an Error or Failed run aborts the rollout,
    Inconclusive pauses it).

    Emulated sequence (t = 0 is the update of the Rollout):

    - steps: setWeight 20 at 0, 40 at 10m, 60 at 20m, 80 at 30m; the pause after 80
      ends at 40m and the rollout is fully promoted (weight 100, outcome PROMOTED),
      which stops the analysis.
    - background analysis from step `starting_step` on: a measurement at once, then
      every 5m. A measurement reads the canary's requests and errors over the last
      `window_s` (clipped by the scrape delay) and is:
        * Error when the query result is an empty vector: the canary has no visible
          request series yet, or no successful-request series (every request it ever
          served failed: the numerator `response_code!~"5.*"` selects nothing, so the
          ratio is empty). `result[0]` on an empty vector is an evaluation error;
        * Failed when the series exist but the window holds no request (0/0 = NaN,
          and NaN >= 0.95 is false), or when the success rate is < 0.95;
        * Successful otherwise.
      More than failureLimit (3) failures — the 4th — or more than 4 consecutive
      errors — the 5th — end the run; either aborts the rollout: weight 0, outcome
      ROLLED_BACK. (This emulation never yields Inconclusive: with only a
      successCondition, Argo cannot either.)
    - a step change and a measurement due at the same instant: the step is applied
      first, so the measurement due at 40m is never taken (the run is stopped).

    Consequences worth knowing: the first measurement (t = 0) always sees no data and
    is an Error, which is harmless (the next measurement resets the consecutive
    count). A 100%-error canary is caught by the consecutive-error rule, not by
    failureLimit: measurements at 0, 5, 10, 15, 20m are all Errors → abort at 20m.

    Deviation from the docs query: the example uses `irate(...[5m])`, the rate between
    the last two samples in the range (about one scrape interval), not a 5-minute
    average; this emulation uses the 5-minute window of DESIGN §11 (`window_s`).
    """

    def __init__(self, config: ArgoConfig | None = None) -> None:
        self.config = config if config is not None else ArgoConfig()
        if not self.config.steps:
            raise ValueError("an Argo canary needs at least one step")
        self._canary_weight = 0  # percent
        self._step = -1  # index of the current (setWeight, pause) pair; -1 before start
        self._next_step_at = 0.0
        self._analysis_running = False
        self._next_measurement_at = float("inf")
        self._failed = 0
        self._consecutive_errors = 0
        self._outcome: harness.Outcome | None = None
        self.measurements: list[tuple[float, Measurement]] = []

    # -- Runner protocol ---------------------------------------------------------------

    def start(self, world: world.World) -> None:
        self._next_step_at = world.now

    def next_decision_at(self) -> float:
        return min(self._next_step_at, self._next_measurement_at)

    @property
    def weight(self) -> float:
        return self._canary_weight / 100.0

    @property
    def outcome(self) -> harness.Outcome | None:
        return self._outcome

    def decide(self, world: world.World) -> None:
        if world.now >= self._next_step_at:
            self._advance_step(world.now)
        if self._outcome is None and world.now >= self._next_measurement_at:
            self._measure(world)

    def _advance_step(self, now: float) -> None:
        self._step += 1
        if self._step >= len(self.config.steps):
            self._canary_weight = 100
            self._analysis_running = False
            self._next_measurement_at = float("inf")
            self._next_step_at = float("inf")
            self._outcome = harness.Outcome.PROMOTED
            return
        weight, pause = self.config.steps[self._step]
        self._canary_weight = weight
        self._next_step_at = now + pause
        # Setting the weight is immediate, so the pause step (2i + 1) is reached at once.
        if not self._analysis_running and 2 * self._step + 1 >= self.config.starting_step:
            self._analysis_running = True
            self._next_measurement_at = now

    def _measure(self, world: world.World) -> None:
        phase = self.evaluate(world)
        self.measurements.append((world.now, phase))
        self._next_measurement_at = world.now + self.config.interval_s
        if phase is Measurement.ERROR:
            self._consecutive_errors += 1
        else:
            self._consecutive_errors = 0
            if phase is Measurement.FAILED:
                self._failed += 1
        if (
            self._failed > self.config.failure_limit
            or self._consecutive_errors > self.config.consecutive_error_limit
        ):
            self._canary_weight = 0
            self._analysis_running = False
            self._next_measurement_at = float("inf")
            self._next_step_at = float("inf")
            self._outcome = harness.Outcome.ROLLED_BACK

    def evaluate(self, world: world.World) -> Measurement:
        """One measurement of the success-rate metric at `world.now`."""
        ever_requests, ever_errors = world.counts("canary", 0.0, world.now)
        if ever_requests == 0 or ever_requests == ever_errors:
            return Measurement.ERROR
        requests, errors = world.counts("canary", world.now - self.config.window_s, world.now)
        if requests == 0:
            return Measurement.FAILED
        if (requests - errors) / requests >= self.config.success_condition:
            return Measurement.SUCCESSFUL
        return Measurement.FAILED
