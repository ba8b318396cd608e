"""The mesh exporter's traffic model and exposition (`tests/meshexport.py`), without
a process: weights, error rates and latency factors shape the generated traffic as
their distributions say; resets, new pods and deletes change the series but never the
ground truth; the exposition is what Istio and Linkerd export.

Statistical checks allow 5 standard deviations (seeded, so they are also repeatable).
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import meshexport
import pytest
from prometheus_client import parser

NS, SVC, STABLE, CANARY = "prod", "web", "web-00001", "web-00002"
SIGMAS = 5.0


def run(model: meshexport.TrafficModel, seconds: int, *, step: float = 1.0) -> None:
    """Advance `model` by `seconds` in steps, from where it is (or 0)."""
    start = model.time or 0.0
    if model.time is None:
        model.advance(start)
    for i in range(1, int(seconds / step) + 1):
        model.advance(start + i * step)


def normal_cdf(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def close_to_share(count: int, total: int, p: float) -> bool:
    """`count` of `total` is within SIGMAS binomial standard deviations of share `p`."""
    sd = math.sqrt(max(p * (1 - p), 1e-12) * total)
    return abs(count - p * total) <= SIGMAS * sd + 1


def exported(text: str) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    """Family name → [(sample name, labels, value)], parsed as Prometheus would."""
    return {
        family.name: [(s.name, dict(s.labels), s.value) for s in family.samples]
        for family in parser.text_string_to_metric_families(text)
    }


def counter_values(
    model: meshexport.TrafficModel, shape: str = "istio"
) -> dict[tuple[tuple[str, str], ...], float]:
    """The request counter's series (sorted label items) → value."""
    s = meshexport.SHAPES[shape]
    text = meshexport.exposition(model, s, namespace=NS, service=SVC)
    return {
        tuple(sorted(labels.items())): value
        for name, labels, value in exported(text)[s.counter.removesuffix("_total")]
        if name == s.counter
    }


def model_with(**kwargs: Any) -> meshexport.TrafficModel:
    settings: dict[str, Any] = {"seed": 7, "rps": 1000.0, "weights": {STABLE: 90, CANARY: 10}}
    settings.update(kwargs)
    return meshexport.TrafficModel(**settings)


class TestWeights:
    def test_requests_split_by_weight_and_a_zero_weight_gets_none(self) -> None:
        """90/10/0: the split follows the weights; the 0% revision has no request or series."""
        model = model_with(weights={STABLE: 90, CANARY: 10, "web-00003": 0})
        run(model, 100)
        truth = model.truth()
        total = truth[STABLE].requests + truth[CANARY].requests
        assert total > 90_000
        assert close_to_share(truth[CANARY].requests, total, 0.10)
        assert truth["web-00003"].requests == 0
        assert {s.revision for s in model.series()} == {STABLE, CANARY}

    def test_revisions_not_named_get_nothing(self) -> None:
        """New weights that leave a revision out stop its traffic."""
        model = model_with()
        run(model, 5)
        before = model.truth()[CANARY].requests
        model.set_weights({STABLE: 100})
        run(model, 5)
        assert model.truth()[CANARY].requests == before
        assert model.weights == {STABLE: 100}

    def test_a_remainder_under_100_is_served_by_nobody(self) -> None:
        """Weights are percentages of all traffic: 50 alone gets half of rps × time."""
        model = model_with(weights={STABLE: 50})
        run(model, 100)
        served = model.truth()[STABLE].requests
        expected = 0.5 * 1000 * 100
        assert abs(served - expected) <= SIGMAS * math.sqrt(expected)

    @pytest.mark.parametrize(
        "change",
        [{"weights": {STABLE: 0, CANARY: 0}}, {"rps": 0.0}],
        ids=["weights-zero", "rps-zero"],
    )
    def test_no_weight_or_no_rate_freezes_every_counter(self, change: dict[str, Any]) -> None:
        model = model_with()
        run(model, 3)
        meshexport.Control(**change).apply(model)
        frozen = model.series()
        run(model, 10)
        assert model.series() == frozen

    def test_time_going_back_generates_nothing(self) -> None:
        model = model_with()
        run(model, 3)
        frozen = model.series()
        model.advance(1.0)
        model.advance(2.9)
        assert model.series() == frozen


