"""The chaos benchmarks' judges: what counts as a weight increase and the step behind
it, which histories break the policy, how a failed request is classified, and the
results file's sections. A wrong judge makes the benchmark report a clean run that is
not (or the reverse), so each rule is pinned by a history or a request log here.
"""

from __future__ import annotations

import importlib
import pathlib
import random
import sys
import types
from typing import Any

import pytest

BENCH = pathlib.Path(__file__).resolve().parents[3] / "bench"
POLICY_MIN = 20
T0 = 1_800_000_000.0  # seconds since the epoch of "12:00:00" below


def _bench_module(name: str) -> types.ModuleType:
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCH))


@pytest.fixture(scope="module")
def cc() -> types.ModuleType:
    """chaos_common: the policy, the results file."""
    return _bench_module("chaos_common")


@pytest.fixture(scope="module")
def checks() -> types.ModuleType:
    return _bench_module("chaos_checks")


@pytest.fixture(scope="module")
def driver() -> types.ModuleType:
    return _bench_module("chaos_driver")


def _at(seconds: float) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(T0 + seconds, datetime.UTC).isoformat()


def _entry(
    t: float, event: str, phase: str, step: int, canary: int, evidence: Any = None
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "at": _at(t),
        "event": event,
        "phase": phase,
        "stepIndex": step,
        "weights": {"stable": 100 - canary, "canary": canary},
    }
    if evidence is not None:
        entry["evidence"] = evidence
    return entry


def _ev(**kw: Any) -> list[dict[str, Any]]:
    ev = {"metric": "errors-vs-stable", "verdict": "Passed", "measurements": 6, "passes": 6,
          "inconclusive": 0, "errors": 0, "canaryRequests": 60}  # fmt: skip
    return [{**ev, **kw}]


def _release(history: list[dict[str, Any]], phase: str = "Succeeded") -> dict[str, Any]:
    return {
        "metadata": {"name": "s1-00002", "creationTimestamp": _at(0)},
        "spec": {"service": "s1", "canaryRevision": "s1-00002"},
        "status": {"phase": phase, "history": history, "message": ""},
    }


def _good(ev10: Any = None, ev50: Any = None) -> list[dict[str, Any]]:
    return [
        _entry(1, "ReleaseStarted", "Progressing", 0, 10, []),
        _entry(1, "StepAdvanced", "Progressing", 1, 10, []),
        _entry(31, "StepAdvanced", "Progressing", 2, 50, _ev() if ev10 is None else ev10),
        _entry(31, "StepAdvanced", "Progressing", 3, 50, []),
        _entry(61, "Promoting", "Promoting", 3, 100, _ev() if ev50 is None else ev50),
        _entry(61, "Promoted", "Succeeded", 3, 100, []),
    ]


class TestIncreases:
    def test_each_raise_and_the_promotion_with_the_step_behind_it(self, checks):
        """10→50 covers the 10% step, the promotion the 50% step; the first setWeight is
        no increase (nothing gated it)."""
        found = checks.increases(_release(_good()))
        assert [(i.event, i.before, i.after) for i in found] == [
            ("StepAdvanced", 10, 50),
            ("Promoting", 50, 100),
        ]
        assert [(i.window_start - T0, i.at - T0) for i in found] == [(1, 31), (31, 61)]

    def test_a_resume_restarts_the_window(self, checks):
        history = _good()
        history.insert(2, _entry(20, "Resumed", "Progressing", 1, 10, []))
        assert checks.increases(_release(history))[0].window_start - T0 == 20

    def test_a_history_without_the_evidence_field_is_pending(self, cc, checks):
        history = _good()
        del history[2]["evidence"]
        assert checks.increases(_release(history))[0].evidence is None
        findings = checks.check_release(_release(history), expected="Succeeded", policy=cc.Policy())
        assert findings.evidence_pending
        assert findings.evidence == []


