"""What the dashboard says and draws (issue 21): the cards and their order, which
commands a card offers, the release page's series, the SVG charts and the HTML —
pure functions, values in and text out."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest

from rollout.api import meta, policyspec, release, service
from rollout.api.release import PauseReason, Phase, Verdict
from rollout.views import board, charts, pages, releasepage
from rollout.views import problems as problem_view

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SEQUENTIAL = {
    "name": "errors-vs-stable",
    "provider": {"local": {"stat": "errors"}},
    "compare": {"against": "stable", "method": "sequential", "alpha": 0.01},
}
THRESHOLD = {
    "name": "error-rate",
    "provider": {"local": {"stat": "error_rate"}},
    "thresholds": {"max": 0.05},
}
POLICY = policyspec.RolloutPolicySpec.model_validate(
    {
        "steps": [
            {"setWeight": 10},
            {"pause": {}},
            {"setWeight": 50},
            {"analysis": {"duration": "1m"}},
        ],
        "analysis": {"metrics": [SEQUENTIAL, THRESHOLD]},
    }
)


def svc(
    name: str = "web", *, current: str | None = "web-00002", ns: str = "shop"
) -> service.Service:
    return service.Service.model_validate(
        {
            "metadata": {"name": name, "namespace": ns, "generation": 2},
            "spec": {
                "template": {"spec": {"containers": [{"name": "app", "command": ["app"]}]}},
                "policy": "canary",
            },
            "status": {
                "observedGeneration": 2,
                "latestCreatedRevision": f"{name}-00002",
                "stableRevision": f"{name}-00001",
                "currentRelease": current,
                "traffic": [
                    {"revisionName": f"{name}-00001", "percent": 90},
                    {"revisionName": f"{name}-00002", "percent": 10, "tag": "canary"},
                ],
            },
        }
    )


def rel(
    phase: Phase = Phase.PROGRESSING,
    *,
    name: str = "web",
    step: int = 0,
    reason: PauseReason | None = None,
    analysis: list[release.MetricStatus] | None = None,
    history: list[release.HistoryEntry] | None = None,
    **spec: Any,
) -> release.Release:
    return release.Release(
        metadata=meta.ObjectMeta(name=f"{name}-00002", namespace="shop"),
        spec=release.ReleaseSpec(
            service=name,
            stable_revision=f"{name}-00001",
            canary_revision=f"{name}-00002",
            policy=POLICY,
            **spec,
        ),
        status=release.ReleaseStatus(
            phase=phase,
            step_index=step,
            pause_reason=reason,
            weights=release.Weights(stable=90, canary=10),
            started_at=T0,
            step_started_at=T0,
            analysis=analysis or [],
            history=history or [],
        ),
    )


NOW = T0 + timedelta(seconds=95)


# --- cards -------------------------------------------------------------------------------


def test_a_card_says_what_rollout_status_says() -> None:
    """Traffic with roles, phase, step as people count it, time in step, verdicts."""
    metric = release.MetricStatus(
        metric="error-rate", verdict=Verdict.PASSED, value=0.01, reason="0.01 within thresholds"
    )
    c = board.card(svc(), rel(analysis=[metric]), NOW)
    assert [(t.revision, t.percent, t.role) for t in c.traffic] == [
        ("web-00001", 90, "stable"),
        ("web-00002", 10, "canary"),
    ]
    assert (c.phase, c.position, c.in_step) == ("Progressing", "1/4", "1m35s")
    assert c.message.startswith("step 1/4: setWeight 10%")
    assert [(v.metric, v.verdict) for v in c.verdicts] == [("error-rate", "Passed")]


@pytest.mark.parametrize(
    ("phase", "reason", "expected"),
    [
        pytest.param(
            Phase.PAUSED,
            PauseReason.PROMOTION,
            ("promote", "promote-full", "pause", "retry", "abort"),
            id="paused-at-a-pause-step",
        ),
        pytest.param(Phase.PROGRESSING, None, ("promote-full", "pause", "abort"), id="progressing"),
        pytest.param(
            Phase.PAUSED,
            PauseReason.USER,
            ("promote", "promote-full", "resume", "retry", "abort"),
            id="paused-by-a-user",
        ),
        pytest.param(Phase.SUCCEEDED, None, (), id="succeeded"),
        pytest.param(Phase.ROLLED_BACK, None, ("retry",), id="rolled-back"),
    ],
)
def test_a_card_offers_the_commands_the_cli_would_write(
    phase: Phase, reason: PauseReason | None, expected: tuple[str, ...]
) -> None:
    """Asked of release.commands: a command that would be refused or is already done
    has no button."""
    paused = reason is PauseReason.USER
    assert board.actions(rel(phase, reason=reason, paused=paused), NOW) == expected


def test_the_overview_puts_people_first_then_failing_then_moving() -> None:
    """Paused for a human, failing, moving, ended badly, quiet; then by name."""
    failing = release.MetricStatus(metric="error-rate", verdict=Verdict.FAILED)
    cards = [
        board.card(svc("quiet", current=None), None, NOW),
        board.card(svc("moving"), rel(name="moving"), NOW),
        board.card(svc("gone-bad"), rel(Phase.ROLLED_BACK, name="gone-bad"), NOW),
        board.card(svc("failing"), rel(name="failing", analysis=[failing]), NOW),
        board.card(
            svc("waiting"), rel(Phase.PAUSED, name="waiting", reason=PauseReason.PROMOTION), NOW
        ),
        board.card(
            svc("blocked", current=None),
            None,
            NOW,
            problems=[problem_view.Problem("Service/blocked", "PolicyNotFound", "", blocking=True)],
        ),
    ]
    order = [(c.name, c.attention.name) for c in board.overview(cards)]
    assert order == [
        ("waiting", "HUMAN"),
        ("blocked", "FAILING"),
        ("failing", "FAILING"),
        ("moving", "MOVING"),
        ("gone-bad", "ENDED_BADLY"),
        ("quiet", "QUIET"),
    ]


# --- the release page ------------------------------------------------------------------------


def entry(seconds: int, event: str, canary: int | None, **more: Any) -> release.HistoryEntry:
    weights = release.Weights(stable=100 - canary, canary=canary) if canary is not None else None
    return release.HistoryEntry(
        at=T0 + timedelta(seconds=seconds), event=event, weights=weights, **more
    )


def test_weights_over_time_come_from_the_history_changes_only() -> None:
    """0 at the start, then each entry that moved the weights."""
    history = [
        entry(0, "ReleaseStarted", 10),
        entry(30, "Paused", 10),
        entry(60, "PromotedStep", 50),
        entry(70, "Verdict", None),
    ]
    points = releasepage.weight_points(rel(history=history))
    assert [(int((p.at - T0).total_seconds()), p.canary) for p in points] == [
        (0, 0),
        (0, 10),
        (60, 50),
    ]


def test_readings_come_from_the_release_the_latest_with_its_reason() -> None:
    """`recent`, oldest first; only the latest reading has a reason (the status's)."""
    recent = [
        release.Reading(at=T0 + timedelta(seconds=10 * i), verdict=v, value=value)
        for i, (v, value) in enumerate(
            [(Verdict.PASSED, 0.5), (Verdict.ERROR, None), (Verdict.FAILED, 250.0)]
        )
    ]
    m = release.MetricStatus(
        metric="m",
        verdict=Verdict.FAILED,
        value=250.0,
        reason="e-value 250 ≥ 100",
        at=T0 + timedelta(seconds=20),
        recent=recent,
    )
    assert releasepage.readings(m) == (
        releasepage.Reading(T0, 0.5, "Passed"),
        releasepage.Reading(T0 + timedelta(seconds=10), None, "Error"),
        releasepage.Reading(T0 + timedelta(seconds=20), 250.0, "Failed", "e-value 250 ≥ 100"),
    )


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        pytest.param(release.MetricStatus(metric="m"), (), id="never-measured"),
        pytest.param(
            release.MetricStatus(
                metric="m", verdict=Verdict.PASSED, value=0.01, at=T0, reason="within"
            ),
            (releasepage.Reading(T0, 0.01, "Passed", "within"),),
            id="stored-before-recent-its-latest",
        ),
    ],
)
def test_a_status_without_recent_readings(
    status: release.MetricStatus, expected: tuple[releasepage.Reading, ...]
) -> None:
    """Nothing measured: nothing; a status stored before releases kept readings: its
    latest one."""
    assert releasepage.readings(status) == expected


