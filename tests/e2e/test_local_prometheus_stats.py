"""The local platform with its request stats read from a real Prometheus (issue 16):
`rollout controller --metrics prometheus --prometheus-url …` (preset `rollout-proxy`),
Prometheus scraping the proxy's /metrics. A policy written for the proxy's own stats —
the sequential comparison of the canary's errors with the stable's — rolls a bad
canary back through the Prometheus path alone.

The controller is started once to start the proxy (so Prometheus can be told where to
scrape), killed, and started again with the flags; it adopts the proxy and the
revisions. Every process is stopped by its PID.
"""

from __future__ import annotations

import signal
from collections.abc import Callable

from localenv import Load, Local
from promserver import PrometheusServer

from rollout.platforms.local.proxy import client as proxy_client

COMPARED = """\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata: {name: compared}
spec:
  steps:
    - setWeight: 50
    - analysis: {duration: 60s}
  analysis:
    interval: 2s
    failureLimit: 0
    inconclusiveLimit: 60
    metrics:
      - name: errors-vs-stable
        provider: {local: {stat: errors}}
        compare: {against: stable, method: sequential, alpha: 0.01, maxRatio: 2}
"""


def test_a_bad_canary_is_rolled_back_on_counts_read_from_prometheus(
    local: Local, start_prometheus: Callable[[list[str]], PrometheusServer]
) -> None:
    local.start()
    local.service("compared", "v1")
    local.wait_serving()  # v1 deployed, and the proxy routes to it
    state = proxy_client.read_state(local.state_dir)
    assert state is not None
    load = Load(local.url(), rps=40)
    prometheus = start_prometheus([state[1].removeprefix("http://")])
    prometheus.wait_for('rollout_proxy_requests_total{revision="web-00001"} > 0')
    local.stop(signal.SIGKILL)  # the proxy and v1 keep serving; the next one adopts them
    local.start(
        "--metrics", "prometheus", "--prometheus-url", prometheus.url, "--scrape-delay", "2",
    )  # fmt: skip
    local.apply(COMPARED, "compared")
    local.service("compared", "v2", error_rate=0.3)
    local.wait_for(
        lambda: (rel := local.read()[1]) is not None and rel.status.phase.value == "RolledBack",
        within=120,
        what="the bad canary rolled back on Prometheus counts",
    )
    load.stop()
    _, rel = local.read()
    assert rel is not None
    (errors,) = [m for m in rel.status.analysis if m.metric == "errors-vs-stable"]
    assert errors.verdict is not None
    assert errors.verdict.value == "Failed"
    assert errors.evidence is not None
    assert errors.evidence.canary_requests > 0
    assert errors.evidence.canary_errors > 0
    assert errors.evidence.stable_requests > errors.evidence.canary_requests / 2
    # `rollout analyze` asks the same questions now, of either source of counts.
    via_proxy = local.cli("analyze", "web", check=False)
    assert "from the local proxy at http://127.0.0.1:" in via_proxy.stdout, via_proxy.stdout
    via_prometheus = local.cli(
        "analyze", "web", "--metrics", "prometheus", "--prometheus-url", prometheus.url,
        check=False,
    )  # fmt: skip
    assert f"from Prometheus at {prometheus.url} (rollout-proxy preset)" in via_prometheus.stdout
    assert "errors-vs-stable (local)" in via_prometheus.stdout
    assert via_prometheus.returncode == 0, via_prometheus.stdout + via_prometheus.stderr
