"""What `rollout status` shows, computed from the Service and its current Release.

- `snapshot(...)`: the stable `-o json` shape of DESIGN §7, plus `problems`
  (`[{source, reason, message}]`) and the request rules in force — `headerRoutes`
  (`[{name, match, revision}]`), `mirrors` (`[{name, percent, match, revision}]`),
  `sessionAffinity` (`{cookieName, revision}` or null) — the match in words; traffic
  and rules as the Route reports them applied (the Service's copy of the traffic is
  refreshed when no release runs; without a Route, the rules the release asks for);
- `rule_lines(data)`: those rules, one line each (`header route beta: header X-Beta =
  '1' → web-00002`), shown under the weights;
- `outcome(...)`: 0 when the latest change has been rolled out (release Succeeded, or
  an immediate rollout done), 1 when it ended otherwise, None while it is going;
- `line(...)`: one line per change, for logs and pipes (no TTY); `problem_lines(...)`:
  the problems under it, one each (wrapped);
- `panel(...)`: the live view — weight bars, step N of M, phase, time in step, the
  latest verdict per metric with its reason, the release's last history entries, the
  problems (`rollout.views.problems`: why the service is not where it should be), the
  service's recent events, and the notes it is given (what the runtime says about
  revisions, e.g. `IgnoredOnLocal`).

The message comes from `rollout.release.summary.describe` (the engine's), a pure
function of spec and status, so it is current even between the controller's writes. Pure; no I/O.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from rollout.api import condition, durations, matching, release, route, service, steps
from rollout.api.release import TERMINAL_PHASES, Phase
from rollout.release import summary  # not the engine: it loads the state machine and analysis
from rollout.views import problems as problem_view

__all__ = ["line", "outcome", "panel", "problem_lines", "rule_lines", "snapshot"]

_BAR = 30
_GOOD = {Phase.SUCCEEDED}


def _message(rel: release.Release, now: datetime, *, countdown: bool = True) -> str:
    if rel.status.phase in TERMINAL_PHASES:
        return rel.status.message or summary.describe(rel.spec, rel.status, now)
    return summary.describe(rel.spec, rel.status, now, countdown=countdown)


def _current(svc: service.Service, rel: release.Release | None) -> release.Release | None:
    """The release of the latest revision, when there is one."""
    latest = svc.status.latest_created_revision
    if rel is None or rel.spec.canary_revision != latest:
        return None
    return rel


def snapshot(
    svc: service.Service,
    rel: release.Release | None,
    now: datetime,
    *,
    rt: route.Route | None = None,
    countdown: bool = True,
    problems: Sequence[problem_view.Problem] = (),
) -> dict[str, Any]:
    rel = _current(svc, rel) or rel
    data: dict[str, Any] = {
        "service": svc.metadata.name,
        "namespace": svc.metadata.namespace or "default",
        "stableRevision": svc.status.stable_revision,
        "canaryRevision": rel.spec.canary_revision
        if rel is not None and rel.status.phase not in TERMINAL_PHASES
        else None,
        "traffic": [
            {"revision": t.revision_name, "percent": t.percent, "tag": t.tag}
            for t in (rt.status.traffic if rt is not None else svc.status.traffic)
        ],
        "release": None,
        "analysis": [],
        "problems": [p.to_json() for p in problems],
        **_rules(rt, rel),
    }
    if rel is not None:
        data["release"] = {
            "name": rel.metadata.name,
            "phase": rel.status.phase.value,
            "stepIndex": rel.status.step_index,
            "steps": len(rel.spec.policy.expanded_steps()),
            "message": _message(rel, now, countdown=countdown),
        }
        data["analysis"] = [
            {
                "metric": m.metric,
                "verdict": m.verdict.value if m.verdict else None,
                "value": m.value,
                "at": m.at.isoformat() if m.at else None,
                "reason": m.reason,
            }
            for m in rel.status.analysis
        ]
    return data


def _rules(rt: route.Route | None, rel: release.Release | None) -> dict[str, Any]:
    """The request rules in force: the Route's as applied, else the running release's."""
    holder: route.RouteStatus | release.ReleaseStatus | None = None
    if rt is not None:
        holder = rt.status
    elif rel is not None and rel.status.phase not in TERMINAL_PHASES:
        holder = rel.status
    rules = route.Rules.of(holder) if holder is not None else route.Rules()
    sticky = rules.session_affinity
    return {
        "headerRoutes": [
            {"name": r.name, "match": steps.describe_match(r.match), "revision": r.revision_name}
            for r in rules.header_routes
        ],
        "mirrors": [
            {
                "name": m.name,
                "percent": m.percent,
                "match": steps.describe_match(m.match) if m.match else None,
                "revision": m.revision_name,
            }
            for m in rules.mirrors
        ],
        "sessionAffinity": _sticky(sticky) if sticky is not None else None,
    }


def _sticky(sticky: matching.StickySession) -> dict[str, Any]:
    return {"cookieName": sticky.cookie_name, "revision": sticky.revision_name}


def rule_lines(data: dict[str, Any]) -> list[str]:
    """The request rules of a snapshot, one line each."""
    out = [
        f"header route {r['name']}: {r['match']} → {r['revision']}" for r in data["headerRoutes"]
    ]
    for m in data["mirrors"]:
        which = f"requests with {m['match']}" if m["match"] else "all requests"
        out.append(f"mirror {m['name']}: {m['percent']}% of {which} → {m['revision']}")
    sticky = data["sessionAffinity"]
    if sticky is not None:
        out.append(f"sticky: cookie {sticky['cookieName']} → {sticky['revision']}")
    return out


def _webhook(w: release.WebhookStatus, now: datetime) -> dict[str, Any]:
    """A webhook's last answer as shown: never its URL (a credential, for some)."""
    if w.passed:
        answer = f"HTTP {w.http_status}" if w.http_status else (w.error or "passed")
    else:
        answer = w.error or (f"HTTP {w.http_status}" if w.http_status else "—")
    ago = None
    if w.last_call_at is not None:
        ago = durations.format_duration(
            timedelta(seconds=max(round((now - w.last_call_at).total_seconds()), 0))
        )
    return {
        "name": w.name,
        "type": w.type,
        "basis": w.basis,
        "passed": w.passed,
        "answer": answer,
        "calls": w.calls,
        "ago": ago,
    }


