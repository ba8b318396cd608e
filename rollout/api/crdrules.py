"""The CEL rules of the CRDs: the models' cross-field checks that fit in CEL.

`rollout validate` (the models' validators) is the reference; this table copies into
the CRDs (`x-kubernetes-validations`) what the API server can check too, so that
`kubectl apply` refuses what the controller would refuse, with the same words. Each
rule belongs to a model (keyed by its schema name, `RULES`) and is checked on every
object of that model wherever it appears (`spec.policy` of a Release as in a
RolloutPolicy). Messages that name a value are `messageExpression`s; `message` is the
fallback the API server uses when one cannot be evaluated.

Not in CEL (left to `rollout validate` and the controller's InvalidSpec): rules that
need the pod spec (`podspec.check`), the revision-name prefix of a split (`web-00001`
belongs to `web`), which webhooks the plan would never call, and the analysis steps'
metric names. The setWeight rule says the tail of `validate`'s message (it cannot name
the earlier step).

Rules iterate over lists, so the API server's cost estimate needs bounds on them: the
lists they read have a `max_length` in the models (generous: far beyond any real plan;
`rollout validate` checks it too), hence `maxItems` in the CRDs, and string enums get
a `maxLength` (`crds`).

Kubernetes CEL functions used beyond the CEL standard: `sum()` and `isSorted()`
(lists library), `join()` (strings library). Every rule is checked against the models
in `tests/unit/api/test_crd_rules.py`.

Pure data; no I/O. Read by `crds`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ROOT_RULES", "RULES"]

Rule = dict[str, Any]


def _rule(
    rule: str, message: str, *, expression: str | None = None, field: str | None = None
) -> Rule:
    out: Rule = {"rule": rule, "message": message}
    if expression is not None:
        out["messageExpression"] = expression
    if field is not None:
        out["fieldPath"] = field
    return out


def _exactly_one(fields: tuple[str, ...], *, prefix: str) -> Rule:
    """`exactly one of a, b, c (got …)`, the wording of the models' one-of checks."""
    given = ", ".join(f"has(self.{f})" for f in fields)
    names = ", ".join(f"has(self.{f}) ? '{f}' : ''" for f in fields)
    anything = " || ".join(f"has(self.{f})" for f in fields)
    return _rule(
        f"[{given}].filter(x, x).size() == 1",
        f"{prefix} exactly one of {', '.join(fields)}",
        expression=(
            f"'{prefix} exactly one of {', '.join(fields)} (got ' + (({anything}) ?"
            f" [{names}].filter(s, s != '').join(', ') : 'none') + ')'"
        ),
    )


def _unique(items: str, key: str, what: str) -> Rule:
    """Unique `key` across the list `items` (`duplicate … 'name'`)."""
    dup = f"self.{items}.filter(x, !self.{items}.exists_one(y, y.{key} == x.{key}))"
    return _rule(
        f"!has(self.{items})"
        f" || self.{items}.all(x, self.{items}.exists_one(y, y.{key} == x.{key}))",
        f"duplicate {what}",
        expression=f'"duplicate {what} \'" + {dup}[0].{key} + "\'"',
        field=f".{items}",
    )


_SPLIT = (
    _rule(
        "!has(self.traffic) || size(self.traffic) == 0"
        " || self.traffic.map(t, t.percent).sum() == 100",
        "percents must sum to 100",
        expression="'percents must sum to 100 (they sum to '"
        " + string(self.traffic.map(t, t.percent).sum()) + ')'",
        field=".traffic",
    ),
    _rule(
        "!has(self.traffic) || self.traffic.all(t, !has(t.tag)"
        " || self.traffic.exists_one(u, has(u.tag) && u.tag == t.tag))",
        "duplicate tag",
        expression='"duplicate tag \'" + self.traffic.filter(t, has(t.tag)'
        ' && !self.traffic.exists_one(u, has(u.tag) && u.tag == t.tag))[0].tag + "\'"',
        field=".traffic",
    ),
)

