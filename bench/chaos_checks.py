"""The chaos benchmarks' judges, pure: what a release's history, and the load's own
record of every request, say about it.

Of one release's history (`check_release`), each a list of findings, empty when sound:
- `phase`: the final phase is the one expected (bad canary → RolledBack, good →
  Succeeded);
- `steps`: step indices move one at a time (none repeated, none skipped) and each
  step's canary weight is the one the policy sets for it;
- `backwards`: the canary weight never goes down except when rolling back or
  aborting;
- `evidence`: each weight increase and promotion carries, in its history entry, the
  evidence of the step it ends — no gating metric whose latest reading is an Error,
  readings not mostly Inconclusive (quiet readings left out when the entry counts
  them), the canary's requests at least the metric's `minSamples` (kept "pending" when
  the history has no `evidence` at all).

Of the load's records (`data_plane`, `observed_evidence`; a record is `[sent,
answered, service, status (0: no HTTP answer), Rollout-Revision, why]`): every failed
request classified (the data plane's failures against the proxy's restart gap, kills'
in-flight cuts and the application's own errors), and the canary requests actually
served in the step behind each increase.

No I/O, no clock: histories, records and kills in, findings out. Called by
`chaos_local.py` and `chaos_sim.py`; tested by `tests/unit/bench/test_chaos_checks.py`.
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
from collections.abc import Sequence
from typing import Any

import chaos_common as cc

# -- checking a release ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Increase:
    """A history entry that raised the canary's weight or promoted it, and the window
    of the step it ended (from the entry that set the weight it left, or a resume)."""

    at: float
    window_start: float
    event: str
    before: int
    after: int
    evidence: list[dict[str, Any]] | None  # None: the history carries no evidence field


def increases(rel: dict[str, Any]) -> list[Increase]:
    history = rel.get("status", {}).get("history", [])
    out: list[Increase] = []
    weight = 0
    window_start = cc.epoch(rel["metadata"].get("creationTimestamp")) or 0.0
    for entry in history:
        at = cc.epoch(entry.get("at")) or window_start
        canary = (entry.get("weights") or {}).get("canary")
        phase = entry.get("phase")
        raised = canary is not None and canary > weight and phase not in cc.DOWNWARD_PHASES
        if raised or entry.get("event") in ("Promoting", "PromotedFull"):
            out.append(
                Increase(
                    at=at,
                    window_start=window_start,
                    event=str(entry.get("event")),
                    before=weight,
                    after=canary if canary is not None else weight,
                    evidence=entry.get("evidence") if "evidence" in entry else None,
                )
            )
        if canary is not None and canary != weight:
            weight = canary
            window_start = at
        if entry.get("event") in ("Resumed", "Retried"):
            window_start = at
    # The first raise (ReleaseStarted's setWeight) ends no step: nothing gates it.
    return [i for i in out if i.before > 0 or i.event in ("Promoting", "PromotedFull")]


@dataclasses.dataclass
class Findings:
    phase: list[str] = dataclasses.field(default_factory=list)
    steps: list[str] = dataclasses.field(default_factory=list)
    backwards: list[str] = dataclasses.field(default_factory=list)
    evidence: list[str] = dataclasses.field(default_factory=list)
    evidence_pending: bool = False


def check_release(rel: dict[str, Any], *, expected: str, policy: cc.Policy) -> Findings:
    """The history checks of the module docstring, for one release."""
    found = Findings()
    name = rel["metadata"]["name"]
    status = rel.get("status", {})
    phase = status.get("phase")
    if phase != expected:
        found.phase.append(f"{name}: ended {phase}, expected {expected} ({status.get('message')})")
    weights = policy.step_weights()
    last_step: int | None = None
    weight = 0
    for entry in status.get("history", []):
        step = entry.get("stepIndex")
        canary = (entry.get("weights") or {}).get("canary")
        event = entry.get("event")
        if (
            event == "StepAdvanced"
            and step is not None
            and last_step is not None
            and (step != last_step + 1)
        ):
            kind = "repeated" if step <= last_step else "skipped"
            found.steps.append(f"{name}: step {step + 1} after {last_step + 1} ({kind})")
        on_plan = entry.get("phase") in ("Progressing", "Paused") and canary is not None
        if on_plan and step is not None and step < len(weights) and canary != weights[step]:
            found.steps.append(
                f"{name}: step {step + 1} at canary {canary}%, the policy says {weights[step]}%"
            )
        if step is not None:
            last_step = step if last_step is None else max(last_step, step)
        if canary is not None:
            if canary < weight and entry.get("phase") not in cc.DOWNWARD_PHASES:
                found.backwards.append(
                    f"{name}: canary {weight}% → {canary}% at {entry.get('at')} ({event},"
                    f" {entry.get('phase')})"
                )
            weight = canary
    for inc in increases(rel):
        if inc.evidence is None:
            found.evidence_pending = True
            continue
        for problem in evidence_problems(inc, policy):
            found.evidence.append(f"{name}: {inc.event} {inc.before}% → {inc.after}%: {problem}")
    return found


def evidence_problems(inc: Increase, policy: cc.Policy) -> list[str]:
    """What is missing from the evidence an increase's history entry carries."""
    if not inc.evidence:
        return ["no evidence recorded"]
    out = []
    for ev in inc.evidence:
        metric = ev.get("metric")
        if ev.get("verdict") == "Error":
            out.append(f"{metric}: latest reading Error")
        # Quiet readings (Inconclusive: the canary served nothing since the last look)
        # are left out when the history says how many there were, as the engine does.
        quiet = int(ev.get("quiet", 0))
        measurements = int(ev.get("measurements", 0)) - quiet
        inconclusive = int(ev.get("inconclusive", 0)) - quiet
        if measurements <= 0 or 2 * inconclusive > measurements:
            what = f"{inconclusive} of {measurements} readings Inconclusive"
            out.append(f"{metric}: {what}" + (f" ({quiet} quiet left out)" if quiet else ""))
        if int(ev.get("canaryRequests", 0)) < max(policy.min_samples, 1):
            out.append(
                f"{metric}: canary {ev.get('canaryRequests', 0)} requests < {policy.min_samples}"
            )
    return out


