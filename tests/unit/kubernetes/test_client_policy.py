"""The API client's manners, as pure functions: the token bucket of the client-side
rate limit (`ratelimit`) and which answers are retried after how long (`retries`)."""

from __future__ import annotations

import threading

import pytest

from rollout.platforms.kubernetes import apiclient, ratelimit, retries


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# (seconds since the start when a request asks, its max_wait) → wait or None
@pytest.mark.parametrize(
    ("qps", "burst", "asks", "waits"),
    [
        pytest.param(5.0, 2, [(0, 9), (0, 9), (0, 9)], [0.0, 0.0, 0.2], id="burst-then-1/qps"),
        pytest.param(
            5.0, 2, [(0, 9), (0, 9), (0, 9), (0, 9)], [0.0, 0.0, 0.2, 0.4], id="waiters-queue"
        ),
        pytest.param(5.0, 2, [(0, 9), (0, 9), (0.1, 9)], [0.0, 0.0, 0.1], id="refill-counts"),
        pytest.param(
            5.0, 2, [(0, 9), (0, 9), (10, 9), (10, 9), (10, 9)], [0, 0, 0, 0, 0.2], id="refill-caps"
        ),
        pytest.param(
            5.0, 1, [(0, 9), (0, 0.1), (0, 9)], [0.0, None, 0.2], id="past-deadline-takes-nothing"
        ),
        pytest.param(0.0, 1, [(0, 0), (0, 0), (0, 0)], [0.0, 0.0, 0.0], id="qps-0-unlimited"),
        pytest.param(20.0, 30, [(0, 9)] * 31, [0.0] * 30 + [0.05], id="defaults-shape"),
    ],
)
def test_token_bucket(
    qps: float, burst: int, asks: list[tuple[float, float]], waits: list[float | None]
) -> None:
    clock = FakeClock()
    start = clock.now
    bucket = ratelimit.TokenBucket(qps, burst, clock=clock)
    got = []
    for at, max_wait in asks:
        clock.now = start + at
        got.append(bucket.reserve(max_wait))
    assert got == pytest.approx(waits)


def test_token_bucket_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="qps must be >= 0 and burst >= 1"):
        ratelimit.TokenBucket(-1, 1)
    with pytest.raises(ValueError, match="burst >= 1"):
        ratelimit.TokenBucket(5, 0)


def test_token_bucket_is_shared_fairly_between_threads() -> None:
    """Many threads at once: every token is handed out once, the waits are the queue
    0, 0, 0.1, 0.2, … whatever the interleaving."""
    clock = FakeClock()
    bucket = ratelimit.TokenBucket(10.0, 2, clock=clock)
    waits: list[float | None] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(25):
            wait = bucket.reserve()
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = [0.0, 0.0] + [round(0.1 * i, 6) for i in range(1, 199)]
    assert sorted(round(w or 0, 6) for w in waits) == expected


@pytest.mark.parametrize(
    ("method", "status", "retry_after", "attempt", "remaining", "expected"),
    [
        pytest.param("GET", 429, "1", 0, 15, 1.0, id="429-retry-after"),
        pytest.param("POST", 429, "2", 0, 15, 2.0, id="create-on-429-is-safe"),
        pytest.param("PATCH", 429, None, 0, 15, 0.125 + 0.125 * 0.5, id="429-no-header-backoff"),
        pytest.param("GET", 500, None, 0, 15, 0.1875, id="get-500"),
        pytest.param("GET", 502, None, 1, 15, 0.375, id="get-502-second"),
        pytest.param("GET", 503, "3", 0, 15, 3.0, id="get-503-retry-after"),
        pytest.param("GET", 504, None, 9, 15, 3.0, id="backoff-capped"),
        pytest.param("PUT", 500, None, 0, 15, 0.1875, id="put-rv-guarded"),
        pytest.param("PATCH", 503, None, 0, 15, 0.1875, id="merge-patch-idempotent"),
        pytest.param("DELETE", 504, None, 0, 15, 0.1875, id="delete-idempotent"),
        pytest.param("POST", 500, None, 0, 15, None, id="create-not-on-500"),
        pytest.param("POST", 503, "1", 0, 15, None, id="create-not-on-503"),
        pytest.param("GET", 501, None, 0, 15, None, id="501-not-transient"),
        pytest.param("GET", 409, None, 0, 15, None, id="conflict-is-an-answer"),
        pytest.param("GET", 404, None, 0, 15, None, id="not-found-is-an-answer"),
        pytest.param("GET", 429, "1", 10, 15, None, id="retries-bounded"),
        pytest.param("GET", 429, "5", 0, 4.9, None, id="past-the-deadline"),
        pytest.param("GET", 429, "soon", 0, 15, 0.1875, id="unparsed-header-backoff"),
        pytest.param("GET", 429, "0", 0, 15, 0.0, id="retry-after-0-at-once"),
    ],
)
def test_retry_delay(
    method: str,
    status: int,
    retry_after: str | None,
    attempt: int,
    remaining: float,
    expected: float | None,
) -> None:
    got = retries.delay(method, status, retry_after, attempt=attempt, remaining=remaining, draw=0.5)
    assert got == (pytest.approx(expected) if expected is not None else None)


@pytest.mark.parametrize("attempt", range(12))
def test_backoff_stays_within_its_jitter(attempt: int) -> None:
    ceiling = min(retries.BACKOFF_CAP, retries.BACKOFF_BASE * 2**attempt)
    assert retries.backoff(attempt, 0.0) == pytest.approx(ceiling / 2)
    assert retries.backoff(attempt, 0.999999) == pytest.approx(ceiling, rel=1e-5)


def test_traffic_is_exposed_to_prometheus() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    traffic = apiclient.Traffic(7, 3)
    traffic.sent("GET", 200)
    traffic.sent("GET", 429)
    traffic.retried("GET", 429)
    traffic.waited(0.5)
    registry = CollectorRegistry()
    registry.register(apiclient.collector(traffic))
    text = generate_latest(registry).decode()
    assert 'rollout_kube_requests_total{code="200",verb="GET"} 1.0' in text
    assert 'rollout_kube_request_retries_total{code="429",verb="GET"} 1.0' in text
    assert "rollout_kube_throttle_wait_seconds_total 0.5" in text
    assert "rollout_kube_client_qps 7.0" in text
    assert "rollout_kube_client_burst 3.0" in text
