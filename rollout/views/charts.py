"""The dashboard's charts as SVG text: a weight bar per service, the weights of a
release over time (a step chart), and a metric's readings against its gate.

Drawn on the server (docs/decisions.md, issue 21): no charting library, nothing to
download, a page complete without JavaScript. Every drawn element carries a class
(`series`, `gate`, `reading v-passed|v-failed|v-inconclusive|v-error`) and a
`data-*` attribute naming what it shows, so the stylesheet colours them and tests
(unit and browser) find them; every text is escaped. Sizes are the viewBox's: the
page scales the SVG to its width.

Pure: strings in, a string out; no I/O, no clock. Called by `views.pages`.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from datetime import datetime, timedelta

from rollout.views import board, releasepage

__all__ = ["highlight", "metric_chart", "weight_bar", "weight_chart"]

_W, _H = 640, 180  # the charts' viewBox
_L, _R, _T, _B = 48, 12, 10, 24  # margins: left (y labels), right, top, bottom (x labels)


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _num(x: float) -> str:
    """A coordinate, short: `12.5`, `40`."""
    return f"{x:.1f}".rstrip("0").rstrip(".")


def weight_bar(traffic: Sequence[board.Split], *, width: int = 240, height: int = 14) -> str:
    """A stacked bar, one rect per revision with traffic (`data-revision`), a title
    each (`web-00002 20%`); an empty outline when nothing is routed."""
    parts = [
        f'<svg class="weight-bar" viewBox="0 0 {width} {height}" width="{width}"'
        f' height="{height}" role="img" aria-label="traffic split">',
        f'<rect class="bar-empty" x="0" y="0" width="{width}" height="{height}"/>',
    ]
    x = 0.0
    for i, t in enumerate(s for s in traffic if s.percent > 0):
        w = width * t.percent / 100
        role = t.role or f"other-{i % 4}"
        parts.append(
            f'<rect class="bar {role}" data-revision="{_esc(t.revision)}" x="{_num(x)}" y="0"'
            f' width="{_num(w)}" height="{height}"><title>{_esc(t.revision)}'
            f" {t.percent}%</title></rect>"
        )
        x += w
    parts.append("</svg>")
    return "".join(parts)


class _Time:
    """The time axis: `start`..`end` onto the plot's width."""

    def __init__(self, start: datetime, end: datetime) -> None:
        self.start = start
        self.span = max((end - start).total_seconds(), 1.0)

    def x(self, at: datetime) -> float:
        share = (at - self.start).total_seconds() / self.span
        return _L + min(max(share, 0.0), 1.0) * (_W - _L - _R)

    def labels(self) -> str:
        """The start and end times under the plot, and the span between."""
        end = self.start + timedelta(seconds=self.span)
        y = _H - 6
        return (
            f'<text class="axis" x="{_L}" y="{y}">{self.start:%H:%M:%S}</text>'
            f'<text class="axis" x="{_W - _R}" y="{y}" text-anchor="end">{end:%H:%M:%S}</text>'
        )


def _frame(kind: str, label: str) -> str:
    return (
        f'<svg class="chart {kind}" viewBox="0 0 {_W} {_H}" role="img"'
        f' aria-label="{_esc(label)}" preserveAspectRatio="xMidYMid meet">'
        f'<rect class="plot" x="{_L}" y="{_T}" width="{_W - _L - _R}" height="{_H - _T - _B}"/>'
    )


def weight_chart(
    points: Sequence[releasepage.WeightPoint],
    *,
    stable: str | None,
    canary: str,
    end: datetime,
) -> str:
    """The weight of each revision over time: a step line per revision
    (`path.series[data-series=<revision>]`), the canary's from `points` and the
    stable's the rest, held to `end`."""
    label = f"weights of {stable or 'no stable'} and {canary} over time"
    if not points:
        return _frame("weights", label) + _empty("no traffic moved yet") + "</svg>"
    axis = _Time(points[0].at, max(end, points[-1].at))
    plot_h = _H - _T - _B

    def y(percent: float) -> float:
        return _T + plot_h * (1 - percent / 100)

    parts = [_frame("weights", label)]
    for tick in (0, 50, 100):
        parts.append(
            f'<line class="grid" x1="{_L}" x2="{_W - _R}" y1="{_num(y(tick))}"'
            f' y2="{_num(y(tick))}"/><text class="axis" x="{_L - 4}" y="{_num(y(tick) + 4)}"'
            f' text-anchor="end">{tick}%</text>'
        )
    series = [(canary, "canary", [p.canary for p in points])]
    if stable is not None:
        series.insert(0, (stable, "stable", [100 - p.canary for p in points]))
    for name, role, values in series:
        d = f"M{_num(axis.x(points[0].at))},{_num(y(values[0]))}"
        for p, v in zip(points[1:], values[1:], strict=True):
            d += f" H{_num(axis.x(p.at))} V{_num(y(v))}"
        d += f" H{_num(axis.x(end))}"
        parts.append(
            f'<path class="series {role}" data-series="{_esc(name)}" d="{d}">'
            f"<title>{_esc(name)}: {values[-1]}% now</title></path>"
        )
    parts.append(axis.labels())
    parts.append("</svg>")
    return "".join(parts)


def _empty(text: str) -> str:
    return f'<text class="empty" x="{_W / 2}" y="{_H / 2}" text-anchor="middle">{_esc(text)}</text>'


_FLOOR = 1e-3  # the lowest e-value drawn on the log scale