def test_the_gate_of_each_kind_of_metric() -> None:
    """Sequential: 1/alpha; thresholds: min/max."""
    metrics = {m.name: m for m in POLICY.analysis.metrics}  # type: ignore[union-attr]
    assert releasepage.Gate.of(metrics["errors-vs-stable"]) == releasepage.Gate(
        "sequential", line=100.0
    )
    assert releasepage.Gate.of(metrics["error-rate"]) == releasepage.Gate("threshold", high=0.05)


def test_a_release_page_has_every_metric_of_the_plan_and_its_step_counts() -> None:
    """A metric not measured yet is still shown; the evidence of a step is counted."""
    evidence = [release.StepEvidence(metric="error-rate", passes=3, failures=1)]
    history = [entry(0, "ReleaseStarted", 10), entry(60, "StepAdvanced", 50, evidence=evidence)]
    page = releasepage.release_page(svc(), rel(history=history), NOW)
    assert [m.name for m in page.metrics] == ["errors-vs-stable", "error-rate"]
    rate = page.metrics[1]
    assert [(s.event, s.passes, s.failures) for s in rate.steps] == [("StepAdvanced", 3, 1)]
    assert page.end == NOW


def test_an_old_release_page_offers_no_command() -> None:
    """Only the service's current release can be acted on from its page."""
    page = releasepage.release_page(
        svc(current="web-00003"), rel(Phase.PAUSED, reason=PauseReason.USER, paused=True), NOW
    )
    assert page.card.actions == ()


