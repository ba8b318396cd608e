"""Plain-text explanations of resources for `rollout validate --explain`.

A policy is shown as the plan the release engine will follow: its steps after the
`canary` shorthand is expanded (counted from 1, as `rollout status` numbers them), the
final promotion to 100%, and every metric gate with its provider and limits.

Credentials are never printed: a header read with `valueFrom` shows its source
(`Authorization: from env TOKEN`), a literal value of a credential-like header shows
`(literal, hidden)`, and URLs have their user part and credential-like query values
replaced by `***`.

Pure: resources in, text out.
"""

from __future__ import annotations

from datetime import timedelta

from rollout.api import documents, durations, podspec, policyspec, rolloutpolicy, service
from rollout.release import hooks

__all__ = ["explain", "explain_policy"]


def explain(doc: documents.Document) -> str:
    resource = doc.resource
    head = f"{doc.path}:{doc.line}: {resource.kind} {resource.metadata.name}"
    if isinstance(resource, rolloutpolicy.RolloutPolicy):
        return "\n".join([head, *explain_policy(resource.spec)]) + "\n"
    if isinstance(resource, service.Service):
        return "\n".join([head, *_explain_service(resource)]) + "\n"
    return head + "\n"


def explain_policy(spec: policyspec.RolloutPolicySpec) -> list[str]:
    lines = []
    source = "steps (expanded from canary shorthand):" if spec.canary else "steps:"
    lines.append(f"  {source}")
    steps = spec.expanded_steps()
    width = len(str(len(steps)))
    for i, step in enumerate(steps, start=1):
        lines.append(f"    [{i:>{width}}] {step.describe()}")
    lines.append("    then: promote — 100% of traffic to the new revision")
    analysis = spec.analysis
    if analysis is not None and analysis.metrics:
        limit = analysis.failure_limit
        fails = (
            "as soon as one measurement fails"
            if limit == 0
            else f"when more than {limit} measurement(s) fail in a step"
        )
        lines.append(
            f"  analysis every {durations.format_duration(analysis.interval)}:"
            f" a metric fails {fails}; {analysis.inconclusive_limit} inconclusive or"
            f" {analysis.consecutive_error_limit} errors in a row pause for a human"
        )
        for metric in analysis.metrics:
            lines.append(f"    {metric.name}: {_describe_metric(metric)}")
    deadline = f"  progress deadline {durations.format_duration(spec.progress_deadline)}"
    if analysis is not None and analysis.metrics:
        deadline += f"; on failed analysis: {spec.rollback.on_failure.value}"
    lines.append(deadline)
    if spec.session_affinity is not None:
        affinity = spec.session_affinity
        lines.append(
            f"  sticky: a client sent to the canary gets cookie {affinity.cookie_name}"
            f" (max-age {durations.format_duration(affinity.max_age)}) and stays there while"
            " the release runs; back to the stable on rollback"
        )
    if spec.canary_scale is not None:
        lines.append(
            f"  canary replicas follow its weight: max({spec.canary_scale.min_replicas},"
            " ceil(stable replicas × weight / 100)), scaled up before the weight moves"
        )
    if spec.scale_down_delay is not None:
        lines.append(f"  {_scale_down(spec.scale_down_delay)} (unless the service sets its own)")
    for hook in spec.webhooks:
        lines.append(
            f"  webhook {hook.name} ({hook.type.value}, {_HOOK_EFFECT[hook.type]}):"
            f" {hooks.where(hook.url)}"
        )
    for n in spec.notifications:
        lines.append(
            f"  notification {n.name} ({n.sink.value}) on {', '.join(t.value for t in n.triggers)}:"
            f" URL {n.url_from.describe()}"
        )
    return lines


_HOOK_EFFECT = {
    policyspec.WebhookType.CONFIRM_ROLLOUT: "the first shift waits for its 2xx",
    policyspec.WebhookType.PRE_ROLLOUT: "before the first shift; failures roll back",
    policyspec.WebhookType.ROLLOUT: "every interval at analysis steps; failures count",
    policyspec.WebhookType.CONFIRM_TRAFFIC_INCREASE: "each increase waits for its 2xx",
    policyspec.WebhookType.CONFIRM_PROMOTION: "the promotion waits for its 2xx",
    policyspec.WebhookType.POST_ROLLOUT: "told the outcome",
    policyspec.WebhookType.ROLLBACK: "polled while running; a 2xx rolls back",
    policyspec.WebhookType.EVENT: "sent every event",
}


def _header(name: str, value: str | policyspec.HeaderValue) -> str:
    if isinstance(value, policyspec.HeaderValue):
        return f"{name}: {value.value_from.describe()}"
    if policyspec.is_credential_name(name):
        return f"{name}: (literal, hidden)"
    return f"{name}: {value}"


def _describe_metric(metric: policyspec.Metric) -> str:
    provider = metric.provider
    if provider.local is not None:
        source = f"local proxy {provider.local.stat.value}"
    elif provider.prometheus is not None:
        source = f"prometheus {policyspec.redact_url(provider.prometheus.address)}"
    else:
        web = provider.web
        assert web is not None
        source = f"web {policyspec.redact_url(web.url)} {web.json_path}"
        if web.headers:
            headers = ", ".join(_header(name, value) for name, value in web.headers.items())
            source += f" (headers {headers})"
    gates = []
    if metric.thresholds is not None:
        if metric.thresholds.min is not None:
            gates.append(f"≥ {metric.thresholds.min:g}")
        if metric.thresholds.max is not None:
            gates.append(f"≤ {metric.thresholds.max:g}")
    if metric.compare is not None:
        c = metric.compare
        gates.append(
            f"vs stable by {c.method.value} test (alpha {c.alpha:g}, max ratio {c.max_ratio:g})"
        )
    sequential = (
        metric.compare is not None and metric.compare.method is policyspec.CompareMethod.SEQUENTIAL
    )
    span = (
        "all requests since the release started"
        if sequential and metric.thresholds is None
        else f"over {durations.format_duration(metric.window)}"
    )
    text = f"{source} {span}, " + " and ".join(gates)
    if metric.min_samples:
        text += f"; inconclusive below {metric.min_samples} requests"
    if metric.failure_limit is not None:
        text += f"; fails when more than {metric.failure_limit} readings fail in a step"
    return text


def _explain_service(svc: service.Service) -> list[str]:
    spec = svc.spec
    lines = []
    if spec.workload_ref is not None:
        ref = spec.workload_ref
        lines.append(
            f"  adopts Deployment {ref.name} (Kubernetes only): revisions are made from its"
            f" pod template; scaleDown {ref.scale_down}"
        )
    for container in podspec.app_containers(spec.template.spec if spec.template else {}):
        what = " ".join(container.get("command") or []) or container.get("image") or ""
        lines.append(f"  container {container['name']}: {what}")
    if spec.traffic is not None:
        split = ", ".join(
            f"{t.revision_name} {t.percent}%" + (f" (tag {t.tag})" if t.tag else "")
            for t in spec.traffic
        )
        lines.append(f"  manual traffic split: {split}")
    elif spec.policy is not None:
        lines.append(f"  new revisions are released by policy {spec.policy}")
    else:
        lines.append("  no policy: a new revision takes all traffic as soon as it is ready")
    if spec.scale_down_delay is not None:
        lines.append(f"  {_scale_down(spec.scale_down_delay)} (over the policy's)")
    return lines


def _scale_down(delay: timedelta) -> str:
    return (
        "revisions without traffic go to 0 replicas"
        f" {durations.format_duration(delay)} after a release ends"
    )
