"""The proxy's admin API in process (aiohttp test server): validation, the token on
every write, target URLs limited to our revisions' run files, /healthz; its header
rules."""

from __future__ import annotations

import asyncio
import os
import pathlib
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import test_utils
from multidict import CIMultiDict

from rollout.platforms.local import processes
from rollout.platforms.local.proxy import auth, forward, server

Check = Callable[[test_utils.TestClient[Any, Any]], Awaitable[None]]
TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _admin(check: Check, state_dir: pathlib.Path | None = None) -> None:
    """Run `check` against a fresh proxy's admin app (state dir: `state_dir`, or an
    empty directory that names no revision)."""

    async def main() -> None:
        proxy = server.ProxyServer(state_dir=state_dir or pathlib.Path("/nonexistent"), token=TOKEN)
        await proxy.start()
        try:
            async with test_utils.TestClient(test_utils.TestServer(proxy.admin_app())) as http:
                await check(http)
        finally:
            await proxy.close()

    asyncio.run(main())


def run_file(state_dir: pathlib.Path, revision: str, port: int, *, pid: int | None = None) -> None:
    """Say, as the local runtime does, that `revision` of namespace default runs on
    `port` (by default in this test process, which is alive)."""
    pid = pid or os.getpid()
    start = processes.proc_start(pid) or 1
    path = state_dir / "run" / f"default.{revision}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    processes.write_run_file(
        path, processes.RunRecord(pid=pid, port=port, started_at="now", proc_start=start)
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
            resp = await http.put(ROUTE, data=body, headers=AUTH)
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
            ("slowerThan=abc", "slowerThan seconds"),
            ("slowerThan=0", "must be positive seconds"),
        ],
        ids=["not-a-number", "reversed", "negative-samples", "slow-not-a-number", "slow-zero"],
    )
    def test_bad_stats_query_is_400(self, query: str, message: str) -> None:
        """Stats parameters are checked."""

        async def check(http: test_utils.TestClient[Any, Any]) -> None:
            resp = await http.get(f"/v1/stats/default/web/web-00001?{query}")
            assert resp.status == 400
            assert message in (await resp.json())["error"]

        _admin(check)

    def test_stats_with_slower_than_answer_timed_and_slow_requests(self) -> None:
        async def check(http: test_utils.TestClient[Any, Any]) -> None:
            resp = await http.get("/v1/stats/default/web/web-00001?since=0&until=10&slowerThan=0.2")
            assert resp.status == 200
            body = await resp.json()
            assert (body["timed"], body["slow"], body["slowerThan"]) == (0, 0, 0.2)
            plain = await (
                await http.get("/v1/stats/default/web/web-00001?since=0&until=10")
            ).json()
            assert "slow" not in plain

        _admin(check)

    def test_route_lifecycle(self) -> None:
        """PUT creates (port kept on the next PUT), GET reads it back, DELETE removes it."""

        async def check(http: test_utils.TestClient[Any, Any]) -> None:
            body = {
                "port": None,
                "targets": [{"revision": "web-00001", "url": None, "percent": 100, "tag": None}],
            }
            first = await http.put(ROUTE, json=body, headers=AUTH)
            assert first.status == 201
            applied = await first.json()
            again = await (await http.put(ROUTE, json=body, headers=AUTH)).json()
            assert again["port"] == applied["port"]
            assert applied["url"] == f"http://127.0.0.1:{applied['port']}"
            assert applied["targets"] == [
                {"revision": "web-00001", "url": None, "percent": 100, "tag": None, "ready": False}
            ]
            assert await (await http.get(ROUTE)).json() == applied
            assert (await http.get("/v1/routes")).status == 200
            assert (await http.delete(ROUTE, headers=AUTH)).status == 200
            assert (await http.get(ROUTE)).status == 404
            assert (await http.delete(ROUTE, headers=AUTH)).status == 404

        _admin(check)

    def test_port_in_use_is_409(self) -> None:
        """A port another route holds is refused with 409."""

        async def check(http: test_utils.TestClient[Any, Any]) -> None:
            body: dict[str, Any] = {"port": None, "targets": []}
            port = (await (await http.put(ROUTE, json=body, headers=AUTH)).json())["port"]
            resp = await http.put(
                "/v1/routes/default/other", json={**body, "port": port}, headers=AUTH
            )
            assert resp.status == 409
            assert f"cannot listen on 127.0.0.1:{port}" in (await resp.json())["error"]

        _admin(check)

    def test_healthz_and_metrics(self) -> None:
        """/healthz names the process, its boot and its route writes; /metrics is
        Prometheus text."""

        async def check(http: test_utils.TestClient[Any, Any]) -> None:
            health = await (await http.get("/healthz")).json()
            assert health["status"] == "ok"
            assert health["pid"] == os.getpid()
            assert (health["version"], health["routes"]) == (0, 0)
            body: dict[str, Any] = {"port": None, "targets": []}
            await http.put(ROUTE, json=body, headers=AUTH)
            await http.put(ROUTE, json=body, headers=AUTH)
            await http.put(ROUTE, data="not json", headers=AUTH)  # refused: not a write
            after = await (await http.get("/healthz")).json()
            assert (after["bootId"], after["version"], after["routes"]) == (
                health["bootId"],
                2,
                1,
            )
            await http.delete(ROUTE, headers=AUTH)
            assert (await (await http.get("/healthz")).json())["version"] == 3
            resp = await http.get("/metrics")
            assert resp.headers["Content-Type"].startswith("text/plain")
            assert "rollout_proxy_requests_total" in await resp.text()

        _admin(check)

    def test_each_proxy_process_has_its_own_boot_id(self) -> None:
        """Two proxies (a restart) answer different boot ids."""
        seen: list[str] = []

        async def check(http: test_utils.TestClient[Any, Any]) -> None:
            seen.append((await (await http.get("/healthz")).json())["bootId"])

        _admin(check)
        _admin(check)
        assert len(set(seen)) == 2