class TestCheckRelease:
    def test_a_sound_release_has_no_findings(self, cc, checks):
        f = checks.check_release(_release(_good()), expected="Succeeded", policy=cc.Policy())
        assert (f.phase, f.steps, f.backwards, f.evidence, f.evidence_pending) == (
            [], [], [], [], False
        )  # fmt: skip

    def test_wrong_final_phase(self, cc, checks):
        f = checks.check_release(_release(_good()), expected="RolledBack", policy=cc.Policy())
        assert len(f.phase) == 1
        assert "expected RolledBack" in f.phase[0]

    @pytest.mark.parametrize(
        ("step", "kind"), [(2, "repeated"), (4, "skipped")], ids=["repeated", "skipped"]
    )
    def test_a_step_repeated_or_skipped(self, cc, checks, step, kind):
        history = _good()
        history[3] = _entry(31, "StepAdvanced", "Progressing", step, 50, [])
        f = checks.check_release(_release(history), expected="Succeeded", policy=cc.Policy())
        assert any(kind in s for s in f.steps), f.steps

    def test_a_step_at_a_weight_the_policy_does_not_give_it(self, cc, checks):
        history = _good()
        history[2] = _entry(31, "StepAdvanced", "Progressing", 2, 60, _ev())
        f = checks.check_release(_release(history), expected="Succeeded", policy=cc.Policy())
        assert any("the policy says 50%" in s for s in f.steps), f.steps

    def test_weight_backwards_while_progressing_but_not_on_rollback(self, cc, checks):
        history = _good()[:4]
        rolled = [*history, _entry(40, "AnalysisFailed", "RollingBack", 3, 0, [])]
        f = checks.check_release(_release(rolled, "RolledBack"), expected="RolledBack",
                             policy=cc.Policy())  # fmt: skip
        assert f.backwards == []
        dropped = [*history, _entry(40, "Noted", "Progressing", 3, 10, [])]
        f = checks.check_release(_release(dropped, "Progressing"), expected="Succeeded",
                             policy=cc.Policy())  # fmt: skip
        assert len(f.backwards) == 1

    @pytest.mark.parametrize(
        ("evidence", "problem"),
        [
            (_ev(verdict="Error"), "latest reading Error"),
            (_ev(measurements=6, inconclusive=4, passes=2), "4 of 6 readings Inconclusive"),
            (_ev(canaryRequests=POLICY_MIN - 1), f"canary {POLICY_MIN - 1} requests"),
            ([], "no evidence recorded"),
        ],
        ids=["error", "mostly-inconclusive", "few-canary-requests", "empty"],
    )
    def test_an_increase_without_evidence(self, cc, checks, evidence, problem):
        f = checks.check_release(_release(_good(ev10=evidence)), expected="Succeeded",
                             policy=cc.Policy(min_samples=POLICY_MIN))  # fmt: skip
        assert len(f.evidence) == 1
        assert problem in f.evidence[0]
        assert "10% → 50%" in f.evidence[0]

    def test_quiet_readings_are_left_out_when_counted(self, cc, checks):
        evidence = _ev(measurements=8, inconclusive=5, passes=3, quiet=3)
        f = checks.check_release(_release(_good(ev10=evidence)), expected="Succeeded",
                             policy=cc.Policy())  # fmt: skip
        assert f.evidence == []


class TestPlan:
    def test_releases_dealt_round_robin_with_an_exact_bad_share(self, driver):
        planned = driver.plan(random.Random(1), lanes=[("l", ["a", "b"], 0.5)], releases=7)
        assert len(planned) == 7
        assert sum(p.bad for p in planned) == 4  # round(3.5)
        assert sorted(p.service for p in planned).count("a") == 4
        assert [p.version for p in planned if p.service == "b"] == ["v2", "v3", "v4"]

    def test_lanes_keep_their_own_share(self, driver):
        lanes = [("good", ["s1"], 0.0), ("bad", ["s1"], 1.0)]
        planned = driver.plan(random.Random(1), lanes=lanes, releases=6)
        assert {(p.lane, p.bad) for p in planned} == {("good", False), ("bad", True)}
        assert [p.expected for p in planned if p.lane == "bad"] == ["RolledBack"] * 3


class TestPacer:
    def test_spreads_the_kills_over_the_remaining_time_within_bounds(self, driver):
        pacer = driver.Pacer(random.Random(1), kills=10, low=2.0, high=30.0)
        pacer.schedule(0.0, remaining_s=100.0)
        assert 5.0 <= pacer.next_at <= 15.0
        pacer.schedule(0.0, remaining_s=1.0)
        assert 1.0 <= pacer.next_at <= 3.0
        pacer.left = 0
        pacer.schedule(0.0, remaining_s=100.0)
        assert not pacer.due(1e9)


def _run(kills: list[dict[str, Any]]) -> dict[str, Any]:
    return {"kills": kills, "services": ["s1"], "proxies": {}, "began": T0,
            "load_ended": T0 + 100}  # fmt: skip


def _rec(sent: float, code: int, revision: str | None, why: str = "") -> list[Any]:
    return [T0 + sent, T0 + sent + 0.01, "s1", code, revision, why]


