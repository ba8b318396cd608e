"""The data-plane benchmark (`bench/proxy.py`): HAProxy's config gives the same weighted
split and per-request work as the proxy's route, HAProxy itself accepts it, and the
summary's ratios and goals come from the medians of one run."""

from __future__ import annotations

import importlib
import os
import pathlib
import shutil
import subprocess
import sys
import types

import pytest

BENCH = pathlib.Path(__file__).resolve().parents[3] / "bench"


def _proxy_bench() -> types.ModuleType:
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module("proxy")
    finally:
        sys.path.remove(str(BENCH))


def test_haproxy_config_splits_by_weight_and_does_the_proxys_work() -> None:
    """Weighted random over both servers, X-Forwarded-For, Rollout-Revision, one thread."""
    bench = _proxy_bench()
    config = bench.haproxy_config(
        port=8080,
        servers={"hello-00001": 9001, "hello-00002": 9002},
        weights={"hello-00001": 90, "hello-00002": 10},
    )
    assert "    bind 127.0.0.1:8080" in config
    assert "    server hello-00001 127.0.0.1:9001 weight 90" in config
    assert "    server hello-00002 127.0.0.1:9002 weight 10" in config
    assert "    balance random(1)" in config
    assert "    option forwardfor" in config
    assert "    http-response set-header Rollout-Revision %[srv_name]" in config
    assert "    nbthread 1" in config
    assert "    http-reuse always" in config
    assert "stats socket" not in config  # the runtime API only when asked for


def test_haproxy_config_with_the_runtime_api_socket() -> None:
    """With `socket`: the admin-level runtime API a controller would drive weights with."""
    bench = _proxy_bench()
    config = bench.haproxy_config(
        port=8080, servers={"a": 9001}, weights={"a": 100}, socket="/tmp/x/haproxy.sock"
    )
    assert "    stats socket /tmp/x/haproxy.sock mode 600 level admin" in config


@pytest.mark.skipif(
    shutil.which("haproxy") is None and os.environ.get("CI") != "true",
    reason="haproxy is not installed (make test installs it; under CI=true this fails)",
)
def test_haproxy_accepts_the_config(tmp_path: pathlib.Path) -> None:
    """`haproxy -c` (check only, binds nothing) finds the config valid."""
    bench = _proxy_bench()
    path = tmp_path / "haproxy.cfg"
    path.write_text(
        bench.haproxy_config(port=8080, servers={"a": 9001, "b": 9002}, weights={"a": 1, "b": 1})
    )
    done = subprocess.run(["haproxy", "-c", "-q", "-f", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def _figures(rps: float, p99_ms: float) -> dict[str, float]:
    return {
        "rps": rps,
        "p50": p99_ms / 2000,
        "p99": p99_ms / 1000,
        "requests": rps * 10,
        "cpuUs": 1e6 / rps,
    }


def test_summary_takes_medians_and_checks_the_goals() -> None:
    """Medians per path; ratios and added latency between paths of the same run."""
    bench = _proxy_bench()
    raw = {
        "closed": {
            "direct": [_figures(1000, 2), _figures(1200, 2), _figures(900, 2)],
            "haproxy": [_figures(900, 2)] * 3,
            "proxy": [_figures(600, 3)] * 3,
            "proxy+rules": [_figures(540, 3)] * 3,
        },
        "open": {
            "direct": [_figures(300, 2.0)] * 3,
            "haproxy": [_figures(300, 2.2)] * 3,
            "proxy": [_figures(300, 3.5)] * 3,
        },
    }
    summary = bench.summarize(raw)
    closed = summary["closed"]
    assert closed["direct"]["rps"] == 1000
    assert closed["ratio"]["proxy/direct"]["rps"] == pytest.approx(0.6)
    assert closed["ratio"]["proxy/haproxy"]["rps"] == pytest.approx(600 / 900)
    assert closed["ratio"]["proxy+rules/proxy"]["rps"] == pytest.approx(0.9)
    assert summary["open"]["addedMs"]["proxy"]["p99"] == pytest.approx(1.5)
    assert summary["open"]["addedMs"]["haproxy"]["p99"] == pytest.approx(0.2)
    goals = summary["goals"]
    assert goals["proxy/direct rps"]["met"]
    assert goals["proxy/haproxy rps"]["met"]
    assert not goals["proxy added p99 ms"]["met"]
    assert goals["rules cost"]["figure"] == pytest.approx(0.1)
    assert goals["rules cost"]["met"]


def test_summary_without_rules_has_no_rules_goal() -> None:
    """A proxy that does not take header routes and mirrors: no rules figure, no goal."""
    bench = _proxy_bench()
    one = {p: [_figures(1000, 2)] for p in ("direct", "haproxy", "proxy")}
    summary = bench.summarize({"closed": one, "open": one})
    assert "rules cost" not in summary["goals"]
    assert "proxy+rules/proxy" not in summary["closed"]["ratio"]


def test_ratios_pair_paths_within_a_round() -> None:
    """A round where the machine was busy for one path does not skew the ratio: it is
    the median of each round's own ratio, not the ratio of the medians."""
    bench = _proxy_bench()
    closed = {
        "direct": [_figures(1000, 2), _figures(4000, 2), _figures(2000, 2)],
        "haproxy": [_figures(1000, 2)] * 3,
        "proxy": [_figures(900, 2), _figures(1000, 2), _figures(1900, 2)],
    }
    opened = {p: [_figures(300, 2)] * 3 for p in ("direct", "haproxy", "proxy")}
    summary = bench.summarize({"closed": closed, "open": opened})
    assert summary["closed"]["ratio"]["proxy/direct"]["rps"] == pytest.approx(0.9)
    assert summary["closed"]["proxy"]["rps"] / summary["closed"]["direct"]["rps"] == 0.5
