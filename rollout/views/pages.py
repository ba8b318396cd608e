"""The dashboard's HTML: the page around the content, the overview, a release's page,
and the answers to an action (its message, or the confirmation it asks first).

The content is built of fragments (`data-frag="<id>"`, never nested): the script
swaps the ones that changed when the server says the store did, and the whole
content when the fragments themselves changed (a service came or went, the order
moved). Every action is a POST form carrying the server's CSRF token (`csrf`); a
read-only dashboard draws none. Every text is escaped.

Pure: values in (`views.board`, `views.releasepage`), HTML out; no I/O, no clock. Called by the
dashboard's server (`rollout.cli.dashboard`).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from urllib.parse import quote

from rollout.api import release as release_api
from rollout.views import board, charts, releasepage

__all__ = [
    "CONFIRM",
    "LABELS",
    "confirm_page",
    "empty",
    "layout",
    "outcome_page",
    "overview",
    "release",
    "service_path",
]

LABELS = {
    "promote": "Promote",
    "promote-full": "Promote to 100%",
    "pause": "Pause",
    "resume": "Resume",
    "retry": "Retry",
    "abort": "Abort",
    "undo": "Undo",
}
"""The buttons' words, by action."""
CONFIRM = frozenset({"abort", "undo"})
"""The actions that ask "are you sure?" first (a second POST with `confirm=yes`)."""
_VERDICT_CLASS = {"Passed": "ok", "Failed": "bad", "Error": "bad", "Inconclusive": "unsure"}
_PHASE_CLASS = {
    "Succeeded": "ok",
    "RolledBack": "bad",
    "Failed": "bad",
    "Aborted": "bad",
    "RollingBack": "bad",
    "Paused": "wait",
}


def _e(text: object) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def service_path(namespace: str, name: str) -> str:
    """`/ns/default/services/web`: a service's page (its current release)."""
    return f"/ns/{quote(namespace, safe='')}/services/{quote(name, safe='')}"


def layout(title: str, content: str, *, csrf: str, read_only: bool, live: bool = True) -> str:
    """The whole page around `content` (the part the script swaps, `#content`)."""
    mode = "read-only" if read_only else "read-write"
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="csrf-token" content="{_e(csrf)}">'
        f"<title>{_e(title)} · rollout</title>"
        '<link rel="stylesheet" href="/static/dashboard.css">'
        '<script src="/static/dashboard.js" defer></script>'
        f'</head><body data-mode="{mode}"{" data-live" if live else ""}>'
        '<header class="top"><a class="home" href="/">rollout</a>'
        f'<span class="mode">{mode}</span>'
        '<span id="live" class="live" title="live updates">●</span></header>'
        '<p id="flash" class="flash" role="status" aria-live="polite"></p>'
        f'<main id="content">{content}</main>'
        "</body></html>\n"
    )


def _form(action: str, path: str, *, csrf: str, step: int | None = None) -> str:
    fields = f'<input type="hidden" name="csrf" value="{_e(csrf)}">'
    if step is not None:
        fields += f'<input type="hidden" name="step" value="{step}">'
    confirm = " data-confirm" if action in CONFIRM else ""
    return (
        f'<form class="action" method="post" action="{_e(path)}/{action}"{confirm}>'
        f'{fields}<button type="submit" class="btn {action}" data-action="{action}">'
        f"{_e(LABELS[action])}</button></form>"
    )


def _actions(c: board.Card, *, csrf: str, read_only: bool, extra: Sequence[str] = ()) -> str:
    if read_only:
        return ""
    path = service_path(c.namespace, c.name)
    forms = [
        _form(a, path, csrf=csrf, step=c.step_index if a == "promote" else None)
        for a in (*c.actions, *extra)
    ]
    return f'<div class="actions">{"".join(forms)}</div>' if forms else ""


def _verdicts(verdicts: Iterable[board.Verdicts]) -> str:
    chips = [
        f'<span class="verdict {_VERDICT_CLASS.get(v.verdict or "", "none")}"'
        f' data-metric="{_e(v.metric)}" title="{_e(v.reason)}">{_e(v.metric)}:'
        f" {_e(v.verdict or '—')}</span>"
        for v in verdicts
    ]
    return f'<div class="verdicts">{"".join(chips)}</div>' if chips else ""