# --- charts ------------------------------------------------------------------------------


def test_the_weight_bar_has_a_rect_per_revision_with_traffic() -> None:
    bar = charts.weight_bar(board.card(svc(), rel(), NOW).traffic)
    assert re.findall(r'data-revision="([^"]+)"', bar) == ["web-00001", "web-00002"]
    assert 'width="24"' in bar  # 10% of 240


def test_the_weight_chart_has_a_series_per_revision() -> None:
    """Two step lines, the stable's the complement of the canary's."""
    points = (
        releasepage.WeightPoint(T0, 0),
        releasepage.WeightPoint(T0 + timedelta(seconds=60), 50),
    )
    svg = charts.weight_chart(points, stable="web-00001", canary="web-00002", end=NOW)
    assert re.findall(r'<path class="series (\w+)" data-series="([^"]+)"', svg) == [
        ("stable", "web-00001"),
        ("canary", "web-00002"),
    ]
    assert "H" in svg
    assert "V" in svg
    assert svg.startswith("<svg")
    assert svg.endswith("</svg>")


def test_the_e_value_chart_draws_one_over_alpha_and_marks_each_verdict() -> None:
    """A sequential metric: the gate line at 1/alpha, a point per reading by verdict;
    an Error is a cross, an Inconclusive without value sits on the floor."""
    readings = (
        releasepage.Reading(T0, 0.5, "Passed"),
        releasepage.Reading(T0 + timedelta(seconds=10), None, "Inconclusive"),
        releasepage.Reading(T0 + timedelta(seconds=20), None, "Error"),
        releasepage.Reading(T0 + timedelta(seconds=30), 250.0, "Failed"),
    )
    view = releasepage.MetricView(
        "errors-vs-stable", releasepage.Gate("sequential", line=100.0), None, readings, ()
    )
    svg = charts.metric_chart(view, start=T0, end=NOW)
    assert re.findall(r'class="gate" data-gate="(\w+)" data-value="([^"]+)"', svg) == [
        ("line", "100")
    ]
    assert re.findall(r'class="reading (v-\w+)"', svg) == [
        "v-passed",
        "v-inconclusive",
        "v-error",
        "v-failed",
    ]
    failed_y = float(re.search(r'v-failed" cx="[^"]+" cy="([^"]+)"', svg)[1])  # type: ignore[index]
    gate_y = float(re.search(r'data-gate="line"[^>]* y1="([^"]+)"', svg)[1])  # type: ignore[index]
    assert failed_y < gate_y  # above the line: SVG y grows downwards


def test_a_threshold_chart_draws_its_bounds() -> None:
    view = releasepage.MetricView(
        "error-rate",
        releasepage.Gate("threshold", low=0.001, high=0.05),
        None,
        (releasepage.Reading(T0, 0.01, "Passed"),),
        (),
    )
    svg = charts.metric_chart(view, start=T0, end=NOW)
    assert re.findall(r'data-gate="(\w+)"', svg) == ["min", "max"]


def test_a_chart_without_readings_says_so() -> None:
    view = releasepage.MetricView("m", releasepage.Gate("sequential", line=100.0), None, (), ())
    assert "no readings yet" in charts.metric_chart(view, start=T0, end=NOW)


def test_chart_text_is_escaped() -> None:
    """A revision or reason is text, never markup."""
    points = (releasepage.WeightPoint(T0, 10),)
    svg = charts.weight_chart(points, stable="<b>", canary='x"y', end=NOW)
    assert "<b>" not in svg
    assert 'data-series="x&quot;y"' in svg


# --- pages -------------------------------------------------------------------------------


