"""Who may see and act through the dashboard (issue 21): the address, the token, the
Host, the Origin and the CSRF token — the guard's decisions, without a server."""

from __future__ import annotations

import pytest

from rollout.cli.dashboard import guard


@pytest.mark.parametrize(
    ("addr", "expected"),
    [
        pytest.param("127.0.0.1:8765", ("127.0.0.1", 8765), id="ipv4"),
        pytest.param("[::1]:9000", ("::1", 9000), id="ipv6"),
        pytest.param("localhost:0", ("localhost", 0), id="any-port"),
        pytest.param("0.0.0.0:80", ("0.0.0.0", 80), id="every-address"),
    ],
)
def test_parse_addr(addr: str, expected: tuple[str, int]) -> None:
    assert guard.parse_addr(addr) == expected


@pytest.mark.parametrize("addr", ["8765", "127.0.0.1", "127.0.0.1:x", ":8765", "127.0.0.1:70000"])
def test_parse_addr_refuses(addr: str) -> None:
    with pytest.raises(ValueError, match=r"HOST:PORT|port|host"):
        guard.parse_addr(addr)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("192.168.1.10", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert guard.is_loopback(host) is loopback


def test_the_csrf_token_is_random_per_server_and_checked() -> None:
    a, b = guard.Guard("127.0.0.1", 1), guard.Guard("127.0.0.1", 1)
    assert a.csrf != b.csrf
    assert len(a.csrf) >= 32
    assert a.csrf_ok(a.csrf)
    assert not a.csrf_ok(b.csrf)
    assert not a.csrf_ok("")
    assert not a.csrf_ok(None)


def test_a_loopback_server_answers_only_to_its_loopback_names() -> None:
    """A DNS-rebinding page names its own host: refused."""
    g = guard.Guard("127.0.0.1", 8765)
    for ok in ("127.0.0.1:8765", "localhost:8765", "[::1]:8765", "LOCALHOST:8765"):
        assert g.host_ok(ok), ok
    for bad in ("evil.example:8765", "127.0.0.1:9999", "localhost", None):
        assert not g.host_ok(bad), bad


def test_a_server_on_every_address_takes_any_host() -> None:
    assert guard.Guard("0.0.0.0", 8765, token="t" * 16).host_ok("box.lan:8765")


def test_without_a_token_every_request_is_authorized() -> None:
    assert guard.Guard("127.0.0.1", 1).authorized(authorization=None, cookie=None, query=None)


@pytest.mark.parametrize(
    ("authorization", "cookie", "query", "ok"),
    [
        pytest.param("Bearer s3cret-s3cret-s3cret", None, None, True, id="bearer"),
        pytest.param(None, "s3cret-s3cret-s3cret", None, True, id="cookie"),
        pytest.param(None, None, "s3cret-s3cret-s3cret", True, id="query"),
        pytest.param("Bearer wrong", "wrong", "wrong", False, id="wrong"),
        pytest.param("s3cret-s3cret-s3cret", None, None, False, id="not-bearer"),
        pytest.param(None, None, None, False, id="none"),
    ],
)
def test_a_token_is_asked_of_every_request(
    authorization: str | None, cookie: str | None, query: str | None, ok: bool
) -> None:
    g = guard.Guard("0.0.0.0", 1, token="s3cret-s3cret-s3cret")
    assert g.authorized(authorization=authorization, cookie=cookie, query=query) is ok


@pytest.mark.parametrize(
    ("origin", "fetch_site", "ok"),
    [
        pytest.param("http://127.0.0.1:8765", "same-origin", True, id="own-page"),
        pytest.param(None, None, True, id="no-browser-headers"),
        pytest.param("http://evil.example", None, False, id="other-origin"),
        pytest.param("http://127.0.0.1:8765", "cross-site", False, id="cross-site"),
        pytest.param(None, "same-site", False, id="same-site-other-port"),
        pytest.param("null", None, False, id="opaque-origin"),
    ],
)
def test_a_post_must_come_from_the_dashboards_own_page(
    origin: str | None, fetch_site: str | None, ok: bool
) -> None:
    g = guard.Guard("127.0.0.1", 8765)
    assert g.same_origin(origin=origin, host="127.0.0.1:8765", fetch_site=fetch_site) is ok
