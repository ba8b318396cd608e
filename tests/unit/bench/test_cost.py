"""The cost benchmark (`bench/cost.py`) on two releases: what each variant asks the
runtime for — a held revision keeps its 10 replicas, a retired one stops 30 s after
its release, a matched canary runs 1, 1, 3, 5 then 10 replicas — and the ratios the
report's figure comes from."""

from __future__ import annotations

import argparse
import importlib
import pathlib
import sys
import types

BENCH = pathlib.Path(__file__).resolve().parents[3] / "bench"


def _cost() -> types.ModuleType:
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module("cost")
    finally:
        sys.path.remove(str(BENCH))


ARGS = argparse.Namespace(releases=2, every="1h", ready_after=10.0, rps=50.0)


def test_each_variant_asks_for_what_it_says() -> None:
    cost = _cost()
    before = cost.run("before", ARGS)
    after = cost.run("after", ARGS)
    for result in (before, after):
        assert [c["outcome"] for c in result["cycles"]] == ["Succeeded", "Succeeded"]
    # before: the replaced stable keeps 10 replicas for the whole hour
    first = before["first"]
    assert first["cycleReplicaSeconds"] == 20 * 3600
    assert first["revisionsRunningAtEnd"] == 2
    # after: the replaced stable stops 30 s after the release; the canary was sized
    steady = after["steady"]
    assert steady["revisionsRunningAtEnd"] == 1
    assert steady["restReplicaSeconds"] == 10 * (3600 - steady["releaseSeconds"]) + 10 * 30
    assert steady["releaseReplicaSeconds"] < 20 * steady["releaseSeconds"]
    ratios = cost._ratios([before, after])
    assert ratios["first"]["cycleReplicaSeconds"] > 1.8
    assert ratios["first"]["releaseReplicaSeconds"] > 1.2


def test_a_matched_canary_runs_its_weights_count() -> None:
    cost = _cost()
    policy = cost._policy(cost.HELD, cost.VARIANTS["after"][1])
    r = cost.Run(policy, rps=50.0, ready_after=10.0)
    r.deploy(1)
    r.until(lambda: r.stable() == "web-00001", within=600, what="deployed")
    r.deploy(2)
    r.until(
        lambda: (rel := r.release(2)) is not None and rel.status.phase.value == "Succeeded",
        within=3600,
        what="released",
    )
    asked = [n for _, key, n in r.runtime.scale_log if key == ("default", "web-00002")]
    assert asked == [1, 3, 5, 10]  # 1% and 5%: 1; 25%: 3; 50%: 5; promotion: 10
