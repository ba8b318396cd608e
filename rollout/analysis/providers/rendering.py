"""Rendering query templates: `{{variable}}` → a value, escaped for where it lands.

DESIGN §5: queries and URLs use the variables `service namespace revision stable
canary window`. Rendering is separate from the providers so it can be tested as a
table and so a hostile value (a name with a quote, a backslash, a newline) can
never change the structure of a query:

- PromQL (`render_promql`): every value is escaped as the body of a PromQL
  double-quoted string (backslash, double quote, newline, carriage return, tab), so
  `{revision="{{revision}}"}` always stays one label matcher. Write variables inside
  double quotes in label matchers; `{{window}}` is a Prometheus duration (`30s`,
  `1m`, `1h30m`) and has nothing to escape.
- URLs (`render_url`): every value is percent-encoded (`urllib.parse.quote` with no
  safe characters), so it stays inside one path segment or query value.

`{{revision}}` is the revision being measured (the canary); `{{stable}}` is empty
when there is no stable revision. An unknown variable raises `ValueError` (policy
validation already refuses it; this is the last line).

Pure; no I/O. Called by the prometheus and web providers.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Mapping
from datetime import timedelta

from rollout.analysis import measurement
from rollout.api import durations, templates

__all__ = [
    "escape_promql",
    "promql_duration",
    "render",
    "render_promql",
    "render_url",
    "variables",
    "variables_for",
]

_PROMQL_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_PROMQL_SPECIAL = re.compile(r'[\\"\n\r\t]')


def escape_promql(value: str) -> str:
    """`value` as the inside of a PromQL double-quoted string."""
    return _PROMQL_SPECIAL.sub(lambda m: _PROMQL_ESCAPES[m.group(0)], value)


def promql_duration(value: timedelta) -> str:
    """A Prometheus duration: `30s`, `1m`, `1h30m`, `1500ms` → `1s500ms`."""
    if value <= timedelta(0):
        raise ValueError(f"a window must be positive, not {value}")
    return durations.format_duration(value)


def variables(
    *, namespace: str, service: str, canary: str, stable: str | None, window: timedelta
) -> dict[str, str]:
    """The template variables for a reading of the canary."""
    return {
        "namespace": namespace,
        "service": service,
        "revision": canary,
        "canary": canary,
        "stable": stable or "",
        "window": promql_duration(window),
    }


def variables_for(ctx: measurement.MeasureContext, window: timedelta) -> dict[str, str]:
    """`variables` for a reading taken in `ctx`."""
    return variables(
        namespace=ctx.namespace,
        service=ctx.service,
        canary=ctx.canary,
        stable=ctx.stable,
        window=window,
    )


def render(template: str, values: Mapping[str, str], escape: Callable[[str], str]) -> str:
    """Substitute every `{{ name }}` with `escape(values[name])`."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in templates.VARIABLES or name not in values:
            raise ValueError(f"unknown template variable {{{{{name}}}}}")
        return escape(values[name])

    return templates.PLACEHOLDER.sub(substitute, template)


def render_promql(template: str, values: Mapping[str, str]) -> str:
    """A PromQL query with every value escaped for a double-quoted label matcher."""
    return render(template, values, escape_promql)


def render_url(template: str, values: Mapping[str, str]) -> str:
    """A URL with every value percent-encoded."""
    return render(template, values, lambda v: urllib.parse.quote(v, safe=""))
