"""The proxy's admin API in process (aiohttp test server), its header rules, and the
LocalRouter over a recording client."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest
from aiohttp import test_utils
from multidict import CIMultiDict

from rollout.api import meta, route, split
from rollout.platforms.local import router
from rollout.platforms.local.proxy import client, forward, server

Check = Callable[[test_utils.TestClient[Any, Any]], Awaitable[None]]


def _admin(check: Check) -> None:
    """Run `check` against a fresh proxy's admin app."""

    async def main() -> None:
        proxy = server.ProxyServer()
        await proxy.start()
        try:
            async with test_utils.TestClient(test_utils.TestServer(proxy.admin_app())) as http:
                await check(http)
        finally:
            await proxy.close()

    asyncio.run(main())


ROUTE = "/v1/routes/default/web"


class TestAdminValidation:
    @pytest.mark.parametrize(
        ("body", "message"),
        [
            ("not json", "body: not JSON"),
            ('{"port": null}', "targets: required"),
            (
                '{"port": null, "targets": [{"revision": "a", "url": null, "percent": 50}]}',
                "targets: percents must sum to 100 (they sum to 50)",
            ),
        ],
        ids=["not-json", "no-targets", "bad-sum"],
    )
    def test_bad_put_is_400_with_the_reason(self, body: str, message: str) -> None:
        """A bad route body is refused with 400 and one clear error."""

        async def check(http: test_utils.TestClient[Any, Any]) -> None:
            resp = await http.put(ROUTE, data=body)
            assert resp.status == 400
            assert message in (await resp.json())["error"]
            assert (await http.get(ROUTE)).status == 404  # nothing was applied

        _admin(check)

    @pytest.mark.parametrize(
        ("query", "message"),
        [
            ("since=abc", "must be unix seconds"),
            ("since=10&until=5", "must not be after until"),
            ("samples=-1", "samples must be between 0 and 100000"),
        ],
        ids=["not-a-number", "reversed", "negative-samples"],
    )
    def test_bad_stats_query_is_400(self, query: str, message: str) -> None:
        """Stats parameters are checked."""

        async def check(http: test_utils.TestClient[Any, Any]) -> None:
            resp = await http.get(f"/v1/stats/default/web/web-00001?{query}")
            assert resp.status == 400
            assert message in (await resp.json())["error"]

        _admin(check)

    def test_route_lifecycle(self) -> None:
        """PUT creates (port kept on the next PUT), GET reads it back, DELETE removes it."""

        async def check(http: test_utils.TestClient[Any, Any]) -> None:
            body = {
                "port": None,
                "targets": [{"revision": "web-00001", "url": None, "percent": 100, "tag": None}],
            }
            first = await http.put(ROUTE, json=body)
            assert first.status == 201
            applied = await first.json()
            again = await (await http.put(ROUTE, json=body)).json()
            assert again["port"] == applied["port"]
            assert applied["url"] == f"http://127.0.0.1:{applied['port']}"
            assert applied["targets"] == [
                {"revision": "web-00001", "url": None, "percent": 100, "tag": None, "ready": False}
            ]
            assert await (await http.get(ROUTE)).json() == applied
            assert (await http.get("/v1/routes")).status == 200
            assert (await http.delete(ROUTE)).status == 200
            assert (await http.get(ROUTE)).status == 404
            assert (await http.delete(ROUTE)).status == 404

        _admin(check)

    def test_port_in_use_is_409(self) -> None:
        """A port another route holds is refused with 409."""

        async def check(http: test_utils.TestClient[Any, Any]) -> None:
            body: dict[str, Any] = {"port": None, "targets": []}
            port = (await (await http.put(ROUTE, json=body)).json())["port"]
            resp = await http.put("/v1/routes/default/other", json={**body, "port": port})
            assert resp.status == 409
            assert f"cannot listen on 127.0.0.1:{port}" in (await resp.json())["error"]

        _admin(check)

    def test_healthz_and_metrics(self) -> None:
        """/healthz answers 200; /metrics is Prometheus text."""

        async def check(http: test_utils.TestClient[Any, Any]) -> None:
            assert (await http.get("/healthz")).status == 200
            resp = await http.get("/metrics")
            assert resp.headers["Content-Type"].startswith("text/plain")
            assert "rollout_proxy_requests_total" in await resp.text()

        _admin(check)


