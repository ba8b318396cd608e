"""Who may see the dashboard and who may act through it.

- **The address.** `parse_addr("127.0.0.1:8765")`; `is_loopback(host)`. The command
  refuses an address other than loopback without a token: anyone who reaches the
  port could otherwise promote or abort.
- **The token** (`--token`, `--token-file`): when given, every request carries it —
  `Authorization: Bearer T`, or the cookie the server sets when the page is first
  opened with `?token=T` (HttpOnly, SameSite=Strict). Compared in constant time.
- **Host.** A request naming a Host the server was not opened as is refused (a DNS
  rebinding page would name its own): the bound address, and for a loopback one
  `localhost`, `127.0.0.1` and `[::1]` on the same port. Bound to every address
  (`0.0.0.0`, `::`), any Host (a token is required there anyway).
- **CSRF.** Every action is a POST carrying the server's random token (`csrf`,
  made at start, embedded in the page), compared with `hmac.compare_digest`; a POST
  whose `Origin` is not the server's own, or that a browser marks cross-site
  (`Sec-Fetch-Site`), is refused whatever it carries.

No I/O: values in, decisions out (`secrets` makes the token). Called by `server` and
the dashboard command.
"""

from __future__ import annotations

import dataclasses
import hmac
import ipaddress
import secrets

__all__ = ["COOKIE", "Guard", "host_port", "is_loopback", "parse_addr"]

COOKIE = "rollout-dashboard"
_ANY = ("0.0.0.0", "::", "")


def parse_addr(addr: str) -> tuple[str, int]:
    """`host:port` (`[::1]:8765` for IPv6) → (host, port); ValueError saying why."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"{addr!r} is not HOST:PORT (e.g. 127.0.0.1:8765)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    number = int(port)
    if not 0 <= number <= 65535:
        raise ValueError(f"{addr!r}: port {number} is not between 0 and 65535")
    if not host:
        raise ValueError(f"{addr!r}: give the host (e.g. 127.0.0.1:{number})")
    return host, number


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable only from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_port(host: str, port: int) -> str:
    """`127.0.0.1:8765`, `[::1]:8765`: as a URL and a Host header name them."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclasses.dataclass(frozen=True)
class Guard:
    """The decisions of one server: opened as `host:port`, with `token` (None: no
    token asked) and its CSRF token `csrf`."""

    host: str
    port: int
    token: str | None = None
    csrf: str = dataclasses.field(default_factory=lambda: secrets.token_urlsafe(32))

    @property
    def hosts(self) -> frozenset[str] | None:
        """The Host values accepted; None: any (bound to every address)."""
        if self.host in _ANY:
            return None
        names = {self.host}
        if is_loopback(self.host):
            names |= {"localhost", "127.0.0.1", "::1"}
        return frozenset(host_port(n, self.port) for n in names)

    def host_ok(self, host: str | None) -> bool:
        allowed = self.hosts
        return allowed is None or (host is not None and host.lower() in allowed)

    def authorized(
        self, *, authorization: str | None, cookie: str | None, query: str | None
    ) -> bool:
        """Whether a request carries the token (always, when none is asked)."""
        if self.token is None:
            return True
        given = [cookie, query]
        if authorization is not None and authorization.startswith("Bearer "):
            given.append(authorization.removeprefix("Bearer ").strip())
        return any(g is not None and _same(g, self.token) for g in given)

    def csrf_ok(self, value: str | None) -> bool:
        return value is not None and _same(value, self.csrf)

    def same_origin(self, *, origin: str | None, host: str | None, fetch_site: str | None) -> bool:
        """Whether a POST comes from the dashboard's own page: its Origin, when the
        browser sends one, is `http://<Host>`; a browser's Sec-Fetch-Site, when sent,
        says same-origin (or none: typed by the user)."""
        if fetch_site is not None and fetch_site not in ("same-origin", "none"):
            return False
        if origin is None:
            return True  # not a browser's cross-site request; the CSRF token decides
        return host is not None and origin.lower() in (f"http://{host.lower()}",)


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())