class _Scale:
    """The value axis of a metric chart: log10 for e-values, linear otherwise."""

    def __init__(self, values: Sequence[float], gate: releasepage.Gate) -> None:
        self.log = gate.kind == "sequential"
        marks = [v for v in (gate.line, gate.low, gate.high) if v is not None]
        seen = [*values, *marks]
        if self.log:
            seen = [math.log10(max(v, _FLOOR)) for v in seen]
            lo, hi = min([0.0, *seen]), max([1.0, *seen])
        else:
            lo, hi = (min(seen), max(seen)) if seen else (0.0, 1.0)
            if lo > 0 and not any(v < 0 for v in seen):
                lo = 0.0  # a rate or latency reads best from zero
        if hi - lo < 1e-12:
            hi = lo + 1.0
        pad = (hi - lo) * 0.08
        self.lo, self.hi = lo - (0 if lo == 0 else pad), hi + pad

    def y(self, value: float) -> float:
        v = math.log10(max(value, _FLOOR)) if self.log else value
        share = (v - self.lo) / (self.hi - self.lo)
        return _T + (_H - _T - _B) * (1 - min(max(share, 0.0), 1.0))

    def ticks(self) -> list[float]:
        if self.log:
            return [10.0**e for e in range(math.ceil(self.lo), math.floor(self.hi) + 1)]
        return [self.lo + (self.hi - self.lo) * k / 2 for k in range(3)]


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def metric_chart(view: releasepage.MetricView, *, start: datetime | None, end: datetime) -> str:
    """A metric's readings over time against its gate: a point per reading
    (`circle.reading.v-<verdict>`; an Inconclusive reading without a value sits on
    the floor, hollow; an Error is a cross on the floor), a line through the values,
    and the gate (`line.gate`): 1/alpha on a log scale for a sequential comparison's
    e-value, min and max for thresholds."""
    gate = view.gate
    label = f"{view.name}: readings against its gate ({gate.describe()})"
    readings = view.readings
    if not readings:
        return _frame("metric", label) + _empty("no readings yet") + "</svg>"
    first = min(readings[0].at, start) if start is not None else readings[0].at
    axis = _Time(first, max(end, readings[-1].at))
    scale = _Scale([r.value for r in readings if r.value is not None], gate)
    parts = [_frame("metric", label)]
    for tick in scale.ticks():
        ty = scale.y(tick)
        parts.append(
            f'<line class="grid" x1="{_L}" x2="{_W - _R}" y1="{_num(ty)}" y2="{_num(ty)}"/>'
            f'<text class="axis" x="{_L - 4}" y="{_num(ty + 4)}" text-anchor="end">'
            f"{_fmt(tick)}</text>"
        )
    marks = [("line", gate.line, "1/α")] if gate.kind == "sequential" else []
    marks += [("min", gate.low, "min"), ("max", gate.high, "max")]
    for what, value, name in marks:
        if value is None:
            continue
        gy = _num(scale.y(value))
        parts.append(
            f'<line class="gate" data-gate="{what}" data-value="{value:g}" x1="{_L}"'
            f' x2="{_W - _R}" y1="{gy}" y2="{gy}"><title>{name} = {value:g}</title></line>'
            f'<text class="gate-label" x="{_W - _R - 2}" y="{gy}" dy="-3"'
            f' text-anchor="end">{name} {value:g}</text>'
        )
    valued = [r for r in readings if r.value is not None]
    if len(valued) > 1:
        d = " ".join(
            f"{'M' if i == 0 else 'L'}{_num(axis.x(r.at))},{_num(scale.y(r.value or 0.0))}"
            for i, r in enumerate(valued)
        )
        parts.append(f'<path class="series value" data-series="{_esc(view.name)}" d="{d}"/>')
    floor = _H - _B - 4
    for r in readings:
        verdict = (r.verdict or "none").lower()
        x = _num(axis.x(r.at))
        title = f"<title>{r.at:%H:%M:%S} {_esc(r.verdict or '—')}"
        title += f" {_fmt(r.value)}" if r.value is not None else ""
        title += f": {_esc(r.reason)}</title>" if r.reason else "</title>"
        if verdict == "error":
            parts.append(
                f'<path class="reading v-error" d="M{x},{floor} m-4,-4 l8,8 m0,-8 l-8,8">'
                f"{title}</path>"
            )
            continue
        y = _num(scale.y(r.value)) if r.value is not None else _num(floor)
        parts.append(
            f'<circle class="reading v-{verdict}" cx="{x}" cy="{y}" r="4">{title}</circle>'
        )
    parts.append(axis.labels())
    parts.append("</svg>")
    return "".join(parts)


_NODE = re.compile(r'<g id="(node\d+)" class="node">(\s*<title>)([^<]*)(</title>)')


def highlight(svg: str, phase: str) -> str:
    """The state machine's diagram (Graphviz SVG of `rollout diagram`) with the node of
    `phase` marked (`class="node current"`, `data-phase` on every node), scaled to the
    page: the XML prologue and the fixed width and height dropped."""
    start = svg.find("<svg")
    if start < 0:
        return ""
    body = re.sub(
        r'<svg width="[^"]*" height="[^"]*"',
        '<svg class="diagram" role="img"',
        svg[start:],
        count=1,
    )

    def mark(m: re.Match[str]) -> str:
        name = html.unescape(m[3])
        current = " current" if name == phase else ""
        return f'<g id="{m[1]}" class="node{current}" data-phase="{_esc(name)}">{m[2]}{m[3]}{m[4]}'

    return _NODE.sub(mark, body)