class TestErrors:
    @pytest.mark.parametrize("rate", [0.001, 0.05, 0.5])
    def test_the_share_of_503s_is_the_error_rate(self, rate: float) -> None:
        model = model_with(weights={CANARY: 100})
        model.set_revision(CANARY, error_rate=rate)
        run(model, 100)
        truth = model.truth()[CANARY]
        assert close_to_share(truth.errors, truth.requests, rate)
        in_503_series = sum(s.count for s in model.series() if s.code == 503)
        assert in_503_series == truth.errors

    def test_the_default_error_rate_is_one_in_a_thousand(self) -> None:
        model = model_with(weights={STABLE: 100})
        run(model, 200)
        truth = model.truth()[STABLE]
        assert close_to_share(truth.errors, truth.requests, 0.001)


class TestLatency:
    @pytest.mark.parametrize("factor", [1.0, 1.5, 3.0])
    def test_shares_slower_than_each_bound_follow_the_log_normal(self, factor: float) -> None:
        """P(slower than b) = 1 − Φ((ln b − ln(100 ms × factor)) / σ), for every bound."""
        model = model_with(weights={CANARY: 100}, buckets_ms=meshexport.LINKERD_BUCKETS_MS)
        model.set_revision(CANARY, latency_factor=factor)
        run(model, 50)
        truth = model.truth()[CANARY]
        for bound, slower in truth.slower_ms.items():
            z = (math.log(bound) - math.log(100 * factor)) / meshexport.SIGMA
            assert close_to_share(slower, truth.requests, 1 - normal_cdf(z)), bound

    def test_median_is_100ms_and_p99_three_times_it(self) -> None:
        model = model_with(weights={STABLE: 100}, buckets_ms=meshexport.LINKERD_BUCKETS_MS)
        run(model, 100)
        truth = model.truth()[STABLE]
        assert close_to_share(truth.slower_ms[100.0], truth.requests, 0.5)
        assert close_to_share(truth.slower_ms[300.0], truth.requests, 0.01)

    def test_a_slower_canary_has_more_slow_requests(self) -> None:
        model = model_with(weights={STABLE: 50, CANARY: 50})
        model.set_revision(CANARY, latency_factor=1.5)
        run(model, 20)
        truth = model.truth()
        share = {r: truth[r].slower_ms[250.0] / truth[r].requests for r in (STABLE, CANARY)}
        assert share[CANARY] > 3 * share[STABLE]

    def test_buckets_and_sum_agree_with_the_counts(self) -> None:
        """Cumulative buckets never decrease; the sum is about count × mean (ms)."""
        model = model_with()
        run(model, 20)
        for s in model.series():
            assert list(s.buckets) == sorted(s.buckets)
            assert s.buckets[-1] <= s.count
            mean = 100 * math.exp(meshexport.SIGMA**2 / 2)
            if s.count > 1000:
                assert s.sum_ms / s.count == pytest.approx(mean, rel=0.1)


class TestResetsAndDeletes:
    def test_a_reset_drops_the_series_to_zero_but_not_the_truth(self) -> None:
        model = model_with()
        run(model, 5)
        truth_before = model.truth()
        stable_before = [s for s in model.series() if s.revision == STABLE]
        model.reset(CANARY)
        canary = [s for s in model.series() if s.revision == CANARY]
        assert canary
        assert all(s.count == 0 and s.sum_ms == 0 and not any(s.buckets) for s in canary)
        assert [s for s in model.series() if s.revision == STABLE] == stable_before
        assert model.truth() == truth_before
        run(model, 2)
        after = model.truth()[CANARY].requests
        assert after > truth_before[CANARY].requests
        exported_now = sum(s.count for s in model.series() if s.revision == CANARY)
        assert exported_now == after - truth_before[CANARY].requests

    def test_a_reset_with_new_pods_makes_new_series(self) -> None:
        model = model_with()
        run(model, 5)
        old = {s.pod for s in model.series() if s.revision == CANARY}
        assert old == {f"{CANARY}-7d9f8-0", f"{CANARY}-7d9f8-1"}
        model.reset(CANARY, new_pod=True)
        assert not [s for s in model.series() if s.revision == CANARY]
        run(model, 2)
        assert {s.pod for s in model.series() if s.revision == CANARY} == {
            f"{CANARY}-7d9f8-2",
            f"{CANARY}-7d9f8-3",
        }

    def test_delete_removes_the_series_and_drops_its_traffic_until_set_again(self) -> None:
        model = model_with()
        run(model, 5)
        model.delete(CANARY)
        text = meshexport.exposition(model, meshexport.SHAPES["istio"], namespace=NS, service=SVC)
        assert CANARY not in text
        assert STABLE in text
        frozen = model.truth()[CANARY]
        run(model, 5)
        assert model.truth()[CANARY] == frozen
        assert not [s for s in model.series() if s.revision == CANARY]
        model.set_weights({STABLE: 50, CANARY: 50})  # weights alone do not bring it back
        run(model, 2)
        assert model.truth()[CANARY] == frozen
        model.set_revision(CANARY)
        run(model, 2)
        assert model.truth()[CANARY].requests > frozen.requests
        assert {s.pod for s in model.series() if s.revision == CANARY} <= {
            f"{CANARY}-7d9f8-2",
            f"{CANARY}-7d9f8-3",
        }

    @pytest.mark.parametrize("action", ["reset", "delete"])
    def test_an_unknown_revision_is_refused(self, action: str) -> None:
        with pytest.raises(ValueError, match="unknown revision"):
            getattr(model_with(), action)("nope")


