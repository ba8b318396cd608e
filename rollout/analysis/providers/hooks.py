"""The webhook transport: one signed HTTP POST of a JSON payload, with bounded retries.

What a hook *means* (a gate, a check, a notification) is the engine's business; this
module only carries a body to a URL and says what came back, as a `CallResult`
(`ok` for a 2xx, the status, one printable `error` line, the attempts, the time).

- `encode(payload)`: canonical JSON — sorted keys, compact separators, UTF-8,
  datetimes as RFC 3339 UTC (`2025-01-01T12:00:00Z`; a naive datetime is refused),
  no NaN or infinity — so a signature is over exactly the bytes sent;
- `sign(body, secret)` → `sha256=<hex HMAC-SHA256>`, sent as `SIGNATURE_HEADER`;
  `verify(body, secret, header)` compares in constant time (for receivers and tests);
- `call(url, body, timeout=…, retries=…, secret=…)`: POST with `Content-Type:
  application/json`, `User-Agent: rollout-webhook` and the signature when there is a
  secret; user info in the URL (`https://user:pw@host/`) is sent as Basic
  `Authorization` (urllib would take it for part of the host name).

**Deadlines.** Each attempt has a hard total deadline of `timeout` seconds for
connecting, the status line and headers (and the body when it is read), through the
web provider's deadline handlers (`web`, `deadline`): a server dripping a byte every
half second cannot stretch an attempt. A 2xx is the answer once its headers arrive;
its body is not read. Another answer's body is read (at most `MAX_BODY` bytes, within
the same deadline) only to quote its start in `error`. What a read cannot bound — a
name lookup, a TLS handshake dripped byte by byte — is the caller's backstop, as for
the web provider.

**No redirects.** `post_within` is `web.open_within` without the redirect handler:
urllib would replay a POST answered 301/302/303 as a GET elsewhere, so a 3xx is an
answer, and not a 2xx (`web.open_within(..., redirects=False)`).

**Retries.** Only where another try may answer differently: a connection error, no
answer within the deadline, HTTP 5xx and 429. Any other answer is definitive — a 4xx
is a gate saying no, a 3xx a misconfigured URL, a malformed answer a broken
endpoint. Between attempts `sleep(backoff(n))`: 0.5 s doubling, capped at 5 s;
`Retry-After` is not honoured (it would lift the bound). So a call ends within
`bound(timeout, retries)` = `timeout * (retries + 1) + sum(backoff(n) for n < retries)`,
and never raises.

**Errors say "the webhook", never its URL** (a Slack incoming-webhook URL is itself a
credential, in its path, which `policyspec.redact_url` does not hide), and never the
secret: the secret, the URL and its parts (user info, path, query values) are masked
(`***`) wherever an answer echoes them — before the excerpt is cut, and a cut-off
trailing piece of one too. Then `printable` makes the text one line:
`HTTP 403: denied by policy`, `HTTP 302: a redirect, not followed`,
`no answer within 2s`, `unreachable: Connection refused`.

I/O only through the injectable `opener` (default `post_within`; any
`urllib.request.urlopen`-shaped callable). Time through `sleep` and `now`. Binds
nothing. No decisions. Nothing calls it yet; the engine's hook runner will.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from rollout.analysis.providers import printable, web

__all__ = [
    "MAX_BACKOFF",
    "MAX_BODY",
    "SIGNATURE_HEADER",
    "USER_AGENT",
    "CallResult",
    "backoff",
    "call",
    "encode",
    "post_within",
    "sign",
    "verify",
]

SIGNATURE_HEADER = "X-Rollout-Signature"
USER_AGENT = "rollout-webhook"
MAX_BODY = 64 * 1024  # of an answer read to quote it
FIRST_BACKOFF = 0.5
MAX_BACKOFF = 5.0
EXCERPT = 120  # characters of an answer quoted in an error
_MASK = "***"
_MIN_PIECE = 4  # parts of the URL shorter than this are not masked (they match anywhere)


@dataclasses.dataclass(frozen=True)
class CallResult:
    """What a webhook call came to: `ok` is a 2xx; `status` and `error` of the last
    attempt (`error` None when ok); `attempts` made; `elapsed` seconds in all."""

    ok: bool
    status: int | None
    error: str | None
    attempts: int
    elapsed: float


# -- the body and its signature ---------------------------------------------------------


def encode(payload: Mapping[str, Any]) -> bytes:
    """`payload` as canonical JSON bytes (see the module); `TypeError` or `ValueError`
    for what JSON cannot say (an object, a naive datetime, NaN, infinity)."""
    text = json.dumps(
        payload,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_json_default,
    )
    return text.encode("utf-8")


def sign(body: bytes, secret: bytes) -> str:
    """`sha256=` and the hex HMAC-SHA256 of `body` keyed by `secret`."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: bytes, header: str | None) -> bool:
    """Whether `header` (a `SIGNATURE_HEADER` value) signs `body` with `secret`;
    compared in constant time."""
    if header is None:
        return False
    try:
        given = header.encode("ascii")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(sign(body, secret).encode("ascii"), given)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"a naive datetime has no place in a payload: {value.isoformat()}")
        return value.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# -- the call ---------------------------------------------------------------------------