class TestDataPlane:
    def test_refused_in_the_proxy_gap_is_reported_beyond_it_is_a_failure(self, checks):
        run = _run([{"kind": "proxy", "t": T0 + 10}])
        records = [
            _rec(9, 200, "s1-00001"),
            _rec(10.5, 0, None, "refused"),  # proxy down
            _rec(11.0, 200, "s1-00001"),  # back: the gap ends here
            _rec(12.0, 0, None, "refused"),  # down again with no kill
        ]
        result = checks.data_plane(records, **run)
        assert result["counts"]["proxyGap"] == 1
        assert result["counts"]["refusedBeyondGap"] == 1
        assert result["dataPlaneFailed"] == 1
        assert result["proxyKills"][0]["serviceGapS"] == pytest.approx(1.0)

    def test_an_answer_from_the_dying_proxy_does_not_end_the_gap(self, checks):
        """The kill is stamped before the signal: a request sent a moment after it may
        still be answered; the refusals after that are still the proxy's gap."""
        run = _run([{"kind": "proxy", "t": T0 + 10}])
        records = [
            _rec(10.01, 200, "s1-00001"),  # answered by the proxy as it died
            _rec(10.05, 0, None, "refused"),
            _rec(10.5, 0, None, "refused"),
            _rec(11.0, 200, "s1-00001"),  # back
        ]
        result = checks.data_plane(records, **run)
        assert result["counts"]["proxyGap"] == 2
        assert result["dataPlaneFailed"] == 0

    def test_a_request_stamped_a_moment_before_the_kill_may_be_refused(self, checks):
        """`sent` is stamped before the client connects: 20 ms before the kill is still
        the kill's gap; a second before it is not."""
        run = _run([{"kind": "proxy", "t": T0 + 10}])
        records = [_rec(9.0, 0, None, "refused"), _rec(9.98, 0, None, "refused")]
        records.append(_rec(11.0, 200, "s1-00001"))
        counts = checks.data_plane(records, **run)["counts"]
        assert (counts["proxyGap"], counts["refusedBeyondGap"]) == (1, 1)

    def test_a_proxy_never_back_counts_its_gap_to_the_end_of_the_load(self, checks):
        run = _run([{"kind": "proxy", "t": T0 + 10}])
        result = checks.data_plane([_rec(9, 200, "a"), _rec(20, 0, None, "refused")], **run)
        assert result["proxyKills"][0]["never"] == ["s1"]
        assert result["proxyKills"][0]["serviceGapS"] == pytest.approx(90.0)
        assert result["dataPlaneFailed"] == 0

    def test_502s_by_cause(self, checks):
        run = _run([{"kind": "canary", "t": T0 + 10.005, "revision": "s1-00002"}])
        why = "rollout proxy: default/s1: revision s1-00002: cannot connect to upstream (x)"
        records = [
            _rec(5, 502, None, "rollout proxy: default/s1: no revision with traffic is ready"),
            _rec(6, 502, None, "rollout proxy: default/s1: tag 'canary' is not ready"),
            _rec(10, 502, None, why),  # in flight when the canary was killed
            _rec(12, 502, None, why),  # sent to it after it was killed
            _rec(13, 502, None, why.replace("s1-00002", "s1-00001")),  # nothing killed it
            _rec(14, 500, "s1-00002", "app"),
        ]
        counts = checks.data_plane(records, **run)["counts"]
        assert counts["noRevision"] == 2
        assert counts["cutByCanaryKill"] == 1
        assert counts["deadUpstream"] == 1
        assert counts["upstreamOther"] == 1
        assert counts["app"] == 1
        assert checks.data_plane(records, **run)["dataPlaneFailed"] == 4

    def test_requests_cut_in_flight_by_a_proxy_kill_are_reported_apart(self, checks):
        run = _run([{"kind": "proxy", "t": T0 + 10.005}])
        records = [_rec(10, 0, None, "disconnected"), _rec(10.2, 200, "a")]
        counts = checks.data_plane(records, **run)["counts"]
        assert counts["cutByProxyKill"] == 1
        assert "connectionOther" not in counts


class TestObservedEvidence:
    def test_an_increase_with_no_canary_request_in_its_step(self, checks):
        records = [_rec(t, 200, "s1-00002") for t in (2, 3)]  # in the 10% step only
        records += [_rec(t, 200, "s1-00001") for t in range(32, 60)]
        found = checks.observed_evidence([_release(_good())], records, min_samples=POLICY_MIN)
        assert found["increases"] == 2
        assert len(found["none"]) == 1
        assert "Promoting 50% → 100%" in found["none"][0]
        assert len(found["thin"]) == 1  # 2 requests < minSamples in the 10% step


class TestResultsFile:
    def test_each_benchmark_replaces_only_its_own_section(self, cc, tmp_path):
        path = tmp_path / "chaos.md"
        cc.write_section(path, "sim", "sim one")
        cc.write_section(path, "local", "local one")
        cc.write_section(path, "local", "local two")
        text = path.read_text()
        assert text.startswith("# Chaos")
        assert "local two" in text
        assert "local one" not in text
        assert "sim one" in text
        assert text.index("local two") < text.index("sim one")


class TestSoleRevision:
    def test_a_kill_that_raced_a_promotion_is_the_applications_outage(self, checks):
        """The canary was killed just after its release promoted it: it was its
        service's only revision, so the 502s until it is back are reported apart."""
        kill = {"kind": "canary", "t": T0 + 10, "revision": "s1-00002", "sole": True}
        run = _run([kill])
        why = "rollout proxy: default/s1: revision s1-00002: cannot connect to upstream (x)"
        records = [
            _rec(10.2, 502, None, why),
            _rec(10.6, 502, None, "rollout proxy: default/s1: no revision with traffic is ready"),
            _rec(11.5, 200, "s1-00002"),
            _rec(12.0, 502, None, why),  # after it was back: a failure again
        ]
        result = checks.data_plane(records, **run)
        assert result["counts"]["soleRevisionOutage"] == 2
        assert result["dataPlaneFailed"] == 1
