"""The `web` metric provider: HTTP GET of a templated URL returning JSON; a JSON
path selects the number.

The URL is rendered with every value percent-encoded (`rendering.render_url`), and
fetched with the stdlib (`urllib.request`) with the provider's headers and timeout;
the body (at most 1 MiB) must be JSON. `jsonPath` is a small subset of JSONPath,
enough to reach one number (`select`, pure): `$`, `$.a.b`, `$.a[0].b`, `$[2]`.

The selected value must be a number (JSON true/false are not numbers); a string that
parses as a number (`"0.02"`) is accepted; JSON `null` is no data (`value` None,
Inconclusive); NaN is left to `evaluate` (Inconclusive). Everything else — HTTP
status ≥ 400, unreachable, timeout, not JSON, a path that is missing, not a number —
is `Measurement(error=…)` with the reason. `compare` is not supported with this
provider (validation refuses it; an error reading says to use thresholds or the
local provider).

I/O only through the injectable `opener` (default `urllib.request.urlopen`).
No decisions (that is `evaluate`). Called by `Providers` for `web` metrics.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from rollout.analysis import measurement
from rollout.analysis.providers import rendering
from rollout.api import policyspec
from rollout.platforms import ports

__all__ = [
    "COMPARE_UNSUPPORTED",
    "Opener",
    "PathError",
    "WebProvider",
    "parse_path",
    "select",
    "to_number",
]

Opener = Callable[..., Any]  # urllib.request.urlopen(request, timeout=…)

COMPARE_UNSUPPORTED = (
    "compare is not supported with the web provider: gate this metric on thresholds,"
    " or use the local provider for comparisons"
)
MAX_BODY = 1 << 20
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]")


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

    def __init__(self, opener: Opener = urllib.request.urlopen) -> None:
        self._open = opener

    def measure(
        self, metric: policyspec.Metric, ctx: ports.MeasureContext
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
        try:
            body = self._get(url, spec.headers, spec.timeout.total_seconds())
        except _FetchError as exc:
            return _error(metric, ctx, str(exc))
        try:
            document = json.loads(body)
        except ValueError:
            return _error(
                metric, ctx, f"GET {url}: the response is not JSON: {_short(_text(body))}"
            )
        try:
            value = to_number(select(document, spec.json_path), spec.json_path)
        except PathError as exc:
            return _error(metric, ctx, f"GET {url}: {exc}")
        return measurement.Measurement(metric=metric.name, at=ctx.now, until=ctx.now, value=value)

    def _get(self, url: str, headers: dict[str, str], timeout: float) -> bytes:
        request = urllib.request.Request(
            url, headers={"Accept": "application/json", **headers}, method="GET"
        )
        try:
            with self._open(request, timeout=timeout) as response:
                body: bytes = response.read(MAX_BODY + 1)
        except urllib.error.HTTPError as exc:
            detail = _short(_text(exc.read(1024))) if exc.fp is not None else ""
            detail = detail or str(exc.reason)
            exc.close()
            raise _FetchError(f"GET {url}: HTTP {exc.code}: {detail}") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise _FetchError(f"GET {url}: no answer within {timeout:g}s") from exc
            raise _FetchError(f"GET {url}: unreachable: {exc.reason}") from exc
        except TimeoutError as exc:
            raise _FetchError(f"GET {url}: no answer within {timeout:g}s") from exc
        except OSError as exc:
            raise _FetchError(f"GET {url}: {exc}") from exc
        if len(body) > MAX_BODY:
            raise _FetchError(f"GET {url}: the response is larger than {MAX_BODY} bytes")
        return body


class _FetchError(Exception):
    pass


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "a number"
    )


def _text(body: bytes) -> str:
    return body.decode("utf-8", "replace")


def _short(text: str, limit: int = 120) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + "…"


def _error(
    metric: policyspec.Metric, ctx: ports.MeasureContext, reason: str
) -> measurement.Measurement:
    return measurement.Measurement(metric=metric.name, at=ctx.now, error=reason)
