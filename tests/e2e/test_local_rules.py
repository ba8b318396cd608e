"""End to end on the local platform (issue 20): mirroring and sticky sessions through
the whole stack — the release engine writes the rules into the Route, the LocalRouter
puts them in the real proxy, real revision processes answer (the harness:
`localenv`).

- A mirror at weight 0: the canary's answers to the copies are what analysis judges;
  a bad canary is rolled back on them while every client got the stable's answers.
- Sticky sessions: clients the canary served stay on it while the weights grow, and
  are all back on the stable after an abort (the Route without sessionAffinity).

Every process started here is stopped by its PID (`localenv`).
"""

from __future__ import annotations

import time
import urllib.request

from localenv import Load, Local

MIRROR = """\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata: {name: shadow}
spec:
  steps:
    - setMirror: {name: shadow, percent: 100}
    - analysis: {duration: 8s}
    - setMirror: {name: shadow, percent: 0}
    - setWeight: 50
    - pause: {duration: 2s}
  analysis:
    interval: 1s
    failureLimit: 0
    inconclusiveLimit: 60
    metrics:
      - name: error-rate
        provider: {local: {stat: error_rate}}
        thresholds: {max: 0.05}
        window: 5s
        minSamples: 20
"""

STICKY = """\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata: {name: sticky}
spec:
  sessionAffinity: {cookieName: rollout-canary, maxAge: 1h}
  steps:
    - setWeight: 20
    - pause: {duration: 4s}
    - setWeight: 50
    - pause: {}
"""


def _mirrors(local: Local) -> list[str]:
    table = local.proxy_table()
    return [m.name for m in table.mirrors] if table is not None else []


def test_a_mirror_lets_analysis_roll_back_a_canary_no_client_saw(local: Local) -> None:
    """A bad canary at weight 0 with a 100 % mirror: RolledBack on its answers to the
    copies; clients never got one of its errors."""
    local.start()
    local.apply(MIRROR, "shadow")
    local.service("shadow", "v1")
    local.wait_serving()
    load = Load(local.url(), rps=40)
    try:
        local.service("shadow", "v2", error_rate=0.5)
        local.wait_for(lambda: _mirrors(local) == ["shadow"], within=60, what="the mirror held")
        local.wait_for(lambda: local.phase() == "RolledBack", within=90, what="rolled back")
        local.wait_for(lambda: _mirrors(local) == [], within=30, what="the mirror dropped")
    finally:
        result = load.stop()
    # Clients were answered throughout (at least the analysis' minSamples were copied
    # while they were), only ever by the stable, and never saw an error.
    assert result.done >= 20, result.summary()
    assert set(result.by_revision) == {"web-00001"}, result.summary()
    assert result.failed == 0, result.summary()


class Client:
    """One user: its cookie jar (the sticky cookie only) and who served it."""

    def __init__(self) -> None:
        self.cookie: str | None = None
        self.served: list[str] = []

    def visit(self, url: str) -> str:
        request = urllib.request.Request(url)
        if self.cookie:
            request.add_header("Cookie", self.cookie)
        with urllib.request.urlopen(request, timeout=10) as response:
            revision = response.headers["Rollout-Revision"]
            set_cookie = response.headers.get("Set-Cookie")
        if set_cookie:
            self.cookie = set_cookie.split(";")[0]
        self.served.append(revision)
        return revision


def test_sticky_clients_stay_while_weights_grow_and_leave_on_abort(local: Local) -> None:
    """Once the canary served a client, every later request of it goes there (20 %,
    then 50 %); after an abort all of them are on the stable."""
    local.start()
    local.apply(STICKY, "sticky")
    local.service("sticky", "v1")
    local.wait_serving()
    url = local.url()
    stable = local.read()[0].status.stable_revision  # type: ignore[union-attr]
    local.service("sticky", "v2")
    local.wait_for(
        lambda: (t := local.proxy_table()) is not None and t.session_affinity is not None,
        within=60,
        what="the proxy holding the sticky session",
    )
    table = local.proxy_table()
    assert table is not None
    assert table.session_affinity is not None
    canary = table.session_affinity.revision_name
    clients = [Client() for _ in range(40)]
    deadline = time.monotonic() + 60
    while local.phase() != "Paused":  # at 20 %, then 50 %
        assert time.monotonic() < deadline, f"not paused at 50 % within 60 s: {local.phase()}"
        for client in clients:
            client.visit(url)
    for client in clients:  # at 50 %, paused
        client.visit(url)
    for client in clients:
        if canary in client.served:
            first = client.served.index(canary)
            assert set(client.served[first:]) == {canary}, client.served
    assert any(canary in c.served for c in clients)
    local.cli("abort", "web")
    local.wait_for(lambda: local.phase() == "Aborted", within=30, what="aborted")
    local.wait_for(
        lambda: (t := local.proxy_table()) is not None and t.session_affinity is None,
        within=30,
        what="the sticky session dropped",
    )
    assert {c.visit(url) for c in clients} == {stable}