def test_the_overview_has_a_post_form_per_command_with_the_csrf_token() -> None:
    c = board.card(svc(), rel(Phase.PAUSED, step=1, reason=PauseReason.PROMOTION), NOW)
    html = pages.overview([c], csrf="TOKEN", read_only=False, scope="all namespaces")
    forms = re.findall(r'<form class="action" method="post" action="([^"]+)"', html)
    assert forms == [
        f"/ns/shop/services/web/{a}" for a in ("promote", "promote-full", "pause", "retry", "abort")
    ]
    assert html.count('name="csrf" value="TOKEN"') == 5
    assert '<input type="hidden" name="step" value="1">' in html  # the step seen
    assert 'action="/ns/shop/services/web/abort" data-confirm' in html


def test_a_read_only_page_has_no_form() -> None:
    c = board.card(svc(), rel(Phase.PAUSED, reason=PauseReason.PROMOTION), NOW)
    html = pages.overview([c], csrf="TOKEN", read_only=True, scope="all namespaces")
    assert "<form" not in html
    assert "TOKEN" not in html


class _Frags(HTMLParser):
    """How deep `data-frag` elements sit in one another (1: never nested)."""

    VOID = frozenset({"input", "meta", "link", "br", "img"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[bool] = []
        self.deepest = 0
        self.count = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            return
        frag = any(k == "data-frag" for k, _ in attrs)
        self.count += frag
        self.stack.append(frag)
        self.deepest = max(self.deepest, sum(self.stack))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        return

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.VOID:
            self.stack.pop()


def test_fragments_are_never_nested() -> None:
    """The script swaps fragments one by one: none holds another."""
    history = [entry(0, "ReleaseStarted", 10)]
    page = releasepage.release_page(svc(), rel(history=history), NOW)
    parser = _Frags()
    parser.feed(pages.release(page, csrf="T", read_only=False))
    assert (parser.deepest, parser.stack) == (1, [])
    assert parser.count >= 6


def test_the_layout_embeds_the_csrf_token_and_the_local_script() -> None:
    html = pages.layout("x", "<p>hi</p>", csrf="TOK", read_only=False)
    assert '<meta name="csrf-token" content="TOK">' in html
    assert 'src="/static/dashboard.js"' in html
    assert "http" not in html.split("<main")[0]


def test_a_promoted_canary_is_drawn_as_the_stable() -> None:
    """Once the service's stable revision is the release's canary, its role is stable."""
    promoted = svc().model_copy(deep=True)
    promoted.status.stable_revision = "web-00002"
    c = board.card(promoted, rel(Phase.SUCCEEDED), NOW)
    assert [(t.revision, t.role) for t in c.traffic] == [("web-00001", ""), ("web-00002", "stable")]


def test_webhook_calls_are_shown_without_their_url() -> None:
    """The last answer of each webhook, as `rollout status` words it."""
    r = rel(Phase.PAUSED, reason=PauseReason.CONFIRMATION)
    r.status.webhooks = [
        release.WebhookStatus(
            name="approve",
            type="confirm-promotion",
            basis="step 2",
            http_status=403,
            calls=3,
            last_call_at=T0 + timedelta(seconds=80),
        )
    ]
    page = releasepage.release_page(svc(), r, NOW)
    assert page.webhooks == (
        releasepage.Hook("approve", "confirm-promotion", "step 2", False, "HTTP 403", 3, "15s"),
    )
    html = pages.release(page, csrf="t", read_only=True)
    assert '<section data-frag="webhooks">' in html
    assert "<td>HTTP 403</td>" in html


GRAPHVIZ = """<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<!-- Generated by graphviz -->
<svg width="2514pt" height="740pt" viewBox="0 0 2514 740" xmlns="http://www.w3.org/2000/svg">
<g id="node1" class="node">
<title>Pending</title><ellipse/></g>
<g id="node2" class="node">
<title>Paused</title><ellipse/></g>
</svg>"""


def test_the_state_machine_marks_the_current_phase() -> None:
    """The node of the release's phase is marked; the diagram scales to the page."""
    svg = charts.highlight(GRAPHVIZ, "Paused")
    assert svg.startswith('<svg class="diagram" role="img" viewBox=')
    assert re.findall(r'class="(node[^"]*)" data-phase="(\w+)"', svg) == [
        ("node", "Pending"),
        ("node current", "Paused"),
    ]
    assert charts.highlight("not svg", "Paused") == ""


def test_the_service_releases_link_to_their_pages() -> None:
    """Past releases are a click away (`?release=NAME`), their names escaped."""
    old = rel(Phase.ROLLED_BACK)
    page = releasepage.release_page(svc(), rel(), NOW, releases=[old])
    html = pages.release(page, csrf="t", read_only=True)
    assert '<td><a href="/ns/shop/services/web?release=web-00002">web-00002</a></td>' in html
