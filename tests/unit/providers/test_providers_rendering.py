"""`rendering`: query and URL templates → text, values escaped for where they land."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rollout.analysis.providers import rendering

VALUES = rendering.variables(
    namespace="prod", service="web", canary="web-2", stable="web-1", window=timedelta(minutes=1)
)


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        pytest.param("web-2", "web-2", id="plain"),
        pytest.param('a"b', 'a\\"b', id="double-quote"),
        pytest.param("a\\b", "a\\\\b", id="backslash"),
        pytest.param("a\nb", "a\\nb", id="newline"),
        pytest.param("a\r\tb", "a\\r\\tb", id="cr-tab"),
        pytest.param('\\"', '\\\\\\"', id="backslash-then-quote"),
        pytest.param("it's", "it's", id="single-quote-untouched"),
        pytest.param("", "", id="empty"),
    ],
)
def test_escape_promql(value: str, escaped: str) -> None:
    """Backslash, double quote and control characters are escaped; nothing else."""
    assert rendering.escape_promql(value) == escaped


@pytest.mark.parametrize(
    ("window", "text"),
    [
        pytest.param(timedelta(seconds=30), "30s", id="30s"),
        pytest.param(timedelta(minutes=1), "1m", id="1m"),
        pytest.param(timedelta(minutes=90), "1h30m", id="1h30m"),
        pytest.param(timedelta(seconds=90), "1m30s", id="1m30s"),
        pytest.param(timedelta(milliseconds=1500), "1s500ms", id="ms"),
    ],
)
def test_promql_duration(window: timedelta, text: str) -> None:
    """Windows are written as Prometheus durations."""
    assert rendering.promql_duration(window) == text


def test_promql_duration_refuses_zero() -> None:
    """A zero window has no Prometheus duration."""
    with pytest.raises(ValueError, match="positive"):
        rendering.promql_duration(timedelta(0))


@pytest.mark.parametrize(
    ("template", "query"),
    [
        pytest.param(
            'sum(rate(x{revision="{{revision}}"}[{{window}}]))',
            'sum(rate(x{revision="web-2"}[1m]))',
            id="revision-is-canary",
        ),
        pytest.param(
            '{namespace="{{ namespace }}",service="{{service}}"}',
            '{namespace="prod",service="web"}',
            id="spaces-in-placeholder",
        ),
        pytest.param(
            'x{revision=~"{{canary}}|{{stable}}"}',
            'x{revision=~"web-2|web-1"}',
            id="canary-and-stable",
        ),
        pytest.param("up", "up", id="no-variables"),
    ],
)
def test_render_promql(template: str, query: str) -> None:
    """Every variable is substituted with the context's value."""
    assert rendering.render_promql(template, VALUES) == query


@pytest.mark.parametrize(
    ("canary", "query"),
    [
        pytest.param(
            'x"} or vector(1) #',
            'x{revision="x\\"} or vector(1) #"}',
            id="quote-breakout",
        ),
        pytest.param(
            'x\\"} or up{a="',
            'x{revision="x\\\\\\"} or up{a=\\""}',
            id="backslash-quote-breakout",
        ),
        pytest.param("x\n} or up", 'x{revision="x\\n} or up"}', id="newline"),
    ],
)
def test_render_promql_hostile_values_stay_inside_the_matcher(canary: str, query: str) -> None:
    """A hostile value cannot close the label matcher's string."""
    values = {**VALUES, "revision": canary}
    rendered = rendering.render_promql('x{revision="{{revision}}"}', values)
    assert rendered == query
    # one string literal: every quote after the opening one is escaped except the last
    body = rendered[len('x{revision="') : -len('"}')]
    unescaped = body.replace("\\\\", "").replace('\\"', "")
    assert '"' not in unescaped


def test_render_with_no_stable_gives_empty_string() -> None:
    """A first release has no stable revision: `{{stable}}` renders empty."""
    values = rendering.variables(
        namespace="n", service="s", canary="c", stable=None, window=timedelta(seconds=30)
    )
    assert rendering.render_promql('x{r="{{stable}}"}', values) == 'x{r=""}'


def test_render_unknown_variable_raises() -> None:
    """An unknown variable is refused (validation refuses it earlier)."""
    with pytest.raises(ValueError, match="unknown template variable"):
        rendering.render_promql("{{nope}}", VALUES)


@pytest.mark.parametrize(
    ("template", "canary", "url"),
    [
        pytest.param(
            "http://h/m?rev={{revision}}&w={{window}}",
            "web-2",
            "http://h/m?rev=web-2&w=1m",
            id="plain",
        ),
        pytest.param(
            "http://h/m?rev={{revision}}", "a&b=c", "http://h/m?rev=a%26b%3Dc", id="query-breakout"
        ),
        pytest.param(
            "http://h/r/{{canary}}", "../admin", "http://h/r/..%2Fadmin", id="path-breakout"
        ),
        pytest.param("http://h/?q={{canary}}", "a b#c", "http://h/?q=a%20b%23c", id="space-hash"),
    ],
)
def test_render_url(template: str, canary: str, url: str) -> None:
    """URL values are percent-encoded so they stay in their segment."""
    values = {**VALUES, "revision": canary, "canary": canary}
    assert rendering.render_url(template, values) == url
