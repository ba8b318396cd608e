"""The `web` metric provider: HTTP GET of a templated URL returning JSON; a JSON
path selects the number.

The URL is rendered with every value percent-encoded (`rendering.render_url`), and
fetched with the stdlib (`urllib.request`, so proxies from the environment and
redirects work as usual) with the provider's headers; the body (at most 1 MiB) must
be JSON. `jsonPath` is a small subset of JSONPath, enough to reach one number
(`select`, pure): `$`, `$.a.b`, `$.a[0].b`, `$[2]`.

**A hard total deadline** (`open_within`): the provider's `timeout` bounds the whole
answer — connecting, the status line and headers, and the body — not each socket
read (a server dripping one byte every half second kept a reading, and with it the
release, waiting for minutes). Every read of the answer sets the socket's timeout to
the time left before the deadline (`deadline`), through urllib's own handlers with a
connection class whose responses read that way. Chosen over an asyncio client
in a short-lived loop: it keeps urllib's proxy and redirect handling and the
injectable `urlopen`-shaped opener, and needs no event loop per reading. What it
cannot bound — a name lookup, a TLS handshake dripped byte by byte — the
controller's measurement runner bounds (`rollout.controller.measuring`).

**Headers**: a literal value, or `{valueFrom: {env | file | secretKeyRef}}` resolved
now, at measurement time (`secrets.resolve`; `secretKeyRef` through the platform's
`SecretReader`, none outside Kubernetes). A header whose name is not an HTTP token,
or whose value holds CR, LF, NUL or another control character, is an error reading
naming the header — never a request with it. Errors name the header and the source,
never a value, and any resolved value an answer echoes back is masked (`***`).

The selected value must be a number (JSON true/false are not numbers); a string that
parses as a number (`"0.02"`) is accepted; JSON `null` is no data (`value` None,
Inconclusive); NaN is left to `evaluate` (Inconclusive). Everything else — HTTP
status ≥ 400, unreachable, no complete answer within the timeout, a malformed HTTP
answer, not JSON, a path that is missing, not a number — is `Measurement(error=…)`
with the reason; nothing is raised. Undecodable bytes of a body are quoted as `\\xNN`.
`compare` is not supported with this provider (validation refuses it; an error
reading says to use thresholds or the local provider).

I/O only through the injectable `opener` (default `open_within`; tests may pass
`urllib.request.urlopen`-shaped fakes) and the `SecretReader`. No decisions (that is
`evaluate`). Called by `Providers` for `web` metrics.
"""

from __future__ import annotations

import http.client
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from rollout.analysis import measurement
from rollout.analysis.providers import deadline, rendering, secrets
from rollout.api import policyspec

__all__ = [
    "COMPARE_UNSUPPORTED",
    "MAX_BODY",
    "Opener",
    "PathError",
    "WebProvider",
    "open_within",
    "parse_path",
    "select",
    "to_number",
]

Opener = Callable[..., Any]  # opener(request, timeout=seconds) → a response, as urlopen

COMPARE_UNSUPPORTED = (
    "compare is not supported with the web provider: gate this metric on thresholds,"
    " or use the local provider for comparisons"
)
MAX_BODY = 1 << 20
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]")
_MASK = "***"


class PathError(ValueError):
    """The JSON path is not valid, is missing in the document, or not a number there."""


def parse_path(path: str) -> tuple[str | int, ...]:
    """`$.a[0].b` → ("a", 0, "b"); PathError when outside the supported subset."""
    text = path.strip()
    if not text.startswith("$"):
        raise PathError(f"invalid JSON path {path!r}: it must start with $")
    steps: list[str | int] = []
    pos = 1
    while pos < len(text):
        match = _STEP.match(text, pos)
        if match is None:
            raise PathError(
                f"invalid JSON path {path!r} at {text[pos:]!r}: supported are $, .name and [index]"
            )
        steps.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
        pos = match.end()
    return tuple(steps)


def select(document: Any, path: str) -> Any:
    """The value at `path` in `document`; PathError saying where it is missing."""
    value = document
    seen = "$"
    for step in parse_path(path):
        if isinstance(step, int):
            if not isinstance(value, list):
                raise PathError(f"{seen} is {_kind(value)}, not a list: no [{step}]")
            if step >= len(value):
                raise PathError(f"{seen} has {len(value)} items: no [{step}]")
            value = value[step]
            seen += f"[{step}]"
        else:
            if not isinstance(value, dict):
                raise PathError(f"{seen} is {_kind(value)}, not an object: no .{step}")
            if step not in value:
                raise PathError(f"{seen} has no {step!r}")
            value = value[step]
            seen += f".{step}"
    return value