# -- the load's records -------------------------------------------------------------

IN_FLIGHT_SLOP = 0.05  # seconds: a kill this close to a request's ends counts as in flight


def data_plane(
    records: Sequence[Sequence[Any]],
    *,
    kills: Sequence[dict[str, Any]],
    services: Sequence[str],
    proxies: dict[int, dict[str, Any]],
    began: float,
    load_ended: float,
) -> dict[str, Any]:
    """Every failed request classified, and the proxy's restart gap per proxy kill.

    `kills`: `{"t", "kind": controller|proxy|canary, "revision" (canary)}`; `proxies`:
    each proxy process seen, `{"first": seen, "healthy": its admin answered}`. The gap
    of a proxy kill on a service lasts from the kill to the first HTTP answer on that
    service (to `load_ended` when none came: "never"). Failures of the data plane:
    502 "no … ready" / "… is not ready"; a 502 from a revision sent to after it was
    killed; other upstream 502s; connections refused outside a gap; other connection
    errors; other HTTP errors. Reported apart: requests in a gap, requests in flight
    when a proxy or a canary was killed, the application's own 500s (`why` "app").
    """
    proxy_kills = sorted(k["t"] for k in kills if k["kind"] == "proxy")
    canary_kills = [k for k in kills if k["kind"] == "canary"]
    answered: dict[str, list[float]] = collections.defaultdict(list)  # service → sent times
    refused: dict[str, list[float]] = collections.defaultdict(list)
    answered_ok: dict[str, list[float]] = collections.defaultdict(list)  # 2xx, sent times
    for r in records:
        if r[3] != 0:
            answered[r[2]].append(r[0])
            if 200 <= r[3] < 300:
                answered_ok[r[2]].append(r[0])
        elif r[5] == "refused":
            refused[r[2]].append(r[0])
    for times in (*answered.values(), *refused.values(), *answered_ok.values()):
        times.sort()
    gaps: list[dict[str, Any]] = []
    windows: dict[str, list[tuple[float, float]]] = collections.defaultdict(list)
    for tk in proxy_kills:
        per_service: dict[str, float] = {}
        never = []
        for svc in services:
            times = answered.get(svc, [])
            # The gap ends at the first answer after the proxy is gone: a request sent
            # just after the kill signal may still be answered by the dying process, so
            # start from its first refusal when that comes within a second of the kill.
            # (`sent` is stamped before the client takes a connection: one stamped a
            # moment before the kill may connect after it.)
            down = refused.get(svc, [])
            j = bisect.bisect_left(down, tk - IN_FLIGHT_SLOP)
            start = down[j] if j < len(down) and down[j] - tk <= 1.0 else tk
            i = bisect.bisect_right(times, start)
            if i < len(times):
                per_service[svc] = times[i] - tk
                windows[svc].append((tk - IN_FLIGHT_SLOP, times[i]))
            else:  # not served again before the load stopped
                never.append(svc)
                per_service[svc] = load_ended - tk
                windows[svc].append((tk - IN_FLIGHT_SLOP, float("inf")))
        process = min(
            (p["healthy"] for p in proxies.values() if p["healthy"] and p["first"] >= tk - 0.5),
            default=None,
        )
        gaps.append(
            {
                "at": round(tk - began, 1),
                "serviceGapS": round(max(per_service.values()), 2) if per_service else None,
                "processBackS": None if process is None else round(process - tk, 2),
                "never": sorted(never),
            }
        )

    def in_gap(svc: str, sent: float) -> bool:
        return any(a <= sent <= b for a, b in windows.get(svc, ()))

    # A "canary" killed just after its release promoted it (the kill raced the
    # promotion: `sole`) was its service's only revision: until it is back, nothing can
    # serve. Its outage is the application's, reported apart like the proxy's gap.
    sole: dict[str, list[tuple[float, float]]] = collections.defaultdict(list)
    for k in canary_kills:
        if k.get("sole"):
            svc = k["revision"].rsplit("-", 1)[0]
            times = answered_ok.get(svc, [])
            i = bisect.bisect_right(times, k["t"])
            sole[svc].append((k["t"], times[i] if i < len(times) else float("inf")))

    def sole_outage(svc: str, sent: float) -> bool:
        return any(a <= sent <= b for a, b in sole.get(svc, ()))

    def cut_by(times: list[float], sent: float, done: float) -> bool:
        return any(sent - IN_FLIGHT_SLOP <= t <= done + IN_FLIGHT_SLOP for t in times)

    counts: collections.Counter[str] = collections.Counter()
    reasons: collections.Counter[str] = collections.Counter()
    for sent, done, svc, code, _revision, why in records:
        counts["requests"] += 1
        if 200 <= code < 300:
            continue
        if code == 500 and why == "app":
            counts["app"] += 1
            continue
        if code == 0:
            if why in ("disconnected", "reset") and cut_by(proxy_kills, sent, done):
                counts["cutByProxyKill"] += 1
            elif in_gap(svc, sent):
                counts["proxyGap"] += 1
            elif why == "refused":
                counts["refusedBeyondGap"] += 1
                reasons[f"refused ({svc})"] += 1
            else:
                counts["connectionOther"] += 1
                reasons[why] += 1
            continue
        text = str(why)
        if text.startswith("rollout proxy:") and sole_outage(svc, sent):
            counts["soleRevisionOutage"] += 1
            continue
        if text.startswith("rollout proxy:"):
            detail = text.split(": ", 2)[-1]
            if detail.startswith("no ") or detail.endswith("is not ready"):
                counts["noRevision"] += 1
                reasons[detail] += 1
                continue
            target = detail.split(":", 1)[0].removeprefix("revision ").strip()
            killed_at = [k["t"] for k in canary_kills if k["revision"] == target]
            if killed_at and cut_by(killed_at, sent, done):
                counts["cutByCanaryKill"] += 1
            elif any(0 <= sent - t <= 120 for t in killed_at):
                counts["deadUpstream"] += 1
                reasons[f"after kill: {detail.split(': ', 1)[-1]}"] += 1
            else:
                counts["upstreamOther"] += 1
                reasons[detail] += 1
            continue
        counts["httpOther"] += 1
        reasons[f"{code}: {text[:80]}"] += 1
    data_plane_total = sum(
        counts[k]
        for k in ("noRevision", "deadUpstream", "upstreamOther", "refusedBeyondGap",
                  "connectionOther", "httpOther")
    )  # fmt: skip
    return {
        "counts": dict(counts),
        "dataPlaneFailed": data_plane_total,
        "proxyKills": gaps,
        "reasons": dict(reasons.most_common(20)),
    }