ISTIO_LABELS = {
    "reporter",
    "destination_workload",
    "destination_workload_namespace",
    "destination_service_name",
    "response_code",
    "pod",
}
LINKERD_LABELS = {"namespace", "deployment", "direction", "classification", "status_code", "pod"}


class TestExposition:
    @pytest.mark.parametrize(
        ("shape", "labels", "fixed", "revision_label", "code_label"),
        [
            (
                "istio",
                ISTIO_LABELS,
                {
                    "reporter": "destination",
                    "destination_workload_namespace": NS,
                    "destination_service_name": SVC,
                },
                "destination_workload",
                "response_code",
            ),
            (
                "linkerd",
                LINKERD_LABELS,
                {"namespace": NS, "direction": "inbound"},
                "deployment",
                "status_code",
            ),
        ],
        ids=["istio", "linkerd"],
    )
    def test_the_exposition_parses_with_the_mesh_labels(
        self,
        shape: str,
        labels: set[str],
        fixed: dict[str, str],
        revision_label: str,
        code_label: str,
    ) -> None:
        s = meshexport.SHAPES[shape]
        model = model_with(buckets_ms=s.buckets_ms)
        model.set_revision(CANARY, error_rate=0.2)
        run(model, 5)
        families = exported(meshexport.exposition(model, s, namespace=NS, service=SVC))
        counter = families[s.counter.removesuffix("_total")]
        assert {name for name, _, _ in counter} == {s.counter}
        counts: dict[tuple[tuple[str, str], ...], float] = {}
        for _, series, value in counter:
            assert set(series) == labels
            assert fixed.items() <= series.items()
            assert series[code_label] in {"200", "503"}
            assert series["pod"].startswith(series[revision_label] + "-7d9f8-")
            if shape == "linkerd":
                expected = "failure" if series["status_code"] == "503" else "success"
                assert series["classification"] == expected
            counts[tuple(sorted(series.items()))] = value
        assert {dict(k)[code_label] for k in counts} == {"200", "503"}
        assert {dict(k)[revision_label] for k in counts} == {STABLE, CANARY}

        buckets: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = defaultdict(list)
        for name, series, value in families[s.histogram]:
            key = tuple(sorted((k, v) for k, v in series.items() if k != "le"))
            if name == s.histogram + "_bucket":
                buckets[key].append((float(series["le"]), value))
            elif name == s.histogram + "_count":
                assert value == counts[key]
            else:
                assert name == s.histogram + "_sum"
                assert value > 0
        assert set(buckets) == set(counts)
        for key, les in buckets.items():
            assert [le for le, _ in les] == [*s.buckets_ms, math.inf]
            values = [v for _, v in les]
            assert values == sorted(values)
            assert values[-1] == counts[key]

    def test_the_same_seed_gives_the_same_exposition(self) -> None:
        texts = []
        for seed in (3, 3, 4):
            model = model_with(seed=seed)
            model.set_revision(CANARY, error_rate=0.05, latency_factor=1.5)
            run(model, 10, step=0.1)
            texts.append(
                meshexport.exposition(model, meshexport.SHAPES["istio"], namespace=NS, service=SVC)
            )
        assert texts[0] == texts[1]
        assert texts[0] != texts[2]

    def test_a_reset_shows_as_lower_counter_values(self) -> None:
        model = model_with()
        run(model, 5)
        before = counter_values(model, "linkerd")
        model.reset(STABLE)
        after = counter_values(model, "linkerd")
        assert set(after) == set(before)
        lowered = {k for k in before if after[k] < before[k]}
        assert lowered == {k for k in before if ("deployment", STABLE) in k}


