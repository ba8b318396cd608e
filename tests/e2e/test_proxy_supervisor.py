"""The proxy supervisor with the real proxy process (issue 13, finding 2): a killed or
hung proxy is restarted on its admin port and every route is woken; while it is down
the router reports `ProxyDown`; a table changed by someone else is noticed within a
poll and set right with a drift report.

The supervisor's `tick` is driven by the test where timing matters (no thread), and by
its thread where the point is how fast it notices. Every proxy is stopped by its PID.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rollout.api import meta, route, split
from rollout.platforms.local import router, runtime, supervisor
from rollout.platforms.local.proxy import client

ROUTE = ("default", "web")


def _route(url: str | None = None) -> route.Route:
    rt = route.Route(
        metadata=meta.ObjectMeta(name="web", namespace="default"),
        spec=route.RouteSpec(
            service="web",
            traffic=[split.TrafficTarget(revision_name="web-00001", percent=100)],
        ),
    )
    rt.status.url = url
    return rt


class World:
    """A supervised proxy on a state dir; a router whose revision is known down (no
    process runs it: the table is valid with no URL), and the wakes it receives."""

    def __init__(self, state_dir: Path, *, thread: bool) -> None:
        self.state_dir = state_dir
        self.woken: list[tuple[str, str]] = []
        self.woke = threading.Event()
        self.sup = supervisor.ProxySupervisor(state_dir, interval=0.05, timeout=0.5)
        self.router = router.LocalRouter(
            self.sup.client, lambda ns, rev: runtime.Endpoint(None), lambda ns, svc: None
        )
        self.sup.start(router=self.router, wake=self._wake, thread=thread)

    def _wake(self, namespace: str, name: str) -> None:
        self.woken.append((namespace, name))
        self.woke.set()

    def close(self) -> None:
        self.sup.stop()
        client.stop_proxy(self.state_dir)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path, thread=False)
    yield w
    w.close()


def test_a_killed_proxy_is_restarted_and_every_route_woken(world: World) -> None:
    first = world.router.apply(_route())
    assert first.problem is None
    old = world.sup.client()
    assert old.pid is not None
    token = (world.state_dir / "proxy.token").read_text()
    os.kill(old.pid, signal.SIGKILL)
    while client.alive(old.pid):  # reaped by `alive` (our child)
        time.sleep(0.01)

    down = world.router.apply(_route(first.url))  # before the supervisor looked
    assert down.problem is not None
    assert down.problem.reason == "ProxyDown"
    assert down.url == first.url

    world.sup.tick()  # sees it gone: wakes the routes (down), restarts, wakes them again
    new = world.sup.client()
    assert new.pid != old.pid
    assert new.admin_url == old.admin_url  # the same admin port
    assert (world.state_dir / "proxy.token").read_text() == token
    assert world.woken == [ROUTE, ROUTE]
    assert world.sup.restarts == 1
    assert 0 < world.sup.restart_gaps[0] < 10
    again = world.router.apply(_route(first.url))
    assert again.problem is None
    assert again.url == first.url  # the service back on its port
    assert again.drift == ""

    # Dying again at once: the next restart waits for the backoff, then comes.
    pid = new.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    while client.alive(pid):
        time.sleep(0.01)
    world.sup.tick()
    assert world.sup.restarts == 1
    deadline = time.monotonic() + 5
    while world.sup.restarts < 2:
        assert time.monotonic() < deadline, "not restarted after the backoff"
        time.sleep(0.05)
        world.sup.tick()


def test_a_hung_proxy_is_killed_and_replaced(world: World) -> None:
    """A proxy that does not answer (stopped) is restarted after a few failed looks."""
    old = world.sup.client()
    assert old.pid is not None
    os.kill(old.pid, signal.SIGSTOP)
    try:
        for _ in range(world.sup.failures_to_restart - 1):
            world.sup.tick()
            assert world.sup.restarts == 0
        world.sup.tick()
        assert world.sup.restarts == 1
        assert not client.alive(old.pid)
        assert world.sup.client().pid != old.pid
    finally:
        if client.alive(old.pid):
            os.kill(old.pid, signal.SIGKILL)


def test_a_table_changed_by_someone_else_is_noticed_within_a_poll(tmp_path: Path) -> None:
    """Someone with the token rewrites the table: the supervisor's thread wakes the
    route at its next look (the version moved and the table is not ours), and the next
    apply sets it right and reports the drift."""
    world = World(tmp_path, thread=True)
    try:
        applied = world.router.apply(_route())
        assert applied.url is not None
        time.sleep(0.2)  # our own write moved the version: it wakes nothing
        assert world.woken == []
        foreign = client.ProxyClient(world.sup.client().admin_url, token=world.sup.client().token)
        changed_at = time.monotonic()
        foreign.put_route(
            "default", "web", port=None,
            targets=[client.RouteTarget("web-00001", None, 100, tag="mine")],
        )  # fmt: skip
        assert world.woke.wait(5)
        noticed = time.monotonic() - changed_at
        assert noticed < 1.0, noticed
        assert world.woken == [ROUTE]
        fixed = world.router.apply(_route(applied.url))
        assert "was changed outside rollout (it routed web-00001=100% (not ready))" in fixed.drift
        table = world.sup.client().get_route(*ROUTE)
        assert table is not None
        assert [t.tag for t in table.targets] == [None]
    finally:
        world.close()


def test_a_proxy_without_a_token_file_is_replaced(tmp_path: Path) -> None:
    """A running proxy from before admin tokens (no token file) is not adopted: it
    would take writes from anyone; it is stopped and a locked-down one started."""
    first = client.ensure_proxy(tmp_path)
    try:
        assert first.pid is not None
        (tmp_path / "proxy.token").unlink()
        second = client.ensure_proxy(tmp_path)
        assert second.pid != first.pid
        assert not client.alive(first.pid)
        assert second.token == (tmp_path / "proxy.token").read_text().strip()
    finally:
        client.stop_proxy(tmp_path)