def observed_evidence(
    releases: Sequence[dict[str, Any]], records: Sequence[Sequence[Any]], *, min_samples: int
) -> dict[str, Any]:
    """Canary requests served (HTTP answers carrying its `Rollout-Revision`) in the
    step behind each increase: `none` lists the increases with 0, `thin` those with
    fewer than `min_samples`."""
    served: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
    for _sent, done, svc, code, revision, _why in records:
        if code != 0 and revision:
            served[(svc, revision)].append(done)
    for times in served.values():
        times.sort()
    none: list[str] = []
    thin: list[str] = []
    counts: list[int] = []
    for rel in releases:
        svc, canary = rel["spec"]["service"], rel["spec"]["canaryRevision"]
        times = served.get((svc, canary), [])
        for inc in increases(rel):
            n = bisect.bisect_right(times, inc.at) - bisect.bisect_left(times, inc.window_start)
            counts.append(n)
            what = (
                f"{rel['metadata']['name']}: {inc.event} {inc.before}% → {inc.after}% after"
                f" {inc.at - inc.window_start:.0f} s with canary {n} requests"
            )
            if n == 0:
                none.append(what)
            elif n < min_samples:
                thin.append(what)
    return {"increases": len(counts), "none": none, "thin": thin,
            "minServed": min(counts, default=None)}  # fmt: skip