def outcome(svc: service.Service, rel: release.Release | None) -> int | None:
    """0: the latest revision is rolled out; 1: its rollout ended otherwise; None: going."""
    if svc.status.observed_generation != svc.metadata.generation:
        return None
    latest = svc.status.latest_created_revision
    if latest is None:
        return None
    current = _current(svc, rel)
    if current is not None:
        if current.status.phase in _GOOD:
            return 0 if svc.status.stable_revision == latest else None
        return 1 if current.status.phase in TERMINAL_PHASES else None
    if svc.status.stable_revision == latest and condition.is_true(
        svc.status.conditions, condition.ConditionType.READY
    ):
        return 0
    revisions = condition.get_condition(
        svc.status.conditions, condition.ConditionType.REVISIONS_READY
    )
    if revisions is not None and revisions.reason == "ProgressDeadlineExceeded":
        return 1
    return None


def line(data: dict[str, Any]) -> str:
    split = ", ".join(f"{t['revision']} {t['percent']}%" for t in data["traffic"] if t["percent"])
    rel = data["release"]
    text = f"{data['service']}: {split or 'no traffic'}"
    if rel is not None:
        text += f" | {rel['name']} {rel['phase']}: {rel['message']}"
    return text


def problem_lines(problems: Sequence[problem_view.Problem], *, width: int = 100) -> list[str]:
    """`  ! Revision/web-00002: CrashLoop: …`, one per problem, long messages wrapped
    under their first line (`!!` marks the ones that block the service)."""
    out = []
    for p in problems:
        mark = "!!" if p.blocking else "! "
        # a multi-line message (a log's last lines) keeps its lines, each wrapped
        first, *rest = p.text().splitlines() or [""]
        out.extend(
            textwrap.wrap(first, width, initial_indent=f"  {mark} ", subsequent_indent="       ")
            or [f"  {mark}"]
        )
        for more in rest:
            out.extend(
                textwrap.wrap(more, width, initial_indent="       ", subsequent_indent="       ")
            )
    return out