class TestLockedDown:
    """Finding 5 of issue 13: anyone on the host could steer traffic."""

    @pytest.mark.parametrize(
        "headers",
        [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}],
        ids=["no-token", "wrong-token", "not-bearer"],
    )
    def test_writes_without_the_token_are_401_and_change_nothing(
        self, headers: dict[str, str]
    ) -> None:
        """PUT and DELETE need `Authorization: Bearer <token>`; reads stay open."""

        async def check(http: test_utils.TestClient[Any, Any]) -> None:
            body: dict[str, Any] = {"port": None, "targets": []}
            assert (await http.put(ROUTE, json=body, headers=AUTH)).status == 201
            resp = await http.put("/v1/routes/default/other", json=body, headers=headers)
            assert resp.status == 401
            assert resp.headers["WWW-Authenticate"] == "Bearer"
            assert "unauthorized" in (await resp.json())["error"]
            assert (await http.delete(ROUTE, headers=headers)).status == 401
            assert (await http.get(ROUTE)).status == 200  # still there
            assert (await http.get("/v1/routes/default/other")).status == 404
            assert (await (await http.get("/healthz")).json())["version"] == 1
            for path in ("/healthz", "/metrics", "/v1/routes", "/v1/stats/default/web/web-00001"):
                assert (await http.get(path)).status == 200, path

        _admin(check)

    @pytest.mark.parametrize(
        "url",
        [
            "http://10.1.2.3:8080",
            "http://localhost:8080",
            "http://[::1]:8080",
            "http://127.0.0.2:8080",
            "https://127.0.0.1:8080",
            "http://user@127.0.0.1:8080",
            "http://127.0.0.1",
        ],
    )
    def test_a_url_that_is_not_local_is_400(self, url: str) -> None:
        """Only http://127.0.0.1:PORT is accepted, even with the token."""

        async def check(http: test_utils.TestClient[Any, Any]) -> None:
            body = {
                "port": None,
                "targets": [{"revision": "web-00001", "url": url, "percent": 100}],
            }
            resp = await http.put(ROUTE, json=body, headers=AUTH)
            assert resp.status == 400
            assert "targets[0].url: must be http://127.0.0.1:PORT" in (await resp.json())["error"]
            assert (await http.get(ROUTE)).status == 404

        _admin(check)

    def test_a_url_must_be_the_port_of_that_revision_in_the_run_files(
        self, tmp_path: pathlib.Path
    ) -> None:
        """A local port no run file names for that revision (a foreign server, another
        revision's port, a dead process's port) is refused with 400."""
        ours, theirs, dead = _free_port(), _free_port(), _free_port()
        run_file(tmp_path, "web-00001", ours)
        run_file(tmp_path, "web-00002", theirs)
        gone = processes.spawn(
            ["true"], env={}, cwd=tmp_path, log_path=tmp_path / "true.log", port=dead
        )
        assert gone.popen is not None
        gone.popen.wait()
        run_file(tmp_path, "web-00003", dead, pid=gone.pid)

        def body(revision: str, port: int) -> dict[str, Any]:
            url = f"http://127.0.0.1:{port}"
            return {"port": None, "targets": [{"revision": revision, "url": url, "percent": 100}]}

        async def check(http: test_utils.TestClient[Any, Any]) -> None:
            for revision, port in [
                ("web-00001", _free_port()),  # a port nobody named
                ("web-00001", theirs),  # another revision's port
                ("web-00009", ours),  # no run file for that revision
                ("web-00003", dead),  # its process is gone
            ]:
                resp = await http.put(ROUTE, json=body(revision, port), headers=AUTH)
                assert resp.status == 400, (revision, port)
                error = (await resp.json())["error"]
                assert f"targets[0].url: port {port} is not where revision {revision} runs" in error
            resp = await http.put(ROUTE, json=body("web-00001", ours), headers=AUTH)
            assert resp.status == 201, await resp.text()

        _admin(check, tmp_path)

    @pytest.mark.parametrize(
        ("path", "revision", "message"),
        [
            ("/v1/routes/Default/web", "web-00001", "namespace 'Default': must be a DNS label"),
            ("/v1/routes/default/web", "../../x", "targets[0].revision: must be a DNS label"),
            ("/v1/routes/default/web", ".hidden", "targets[0].revision: must be a DNS label"),
        ],
        ids=["namespace", "traversal", "dot"],
    )
    def test_names_are_dns_labels(self, path: str, revision: str, message: str) -> None:
        """Names become run file names: anything but a DNS label is refused."""

        async def check(http: test_utils.TestClient[Any, Any]) -> None:
            target = {"revision": revision, "url": None, "percent": 100}
            resp = await http.put(path, json={"port": None, "targets": [target]}, headers=AUTH)
            assert resp.status == 400
            assert message in (await resp.json())["error"]

        _admin(check)


class TestToken:
    def test_created_once_with_mode_0600_and_kept(self, tmp_path: pathlib.Path) -> None:
        """The proxy makes a private token when there is none and keeps an existing one."""
        token = auth.load_or_create(tmp_path)
        path = tmp_path / auth.TOKEN_FILE
        assert len(token) >= 32
        assert path.stat().st_mode & 0o777 == 0o600
        assert auth.load_or_create(tmp_path) == token
        assert auth.read(tmp_path) == token
        assert auth.authorized(f"Bearer {token}", token)
        assert not auth.authorized(f"Bearer {token}x", token)
        assert not auth.authorized(None, token)

    def test_a_token_others_can_read_is_refused(self, tmp_path: pathlib.Path) -> None:
        """A token file with group or other access is not used (it may have leaked)."""
        auth.load_or_create(tmp_path)
        (tmp_path / auth.TOKEN_FILE).chmod(0o644)
        with pytest.raises(auth.TokenError, match="must be a file of yours with mode 0600"):
            auth.read(tmp_path)

    def test_a_missing_token_is_a_clear_error(self, tmp_path: pathlib.Path) -> None:
        with pytest.raises(auth.TokenError, match="no proxy token"):
            auth.read(tmp_path)


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