#: Rules by model (its schema name), on the object of that model.
RULES: dict[str, tuple[Rule, ...]] = {
    "ServiceSpec": (
        _rule(
            "has(self.template) || has(self.workloadRef)",
            "give the pod template to run, or spec.workloadRef to adopt an existing Deployment's",
            field=".template",
        ),
        _rule(
            "!has(self.template) || !has(self.workloadRef)",
            "cannot be combined with spec.template; remove one of them",
            expression="'cannot be combined with spec.template: the revisions are made from"
            " the pod template of Deployment ' + self.workloadRef.name + '; remove one of them'",
            field=".workloadRef",
        ),
        _rule(
            "!has(self.traffic) || !has(self.policy)",
            "a manual split cannot be combined with spec.policy: a policy moves traffic"
            " itself; remove one of them",
            field=".traffic",
        ),
        _rule(
            "!has(self.traffic) || size(self.traffic) > 0",
            "give at least one target, or leave it out",
            field=".traffic",
        ),
        *_SPLIT,
    ),
    "RouteSpec": _SPLIT,
    "Scaling": (
        _rule(
            "!has(self.maxReplicas)"
            " || self.maxReplicas >= (has(self.minReplicas) ? self.minReplicas : 1)",
            "must be at least minReplicas",
            expression="'must be at least minReplicas ('"
            " + string(has(self.minReplicas) ? self.minReplicas : 1) + ')'",
            field=".maxReplicas",
        ),
    ),
    "Step": (
        _exactly_one(
            ("setWeight", "pause", "analysis", "setHeaderRoute", "setMirror"), prefix="a step needs"
        ),
    ),
    "CanaryShorthand": (
        _rule("self.stepWeight >= 1", "must be at least 1", field=".stepWeight"),
        _rule(
            "self.stepWeight < 1"
            " || (has(self.maxWeight) ? self.maxWeight : 100) >= self.stepWeight",
            "must be at least stepWeight",
            expression="'must be at least stepWeight (' + string(self.stepWeight) + ')'",
            field=".maxWeight",
        ),
    ),
    "RolloutPolicySpec": (
        _rule(
            "!has(self.steps) || !has(self.canary)",
            "give either steps or canary, not both",
            field=".canary",
        ),
        _rule(
            "has(self.steps) || has(self.canary)",
            "a policy needs steps (or the canary shorthand)",
            field=".steps",
        ),
        _rule(
            "!has(self.steps) || size(self.steps) > 0",
            "at least one step is required",
            field=".steps",
        ),
        _rule(
            "!has(self.canary) || (has(self.analysis) && has(self.analysis.metrics)"
            " && size(self.analysis.metrics) > 0)",
            "the canary shorthand analyses every interval: it needs metrics in"
            " spec.analysis.metrics",
            field=".canary",
        ),
        _rule(
            "!has(self.steps)"
            " || self.steps.filter(s, has(s.setWeight)).map(s, s.setWeight).isSorted()",
            "setWeight must not decrease across steps",
            field=".steps",
        ),
        _unique("webhooks", "name", "webhook name"),
        _unique("notifications", "name", "notification name"),
    ),
    "Analysis": (_unique("metrics", "name", "metric name"),),
    "Metric": (
        _rule(
            "has(self.thresholds) || has(self.compare)",
            "a metric needs a gate: thresholds, compare or both (a metric without one would"
            " always pass)",
        ),
    ),
    "Provider": (_exactly_one(("local", "prometheus", "web"), prefix="a provider needs"),),
    "Thresholds": (
        _rule("has(self.min) || has(self.max)", "give min, max or both"),
        _rule(
            "!has(self.min) || !has(self.max) || self.min <= self.max",
            "must be at most max",
            expression="'must be at most max (' + string(self.max) + ')'",
            field=".min",
        ),
    ),
    "Compare": (
        _rule(
            "!has(self.history) || !has(self.method) || self.method == 'sequential'",
            "history applies to the sequential method only (error counts)",
            field=".history",
        ),
        _rule(
            "!has(self.slowerThan) || !has(self.method) || self.method == 'sequential'",
            "slowerThan applies to the sequential method only (counts of slow requests)",
            field=".slowerThan",
        ),
    ),
    "CanaryScale": (
        _rule(
            "has(self.matchWeight) && self.matchWeight",
            "canaryScale acts only with matchWeight: true (the canary's replicas follow its"
            " weight); without it the canary runs at its full size — set matchWeight: true"
            " or remove canaryScale",
            field=".matchWeight",
        ),
    ),
    "ValueFrom": (_exactly_one(("env", "file", "secretKeyRef"), prefix="valueFrom needs"),),
    "Notification": (
        _rule(
            "!has(self.secretRef) || self.sink == 'webhook'",
            "secretRef: not supported for this sink (it checks no signature; its URL is the"
            " credential)",
            expression="'secretRef: not supported for ' + self.sink + ' sinks (they check no"
            " signature; their URL is the credential)'",
            field=".secretRef",
        ),
        _rule(
            "!has(self.triggers) || self.triggers.all(t, self.triggers.exists_one(u, u == t))",
            "triggers: one is listed twice",
            field=".triggers",
        ),
    ),
    "Weights": (_rule("self.stable + self.canary == 100", "stable + canary must be 100"),),
}

#: Rules on a kind's whole object (they read `metadata.name`), by kind.
ROOT_RULES: dict[str, tuple[Rule, ...]] = {
    "Service": (
        _rule(
            "!self.metadata.name.matches('^[0-9]')",
            "must start with a letter: its revisions run behind Kubernetes Services, whose"
            " names are DNS-1035 labels",
            expression='"metadata.name: \'" + self.metadata.name + "\' must start with a'
            " letter: its revisions run behind Kubernetes Services, whose names are DNS-1035"
            ' labels"',
        ),
        _rule(
            "size(self.metadata.name) <= 57",
            "metadata.name: must be at most 57 characters (revision names add -00001)",
        ),
    ),
}