def _bar(percent: int) -> Text:
    filled = round(_BAR * percent / 100)
    return Text("█" * filled, style="green") + Text("░" * (_BAR - filled), style="dim")


def panel(
    svc: service.Service,
    rel: release.Release | None,
    now: datetime,
    *,
    rt: route.Route | None = None,
    notes: Sequence[str] = (),
    problems: Sequence[problem_view.Problem] = (),
    events: Sequence[str] = (),
) -> RenderableType:
    """The live view; `notes`: what the runtime says about revisions, one line each;
    `problems`: why the service is not where it should be (`problems.gather`);
    `events`: the service's last events, one line each."""
    data = snapshot(svc, rel, now, rt=rt)
    parts: list[RenderableType] = []
    head = Text(f"{data['service']}", style="bold") + Text(f"  ({data['namespace']})")
    head += Text(f"   stable {data['stableRevision'] or '—'}")
    if data["canaryRevision"]:
        head += Text(f"   canary {data['canaryRevision']}")
    parts.append(head)
    weights = Table.grid(padding=(0, 2))
    for t in data["traffic"]:
        weights.add_row(t["revision"], _bar(t["percent"]), f"{t['percent']:>3}%", t["tag"] or "")
    parts.append(weights)
    parts.extend(Text(f"  {text}", style="cyan") for text in rule_lines(data))
    info = data["release"]
    if info is not None and rel is not None:
        style = {"Succeeded": "green", "RolledBack": "red", "Failed": "red"}.get(
            info["phase"], "yellow"
        )
        text = Text(f"release {info['name']}  ") + Text(info["phase"], style=f"bold {style}")
        text += Text(f"  step {min(info['stepIndex'] + 1, info['steps'])}/{info['steps']}")
        started = rel.status.step_started_at
        if started is not None and rel.status.phase not in TERMINAL_PHASES:
            spent = timedelta(seconds=round((now - started).total_seconds()))
            text += Text(f"  in step {durations.format_duration(spent)}")
        parts.append(text)
        parts.append(Text(f"  {info['message']}"))
        if rel.status.analysis:
            verdicts = Table.grid(padding=(0, 2))
            for m in rel.status.analysis:
                colour = {"Passed": "green", "Failed": "red"}.get(
                    m.verdict.value if m.verdict else "", "yellow"
                )
                verdicts.add_row(
                    f"  {m.metric}",
                    Text(m.verdict.value if m.verdict else "—", style=colour),
                    m.reason,
                )
            parts.append(Text("analysis", style="bold"))
            parts.append(verdicts)
        if rel.status.webhooks:  # in the panel only: `--json` keeps DESIGN's shape
            hooks = Table.grid(padding=(0, 2))
            for w in (_webhook(w, now) for w in rel.status.webhooks):
                hooks.add_row(
                    f"  {w['name']}",
                    w["type"],
                    Text(w["answer"], style="green" if w["passed"] else "yellow"),
                    f"{w['ago']} ago" if w["ago"] else "",
                )
            parts.append(Text("webhooks", style="bold"))
            parts.append(hooks)
        entries = rel.status.history[-5:]
        if entries:
            parts.append(Text("last events", style="bold"))
            for h in entries:
                parts.append(Text(f"  {h.at:%H:%M:%S}  {h.event}  {h.message}"))
    if problems:
        parts.append(Text("problems", style="bold red"))
        for p in problems:
            mark = "!!" if p.blocking else "! "
            parts.append(
                Text(f"  {mark} ", style="red" if p.blocking else "yellow")
                + Text(p.source, style="bold")
                + Text(f": {p.reason}" + (f": {p.message}" if p.message else ""))
            )
    if events:
        parts.append(Text("recent events", style="bold"))
        parts.extend(Text(f"  {e}") for e in events)
    parts.extend(Text(note, style="yellow") for note in notes)
    return Group(*parts)