class TestHeaders:
    def test_request_headers_drop_hop_by_hop_and_add_forwarded_for(self) -> None:
        """Hop-by-hop, Connection-named and Expect headers go; X-Forwarded-For grows."""
        given = CIMultiDict(
            [
                ("Host", "svc"),
                ("Connection", "keep-alive, X-Private"),
                ("X-Private", "1"),
                ("Keep-Alive", "timeout=5"),
                ("Transfer-Encoding", "chunked"),
                ("Expect", "100-continue"),
                ("X-Forwarded-For", "10.0.0.1"),
                ("Accept", "a"),
                ("Accept", "b"),
            ]
        )
        out = forward.request_headers(given, "127.0.0.1")
        assert list(out.items()) == [
            ("Host", "svc"),
            ("Accept", "a"),
            ("Accept", "b"),
            ("X-Forwarded-For", "10.0.0.1, 127.0.0.1"),
        ]

    def test_response_headers_name_the_revision(self) -> None:
        """The response says which revision served it; hop-by-hop headers go."""
        given = CIMultiDict([("Content-Length", "3"), ("Connection", "close"), ("Upgrade", "x")])
        out = forward.response_headers(given, "web-00002")
        assert dict(out) == {"Content-Length": "3", "Rollout-Revision": "web-00002"}


class RecordingClient(client.ProxyClient):
    """A ProxyClient that answers like the proxy, without one."""

    def __init__(self) -> None:
        super().__init__("http://proxy.invalid")
        self.puts: list[tuple[str, str, int | None, list[client.RouteTarget]]] = []
        self.deleted: list[tuple[str, str]] = []

    def put_route(
        self,
        namespace: str,
        service: str,
        *,
        port: int | None,
        targets: Sequence[client.RouteTarget],
    ) -> client.Route:
        self.puts.append((namespace, service, port, list(targets)))
        answer = [
            client.RouteTarget(t.revision, t.url, t.percent, t.tag, t.url is not None)
            for t in targets
        ]
        return client.Route(namespace, service, 8080, "http://127.0.0.1:8080", tuple(answer))

    def delete_route(self, namespace: str, service: str) -> bool:
        self.deleted.append((namespace, service))
        return True


class TestLocalRouter:
    def _route(self) -> route.Route:
        return route.Route(
            metadata=meta.ObjectMeta(name="web", namespace="team"),
            spec=route.RouteSpec(
                service="web",
                traffic=[
                    split.TrafficTarget(revision_name="web-00001", percent=80),
                    split.TrafficTarget(revision_name="web-00002", percent=20, tag="canary"),
                ],
            ),
        )

    def test_apply_sends_urls_and_port_and_reads_back(self) -> None:
        """URLs per revision (None: not ready), the service port, and the answer read back."""
        fake = RecordingClient()
        urls = {"web-00001": "http://127.0.0.1:9001"}
        local = router.LocalRouter(
            fake, url_of=lambda ns, rev: urls.get(rev), port_of=lambda ns, svc: 8080
        )
        applied = local.apply(self._route())
        assert fake.puts == [
            (
                "team",
                "web",
                8080,
                [
                    client.RouteTarget("web-00001", "http://127.0.0.1:9001", 80),
                    client.RouteTarget("web-00002", None, 20, "canary"),
                ],
            )
        ]
        assert applied.url == "http://127.0.0.1:8080"
        assert applied.traffic == [
            split.TrafficStatus(revision_name="web-00001", percent=80),
            split.TrafficStatus(
                revision_name="web-00002", percent=20, tag="canary", url="http://127.0.0.1:8080"
            ),
        ]

    def test_remove_deletes_the_route(self) -> None:
        """remove() stops the service's listener."""
        fake = RecordingClient()
        router.LocalRouter(fake, lambda ns, rev: None, lambda ns, svc: None).remove("team", "web")
        assert fake.deleted == [("team", "web")]