def _problems(c: board.Card) -> str:
    if not c.problems:
        return ""
    items = "".join(
        f'<li class="{"blocking" if p.blocking else "problem"}">{_e(p.text())}</li>'
        for p in c.problems
    )
    return f'<ul class="problems">{items}</ul>'


def _card(
    c: board.Card, *, csrf: str, read_only: bool, link: bool = True, frag: bool = True
) -> str:
    name = _e(c.name)
    title = f'<a href="{_e(service_path(c.namespace, c.name))}">{name}</a>' if link else name
    phase = ""
    if c.phase is not None:
        step = f' <span class="step">step {_e(c.position)}</span>' if c.position else ""
        in_step = f' <span class="in-step">{_e(c.in_step)} in step</span>' if c.in_step else ""
        phase = (
            f'<span class="phase {_PHASE_CLASS.get(c.phase, "going")}"'
            f' data-phase="{_e(c.phase)}">{_e(c.phase)}</span>{step}{in_step}'
        )
    split = " · ".join(f"{_e(t.revision)} {t.percent}%" for t in c.traffic if t.percent)
    frag_id = f' data-frag="svc-{_e(c.namespace)}-{name}"' if frag else ""
    return (
        f'<article class="card attention-{c.attention.name.lower()}"{frag_id}'
        f' data-service="{name}" data-namespace="{_e(c.namespace)}">'
        f'<h2>{title} <span class="ns">{_e(c.namespace)}</span></h2>'
        f'<div class="traffic">{charts.weight_bar(c.traffic)}'
        f'<span class="split">{split or "no traffic"}</span></div>'
        f'<div class="state">{phase}</div>'
        f'<p class="message">{_e(c.message)}</p>'
        f"{_verdicts(c.verdicts)}{_problems(c)}"
        f"{_actions(c, csrf=csrf, read_only=read_only)}</article>"
    )


def overview(cards: Sequence[board.Card], *, csrf: str, read_only: bool, scope: str) -> str:
    """The overview's content: a card per service, in `board.overview`'s order;
    `scope`: which namespaces are shown (`all namespaces`, `namespace web`)."""
    head = (
        f'<h1 data-frag="overview-head">Services <span class="scope">{_e(scope)}</span>'
        f' <span class="count">{len(cards)}</span></h1>'
    )
    if not cards:
        return head + '<p class="empty" data-frag="overview-empty">No services yet.</p>'
    body = "".join(_card(c, csrf=csrf, read_only=read_only) for c in cards)
    return f'{head}<div class="cards">{body}</div>'


class _Link:
    """A table cell that links (`href`, `text`: both escaped when drawn)."""

    def __init__(self, href: str, text: str) -> None:
        self.href, self.text = href, text

    def __str__(self) -> str:
        return f'<a href="{_e(self.href)}">{_e(self.text)}</a>'


def _cell(value: object) -> str:
    return str(value) if isinstance(value, _Link) else _e(value)


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]], *, cls: str) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _metric(m: releasepage.MetricView, page: releasepage.ReleasePage) -> str:
    latest = ""
    if m.latest is not None:
        latest = (
            f'<span class="verdict {_VERDICT_CLASS.get(m.latest.verdict or "", "none")}">'
            f"{_e(m.latest.verdict or '—')}</span> {_e(m.latest.reason)}"
        )
    steps = ""
    if m.steps:
        steps = _table(
            ["At", "Step ended by", "Passed", "Failed", "Inconclusive", "Errors"],
            (
                (f"{s.at:%H:%M:%S}", s.event, s.passes, s.failures, s.inconclusive, s.errors)
                for s in m.steps
            ),
            cls="steps",
        )
    return (
        f'<section class="metric" data-frag="metric-{_e(m.name)}" data-metric="{_e(m.name)}">'
        f"<h3>{_e(m.name)} <small>{_e(m.gate.describe())}</small></h3>"
        f'<p class="latest">{latest}</p>'
        f"{charts.metric_chart(m, start=page.started, end=page.end)}{steps}</section>"
    )