def to_number(value: Any, path: str) -> float | None:
    """A JSON value as the reading's value: None for null; PathError if not a number."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise PathError(f"{path} is {json.dumps(value)}, not a number")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise PathError(f"{path} is {_short(json.dumps(value))}, not a number")


class WebProvider:
    """A `MetricProvider` for `provider: {web: {url, jsonPath, timeout, headers}}` metrics."""

    def __init__(
        self, opener: Opener | None = None, *, secrets: secrets.SecretReader | None = None
    ) -> None:
        self._open = opener if opener is not None else open_within
        self._secrets = secrets

    def measure(
        self, metric: policyspec.Metric, ctx: measurement.MeasureContext
    ) -> measurement.Measurement:
        spec = metric.provider.web
        if spec is None:
            return _error(metric, ctx, f"not a web metric ({metric.provider.kind})")
        if metric.compare is not None:
            return _error(metric, ctx, COMPARE_UNSUPPORTED)
        try:
            url = rendering.render_url(
                spec.url,
                rendering.variables_for(ctx, metric.window),
            )
            parse_path(spec.json_path)
        except ValueError as exc:
            return _error(metric, ctx, str(exc))
        hidden: list[str] = []
        try:
            headers = self._headers(spec, ctx.namespace, hidden)
            body = self._get(url, headers, spec.timeout.total_seconds())
        except _FetchError as exc:
            return _error(metric, ctx, _masked(str(exc), hidden))
        try:
            document = json.loads(body)
        except ValueError:
            excerpt = _masked(_short(_text(body)), hidden)
            return _error(metric, ctx, f"GET {url}: the response is not JSON: {excerpt}")
        try:
            value = to_number(select(document, spec.json_path), spec.json_path)
        except PathError as exc:
            return _error(metric, ctx, _masked(f"GET {url}: {exc}", hidden))
        return measurement.Measurement(metric=metric.name, at=ctx.now, until=ctx.now, value=value)

    def _headers(
        self, spec: policyspec.WebProvider, namespace: str, hidden: list[str]
    ) -> dict[str, str]:
        """The headers to send, credentials read now (their values added to `hidden`)."""
        try:
            return secrets.headers(
                spec.headers, namespace=namespace, reader=self._secrets, hidden=hidden
            )
        except secrets.SecretError as exc:
            raise _FetchError(str(exc)) from None

    def _get(self, url: str, headers: dict[str, str], timeout: float) -> bytes:
        request = urllib.request.Request(
            url, headers={"Accept": "application/json", **headers}, method="GET"
        )
        late = f"GET {url}: no complete answer within {timeout:g}s"
        try:
            with self._open(request, timeout=timeout) as response:
                body: bytes = response.read(MAX_BODY + 1)
                missing = getattr(response, "length", None)  # of a Content-Length
        except urllib.error.HTTPError as exc:
            raise _FetchError(f"GET {url}: HTTP {exc.code}: {_detail(exc)}") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise _FetchError(late) from None
            raise _FetchError(f"GET {url}: unreachable: {exc.reason}") from None
        except TimeoutError:
            raise _FetchError(late) from None
        except http.client.HTTPException as exc:
            raise _FetchError(
                f"GET {url}: not a valid HTTP answer ({type(exc).__name__}: {exc})"
            ) from None
        except (OSError, ValueError) as exc:
            raise _FetchError(f"GET {url}: {exc}") from None
        if len(body) > MAX_BODY:
            raise _FetchError(f"GET {url}: the response is larger than {MAX_BODY} bytes")
        if isinstance(missing, int) and missing > 0:
            raise _FetchError(f"GET {url}: the answer ended {missing} bytes short")
        return body


def open_within(
    request: urllib.request.Request, timeout: float, *, redirects: bool = True
) -> http.client.HTTPResponse:
    """`urllib.request.urlopen` with a total deadline of `timeout` seconds from now for
    connecting, the headers and every read of the body (see the module docstring);
    past it, reads raise `TimeoutError`. HTTP and HTTPS only, with the environment's
    proxies, and redirects unless `redirects=False` (then a 3xx raises `HTTPError`:
    urllib would replay a POST as a GET to the new location)."""
    ends = time.monotonic() + timeout
    opener = urllib.request.OpenerDirector()
    handlers: list[urllib.request.BaseHandler] = [
        urllib.request.ProxyHandler(),  # from the environment, as urlopen
        _HTTPHandler(ends),
        _HTTPSHandler(ends),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
        urllib.request.UnknownHandler(),  # no file:, ftp: or data: (not even by redirect)
    ]
    if redirects:
        handlers.append(urllib.request.HTTPRedirectHandler())
    for handler in handlers:
        opener.add_handler(handler)
    response: http.client.HTTPResponse = opener.open(request, timeout=timeout)
    return response


# -- the deadline ---------------------------------------------------------------------


def _connection(
    cls: type[http.client.HTTPConnection], ends: float
) -> Callable[..., http.client.HTTPConnection]:
    """A connection factory for urllib: connect within the time left, read by `ends`."""

    def make(host: str, timeout: float | None = None, **kwargs: Any) -> http.client.HTTPConnection:
        connection = cls(host, timeout=deadline.left(ends), **kwargs)
        connection.response_class = deadline.response_class(ends)
        return connection

    return make


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, ends: float) -> None:
        super().__init__()
        self._ends = ends

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_connection(http.client.HTTPConnection, self._ends), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, ends: float) -> None:
        super().__init__()
        self._ends = ends

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_connection(http.client.HTTPSConnection, self._ends), req)


# -- helpers --------------------------------------------------------------------------


class _FetchError(Exception):
    pass


def _detail(exc: urllib.error.HTTPError) -> str:
    """The start of an error answer's body (within the deadline), else its reason."""
    detail = ""
    try:
        if exc.fp is not None:
            detail = _short(_text(exc.read(1024)))
    except (OSError, http.client.HTTPException):
        detail = ""
    finally:
        exc.close()
    return detail or str(exc.reason)


def _masked(text: str, hidden: list[str]) -> str:
    for value in hidden:
        text = text.replace(value, _MASK)
    return text


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "a number"
    )


def _text(body: bytes) -> str:
    return body.decode("utf-8", "backslashreplace")


def _short(text: str, limit: int = 120) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + "…"


def _error(
    metric: policyspec.Metric, ctx: measurement.MeasureContext, reason: str
) -> measurement.Measurement:
    return measurement.Measurement(metric=metric.name, at=ctx.now, error=reason)