def backoff(attempt: int) -> float:
    """Seconds to wait after failed attempt `attempt` (0-based): 0.5 doubling, ≤ 5."""
    return min(FIRST_BACKOFF * 2.0 ** min(attempt, 16), MAX_BACKOFF)


def bound(timeout: float, retries: int) -> float:
    """The longest a `call` can take: every attempt and every backoff between them."""
    return timeout * (retries + 1) + sum(backoff(n) for n in range(retries))


def call(
    url: str,
    body: bytes,
    *,
    timeout: float,
    retries: int,
    secret: bytes | None = None,
    opener: web.Opener | None = None,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], float] = time.monotonic,
) -> CallResult:
    """POST `body` to `url` (see the module): up to `1 + retries` attempts of at most
    `timeout` seconds each, retried only when another try may answer differently."""
    started = now()
    hidden = _hidden(url, secret)
    parts = _target(url)
    if parts is None:
        return CallResult(
            ok=False,
            status=None,
            error="the webhook URL is not an http or https URL",
            attempts=0,
            elapsed=now() - started,
        )
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if secret is not None:
        headers[SIGNATURE_HEADER] = sign(body, secret)
    if parts.username is not None:  # urllib would look the user info up as a host name
        url, auth = _basic_auth(parts)
        headers["Authorization"] = auth
        hidden = sorted({*hidden, auth, auth.removeprefix("Basic ")}, key=len, reverse=True)
    open_ = opener if opener is not None else post_within
    attempts = 0
    while True:
        attempt = _attempt(open_, url, body, headers, timeout, hidden)
        attempts += 1
        if not attempt.retry or attempts > max(retries, 0):
            return CallResult(
                ok=attempt.ok,
                status=attempt.status,
                error=None if attempt.ok else printable.printable(attempt.error),
                attempts=attempts,
                elapsed=now() - started,
            )
        sleep(backoff(attempts - 1))


def post_within(request: urllib.request.Request, timeout: float) -> http.client.HTTPResponse:
    """`web.open_within` without redirects: a total deadline of `timeout` seconds from
    now; a non-2xx answer (3xx included) raises `urllib.error.HTTPError`."""
    return web.open_within(request, timeout, redirects=False)


# -- one attempt ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Attempt:
    ok: bool
    status: int | None
    error: str
    retry: bool


def _attempt(
    open_: web.Opener,
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
    hidden: list[str],
) -> _Attempt:
    late = _Attempt(False, None, f"no answer within {timeout:g}s", retry=True)
    try:
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        with open_(request, timeout=timeout) as response:
            return _answer(response.status, response, getattr(response, "reason", ""), hidden)
    except urllib.error.HTTPError as exc:
        try:
            return _answer(exc.code, exc.fp, str(exc.reason), hidden)
        finally:
            exc.close()
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            return late
        return _unreachable(exc.reason, hidden)
    except TimeoutError:
        return late
    except ConnectionError as exc:  # before the status line: reset, or closed unanswered
        return _unreachable(exc, hidden)
    except http.client.HTTPException as exc:
        return _Attempt(
            False, None, f"not a valid HTTP answer from the webhook ({type(exc).__name__})", False
        )
    except OSError as exc:
        return _unreachable(exc, hidden)
    except Exception as exc:  # an invalid URL part, or a failing injected opener
        return _Attempt(False, None, f"the webhook call failed ({type(exc).__name__})", False)