def release(page: releasepage.ReleasePage, *, csrf: str, read_only: bool) -> str:
    """A release's content: its card, the weights over time, each metric against its
    gate, its history, the service's past releases and events."""
    c = page.card
    here = service_path(c.namespace, c.name)
    extra = ("undo",) if page.can_undo and c.release == page.release else ()
    head = _card(c, csrf=csrf, read_only=True, link=False, frag=False)
    actions = _actions(c, csrf=csrf, read_only=read_only, extra=extra)
    since = '<p class="note">No metrics in this release\'s plan.</p>' if not page.metrics else ""
    if page.metrics:
        since = (
            f'<p class="note">The last {release_api.RECENT_READINGS} readings of each metric,'
            " as the release keeps them; the counts per step come from the release's"
            " history.</p>"
        )
    metrics = "".join(_metric(m, page) for m in page.metrics)
    hooks = ""
    if page.webhooks:
        hooks = _table(
            ["Webhook", "Type", "For", "Last answer", "Calls", "Last call"],
            (
                (w.name, w.type, w.basis, w.answer, w.calls, f"{w.ago} ago" if w.ago else "")
                for w in page.webhooks
            ),
            cls="webhooks",
        )
        hooks = f'<section data-frag="webhooks"><h2>Webhooks</h2>{hooks}</section>'
    machine = (
        charts.highlight(page.diagram, c.phase or "")
        if page.diagram
        else '<p class="note">The diagram needs Graphviz (`dot`), not found on PATH.</p>'
    )
    machine = (
        f'<section data-frag="machine"><details><summary>State machine: {_e(c.phase)}'
        f'</summary><div class="diagram">{machine}</div></details></section>'
    )
    entries = _table(
        ["At", "Event", "Phase", "Step", "Canary", "By", "Message"],
        (
            (f"{h.at:%H:%M:%S}", h.event, h.phase, h.step, h.canary, h.by, h.message)
            for h in page.entries
        ),
        cls="history",
    )
    past = _table(
        ["Release", "Stable", "Canary", "Phase", "Took", "Message"],
        (
            (
                _Link(f"{here}?release={quote(r.name)}", r.name),
                r.stable or "",
                r.canary,
                r.phase,
                r.took,
                r.message,
            )
            for r in page.releases
        ),
        cls="releases",
    )
    events = (
        _table(["Last seen", "Type", "Object", "Reason", "Message"], page.events, cls="events")
        if page.events
        else '<p class="note">No events kept for this service.</p>'
    )
    return (
        f'<h1 data-frag="release-head">Release {_e(page.release)}'
        f' <span class="revisions">{_e(page.stable or "—")} → {_e(page.canary)}</span></h1>'
        f'<div data-frag="release-card">{head}{actions}</div>'
        f'<section data-frag="weights"><h2>Traffic over time</h2>'
        f"{charts.weight_chart(page.weights, stable=page.stable, canary=page.canary, end=page.end)}"
        "</section>"
        f'<section data-frag="analysis-note"><h2>Analysis</h2>{since}</section>'
        f"{metrics}{hooks}{machine}"
        f'<section data-frag="history"><h2>History</h2>{entries}</section>'
        f'<section data-frag="releases"><h2>Releases of {_e(c.name)}</h2>{past}</section>'
        f'<section data-frag="events"><h2>Events</h2>{events}</section>'
    )


def empty(text: str) -> str:
    """Content that says there is nothing to show, and why."""
    return f'<p class="empty" data-frag="empty">{_e(text)}</p>'


def confirm_page(question: str, path: str, *, csrf: str, back: str) -> str:
    """The confirmation an abort or an undo asks first: the same POST with
    `confirm=yes`, or back."""
    return (
        f'<section class="confirm"><p>{_e(question)}</p>'
        f'<form class="action" method="post" action="{_e(path)}">'
        f'<input type="hidden" name="csrf" value="{_e(csrf)}">'
        '<input type="hidden" name="confirm" value="yes">'
        '<button type="submit" class="btn danger">Yes, do it</button></form>'
        f' <a href="{_e(back)}">No, go back</a></section>'
    )


def outcome_page(message: str, *, ok: bool, back: str) -> str:
    """What an action came to, for a browser without the script: the CLI's line."""
    return (
        f'<section class="outcome {"ok" if ok else "bad"}"><p>{_e(message)}</p>'
        f'<a href="{_e(back)}">Back</a></section>'
    )