class TestInputs:
    @pytest.mark.parametrize(
        "body",
        [
            [],
            {"weights": {STABLE: 101}},
            {"weights": {STABLE: -1}},
            {"weights": {STABLE: "ten"}},
            {"weights": {"": 10}},
            {"weights": [STABLE]},
            {"revisions": {CANARY: {"errorRate": 1.5}}},
            {"revisions": {CANARY: {"latencyFactor": 0}}},
            {"revisions": {CANARY: {"colour": "red"}}},
            {"revisions": [CANARY]},
            {"rps": -1},
            {"rps": "fast"},
            {"weight": {STABLE: 10}},
        ],
        ids=[
            "not-an-object",
            "weight-over-100",
            "negative-weight",
            "weight-not-a-number",
            "empty-revision",
            "weights-not-an-object",
            "error-rate-over-1",
            "latency-factor-zero",
            "unknown-setting",
            "revisions-not-an-object",
            "negative-rps",
            "rps-not-a-number",
            "unknown-key",
        ],
    )
    def test_a_bad_control_body_is_refused_whole(self, body: object) -> None:
        with pytest.raises(ValueError, match=r"."):
            meshexport.parse_control(body)

    def test_a_control_body_applies_weights_settings_and_rate(self) -> None:
        model = model_with()
        meshexport.parse_control(
            {
                "weights": {STABLE: 50, CANARY: 50},
                "revisions": {CANARY: {"errorRate": 1.0, "latencyFactor": 2}},
                "rps": 100,
            }
        ).apply(model)
        run(model, 10)
        truth = model.truth()
        assert model.rps == 100
        assert truth[CANARY].errors == truth[CANARY].requests > 0
        assert truth[STABLE].errors < truth[STABLE].requests


def backend(name: str, weight: int) -> dict[str, Any]:
    return {"group": "", "kind": "Service", "name": name, "port": 80, "weight": weight}


def destination(name: str, weight: int) -> dict[str, Any]:
    host = f"{name}.{NS}.svc.cluster.local"
    return {"destination": {"host": host, "port": {"number": 80}}, "weight": weight}


EVERY_PATH = {"path": {"type": "PathPrefix", "value": "/"}}
TAG_MATCH = {**EVERY_PATH, "headers": [{"type": "Exact", "name": "Rollout-Tag", "value": "c"}]}


class TestRouteWeights:
    """The catch-all rule's weights, from routes shaped as rollout's routers write them."""

    @pytest.mark.parametrize(
        ("rules", "expected"),
        [
            (
                [
                    {"matches": [TAG_MATCH], "backendRefs": [backend(CANARY, 1)]},
                    {
                        "matches": [EVERY_PATH],
                        "backendRefs": [backend(STABLE, 70), backend(CANARY, 30)],
                    },
                ],
                {STABLE: 70, CANARY: 30},
            ),
            (
                [
                    {
                        "matches": [EVERY_PATH],
                        "backendRefs": [backend(STABLE, 0), backend(CANARY, 100)],
                    }
                ],
                {STABLE: 0, CANARY: 100},
            ),
            ([{"backendRefs": [{"name": STABLE}, {"name": CANARY}]}], {STABLE: 50, CANARY: 50}),
            ([{"matches": [EVERY_PATH], "backendRefs": []}], {}),
            ([], {}),
        ],
        ids=["tag-rule-first", "all-to-canary", "default-weights", "no-backend", "no-rules"],
    )
    def test_httproute(self, rules: list[dict[str, Any]], expected: dict[str, float]) -> None:
        route = {"apiVersion": "gateway.networking.k8s.io/v1", "spec": {"rules": rules}}
        assert meshexport.weights_from_httproute(route) == expected

    @pytest.mark.parametrize(
        ("http", "expected"),
        [
            (
                [
                    {
                        "name": "tag-c",
                        "match": [{"headers": {"rollout-tag": {"exact": "c"}}}],
                        "route": [destination(CANARY, 100)],
                    },
                    {
                        "name": "weighted",
                        "route": [destination(STABLE, 90), destination(CANARY, 10)],
                    },
                ],
                {STABLE: 90, CANARY: 10},
            ),
            ([{"route": [{"destination": {"host": STABLE}}]}], {STABLE: 100}),
            (
                [
                    {
                        "name": "no-traffic",
                        "fault": {"abort": {"httpStatus": 503, "percentage": {"value": 100.0}}},
                        "route": [destination("web", 100)],
                    }
                ],
                {},
            ),
        ],
        ids=["tag-route-first", "single-default", "aborts-all"],
    )
    def test_virtualservice(self, http: list[dict[str, Any]], expected: dict[str, float]) -> None:
        vs = {"apiVersion": "networking.istio.io/v1beta1", "spec": {"http": http}}
        assert meshexport.weights_from_virtualservice(vs) == expected