def _answer(status: int, stream: Any, reason: str, hidden: list[str]) -> _Attempt:
    if 200 <= status < 300:
        return _Attempt(True, status, "", retry=False)
    if 300 <= status < 400:
        return _Attempt(False, status, f"HTTP {status}: a redirect, not followed", retry=False)
    text, whole = _read_some(stream)
    excerpt = _mask(text, hidden, cut=not whole).strip() or _mask(reason or "", hidden, cut=False)
    error = f"HTTP {status}"
    if excerpt:
        error += ": " + printable.printable(excerpt, limit=EXCERPT)
    return _Attempt(False, status, error, retry=status == 429 or status >= 500)


def _unreachable(reason: object, hidden: list[str]) -> _Attempt:
    """A connection error: its OS message (`Connection refused`), never its text with
    an address in it."""
    said = getattr(reason, "strerror", None)
    if not isinstance(said, str) or not said:
        said = type(reason).__name__ if isinstance(reason, BaseException) else str(reason)
    return _Attempt(False, None, f"unreachable: {_mask(said, hidden, cut=False)}", retry=True)


def _read_some(stream: Any) -> tuple[str, bool]:
    """Up to `MAX_BODY` bytes of an answer within its deadline, as text (undecodable
    bytes as \\xNN), and whether that is the whole answer."""
    if stream is None:
        return "", True
    data = b""
    whole = False
    read = getattr(stream, "read1", None) or stream.read
    try:
        while len(data) < MAX_BODY:
            chunk = read(MAX_BODY - len(data))
            if not chunk:
                whole = True
                break
            data += chunk
    except (OSError, ValueError, http.client.HTTPException):
        pass  # past the deadline, or cut: quote what came
    return data.decode("utf-8", "backslashreplace"), whole


# -- masking ----------------------------------------------------------------------------


def _target(url: str) -> urllib.parse.SplitResult | None:
    """The parts of an http(s) URL with a host; None for anything else."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts


def _basic_auth(parts: urllib.parse.SplitResult) -> tuple[str, str]:
    """The URL without its user info, and that user info as a Basic `Authorization`."""
    user = urllib.parse.unquote(parts.username or "")
    password = urllib.parse.unquote(parts.password or "")
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=host)), f"Basic {token}"


def _hidden(url: str, secret: bytes | None) -> list[str]:
    """What an error must never show: the secret, the URL and its parts (user info,
    path, query and its values, fragment, also unquoted); longest first."""
    candidates = [url]
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        parts = None
    if parts is not None:
        candidates += [parts.path, parts.query, parts.fragment]
        userinfo, at, _ = parts.netloc.rpartition("@")
        if at:
            candidates += [userinfo, *userinfo.split(":", 1)]
        for pair in parts.query.split("&"):
            candidates.append(pair.partition("=")[2])
    pieces = {p for c in candidates for p in (c, urllib.parse.unquote_plus(c))}
    pieces = {p for p in pieces if len(p) >= _MIN_PIECE}
    if secret:
        pieces.add(secret.decode("utf-8", "backslashreplace"))
    return sorted(pieces, key=len, reverse=True)


def _mask(text: str, hidden: list[str], *, cut: bool) -> str:
    """`text` with every hidden piece masked; when `cut`, also an ending that is the
    start of one (the answer stopped inside it)."""
    for piece in hidden:
        text = text.replace(piece, _MASK)
    if cut:
        for piece in hidden:
            for size in range(min(len(piece) - 1, len(text)), 0, -1):
                if text.endswith(piece[:size]):
                    text = text[:-size] + _MASK
                    break
    return text
