"""CRD validation rules (CEL), pruning and defaults: the project's CRDs refuse what
`rollout validate` refuses, with the same words, and the emulator checks them as the
apiserver does (x-kubernetes-validations, transition rules, defaults on write and read)."""

from __future__ import annotations

import copy
import functools
import json
import pathlib
from collections.abc import Callable
from typing import Any

import kubeemu
import kubernetes.client
import pydantic
import pytest
import yaml
from kubeemu import schema
from kubernetes.client.exceptions import ApiException

from rollout.api import crds, kinds

ROOT = pathlib.Path(__file__).resolve().parents[2]
GROUP, VERSION = "rollout.dev", "v1alpha1"
Doc = dict[str, Any]


def _doc(kind: str, name: str, spec: Doc) -> Doc:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
    }


def _service(**spec: Any) -> Doc:
    template = {"spec": {"containers": [{"name": "app", "image": "echo:1"}]}}
    return _doc("Service", "web", {"template": template, **spec})


def _policy(**spec: Any) -> Doc:
    metric = {"name": "errors", "provider": {"local": {"stat": "error_rate"}}}
    base = {
        "steps": [{"setWeight": 20}, {"analysis": {"duration": "1m"}}, {"setWeight": 50}],
        "analysis": {"metrics": [{**metric, "thresholds": {"max": 0.05}}]},
    }
    return _doc("RolloutPolicy", "p", {**base, **spec})


def _route(traffic: list[Doc]) -> Doc:
    return _doc("Route", "web", {"service": "web", "traffic": traffic})


def _metric(change: Callable[[Doc], object]) -> Doc:
    """A policy whose metric `change` edits in place."""
    doc = _policy()
    change(doc["spec"]["analysis"]["metrics"][0])
    return doc


def _metric_twice() -> Doc:
    doc = _policy()
    metrics = doc["spec"]["analysis"]["metrics"]
    metrics.append(copy.deepcopy(metrics[0]))
    return doc


def _hook(**extra: Any) -> Doc:
    return {"name": "h", "type": "pre-rollout", "url": "http://gate.example/check", **extra}


def _notification(**extra: Any) -> Doc:
    return {"name": "n", "sink": "slack", "urlFrom": {"env": "SLACK_URL"}, **extra}


_ONE = {"revisionName": "web-00001", "percent": 100}

# (document, the message `rollout validate` gives — and the CRD's rule too)
CASES: dict[str, tuple[Doc, str]] = {
    "max-below-min": (
        _service(scaling={"minReplicas": 3, "maxReplicas": 2}),
        "must be at least minReplicas (3)",
    ),
    "template-and-workloadref": (
        _service(workloadRef={"name": "legacy"}),
        "cannot be combined with spec.template: the revisions are made from the pod template"
        " of Deployment legacy; remove one of them",
    ),
    "no-workload": (
        _doc("Service", "web", {}),
        "give the pod template to run, or spec.workloadRef to adopt an existing Deployment's",
    ),
    "split-and-policy": (
        _service(traffic=[_ONE], policy="p"),
        "a manual split cannot be combined with spec.policy",
    ),
    "empty-split": (_service(traffic=[]), "give at least one target, or leave it out"),
    "percents-140": (
        _route([_ONE, {"revisionName": "web-00002", "percent": 40}]),
        "percents must sum to 100 (they sum to 140)",
    ),
    "duplicate-tags": (
        _route([{**_ONE, "tag": "a"}, {"revisionName": "web-00002", "percent": 0, "tag": "a"}]),
        "duplicate tag 'a'",
    ),
    "name-starts-with-digit": (
        {**_service(), "metadata": {"name": "1web"}},
        "'1web' must start with a letter",
    ),
    "setweight-decreases": (
        _policy(steps=[{"setWeight": 50}, {"setWeight": 20}]),
        "setWeight must not decrease across steps",
    ),
    "step-two-kinds": (
        _policy(steps=[{"setWeight": 20, "pause": {}}]),
        "a step needs exactly one of setWeight, pause, analysis, setHeaderRoute, setMirror"
        " (got setWeight, pause)",
    ),
    "steps-and-canary": (
        _policy(canary={"stepWeight": 10, "interval": "1m"}),
        "give either steps or canary, not both",
    ),
    "max-weight-below-step": (
        {
            **_policy(),
            "spec": {
                "canary": {"stepWeight": 20, "maxWeight": 10, "interval": "1m"},
                "analysis": _policy()["spec"]["analysis"],
            },
        },
        "must be at least stepWeight (20)",
    ),
    "duplicate-metric": (
        _metric_twice(),
        "duplicate metric name 'errors'",
    ),
    "min-above-max": (
        _metric(lambda m: m.update(thresholds={"min": 2.0, "max": 1.0})),
        "must be at most max (1.0)",
    ),
    "no-provider": (
        _metric(lambda m: m.update(provider={})),
        "a provider needs exactly one of local, prometheus, web (got none)",
    ),
    "no-gate": (
        _metric(lambda m: m.pop("thresholds")),
        "a metric needs a gate: thresholds, compare or both",
    ),
    "history-mann-whitney": (
        _metric(
            lambda m: (
                m.pop("thresholds"),
                m.update(
                    provider={"local": {"stat": "latency_p90"}},
                    compare={"method": "mann-whitney", "history": "10m"},
                ),
            )
        ),
        "history applies to the sequential method only (error counts)",
    ),
    "two-value-sources": (
        _policy(webhooks=[_hook(secretRef={"env": "KEY", "file": "/key"})]),
        "valueFrom needs exactly one of env, file, secretKeyRef (got env, file)",
    ),
    "duplicate-webhooks": (
        _policy(webhooks=[_hook(), _hook()]),
        "duplicate webhook name 'h'",
    ),
    "secret-on-slack": (
        _policy(notifications=[_notification(secretRef={"env": "KEY"})]),
        "secretRef: not supported for slack sinks",
    ),
    "canary-scale-off": (
        _policy(canaryScale={"minReplicas": 1}),
        "canaryScale acts only with matchWeight: true",
    ),
}


@functools.cache
def _validator(kind: str) -> schema.SchemaValidator:
    crd = crds.crd(kinds.KINDS[kind])
    return schema.compile_schema(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])


@pytest.mark.parametrize(("doc", "message"), CASES.values(), ids=CASES.keys())
def test_crd_rules_refuse_what_validate_refuses_with_its_words(doc: Doc, message: str) -> None:
    """The model refuses the document with `message`; so does the CRD's CEL rule."""
    with pytest.raises(pydantic.ValidationError) as refused:
        kinds.KINDS[doc["kind"]].model.model_validate(doc)
    assert message in str(refused.value)
    causes = _validator(doc["kind"]).validate(copy.deepcopy(doc))
    assert [c for c in causes if message in c.message], causes


def _files() -> list[tuple[str, Doc]]:
    paths = sorted([*ROOT.glob("policies/*.yaml"), *ROOT.glob("examples/**/*.yaml")])
    return [
        (f"{p.name}:{d['metadata']['name']}", d)
        for p in paths
        for d in yaml.safe_load_all(p.read_text(encoding="utf-8"))
    ]


FILES = _files()


@pytest.mark.parametrize(("where", "doc"), FILES, ids=[w for w, _ in FILES])
def test_shipped_documents_pass_the_crd_rules(where: str, doc: Doc) -> None:
    """Every policy and example, as users write it, passes its CRD's schema and CEL rules."""
    assert _validator(doc["kind"]).validate(copy.deepcopy(doc)) == []


# --- end to end: kubectl against the emulator --------------------------------------------


def test_kubectl_apply_is_refused_with_the_rule_message(
    crds_applied: kubeemu.Emulator, kubectl: Any
) -> None:
    """A Service with minReplicas > maxReplicas applied with kubectl is refused by the CRD's
    rule, naming the field, in `rollout validate`'s words; an unknown field is refused
    (kubectl sends fieldValidation=Strict)."""
    bad = _service(scaling={"minReplicas": 3, "maxReplicas": 2})
    done = kubectl(crds_applied, "apply", "-f", "-", stdin=json.dumps(bad))
    assert done.returncode != 0
    assert "spec.scaling.maxReplicas" in done.stderr
    assert "must be at least minReplicas (3)" in done.stderr
    # kubectl's default validation is the server's, Strict: an unknown field is refused
    unknown = _service(replicas=3)
    done = kubectl(crds_applied, "apply", "-f", "-", stdin=json.dumps(unknown))
    assert done.returncode != 0
    assert 'strict decoding error: unknown field "spec.replicas"' in done.stderr


def test_kubectl_get_rollout_lists_every_kind_and_explain_describes_fields(
    crds_applied: kubeemu.Emulator, kubectl: Any
) -> None:
    """`kubectl get rollout` lists objects of all our kinds (the category); `kubectl
    explain rsvc.spec` prints the fields' descriptions."""
    custom = kubernetes.client.CustomObjectsApi(crds_applied.api_client())
    for doc, plural in ((_service(), "services"), (_policy(), "rolloutpolicies")):
        custom.create_namespaced_custom_object(GROUP, VERSION, "default", plural, doc)
    listed = kubectl(crds_applied, "get", "rollout", "-o", "name")
    assert listed.returncode == 0, listed.stderr
    assert sorted(listed.stdout.split()) == [
        "rolloutpolicy.rollout.dev/p",
        "service.rollout.dev/web",
    ]
    explained = kubectl(crds_applied, "explain", "rsvc.spec")
    assert explained.returncode == 0, explained.stderr
    text = " ".join(explained.stdout.split())
    assert "What the service runs and how new revisions get traffic." in text
    assert "An existing Deployment in this namespace whose pod template" in text
    assert "Replica bounds of each revision" in text


# --- the emulator's rules, defaults and pruning on any CRD -------------------------------

_WIDGET_SCHEMA: Doc = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "size": {"type": "integer", "default": 1},
                "mode": {"type": "string"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            },
            "x-kubernetes-validations": [
                {
                    "rule": "!has(oldSelf.mode) || self.mode == oldSelf.mode",
                    "message": "mode is immutable",
                    "fieldPath": ".mode",
                },
                {
                    "rule": "!has(self.size) || self.size <= 10",
                    "messageExpression": "'size ' + string(self.size) + ' is above 10'",
                },
            ],
        }
    },
}


def _widget_crd(spec_schema: Doc) -> Doc:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": spec_schema},
                }
            ],
        },
    }


def _causes(caught: pytest.ExceptionInfo[ApiException]) -> list[Doc]:
    assert caught.value.status == 422
    return list(json.loads(caught.value.body)["details"]["causes"])


def test_rules_defaults_and_transition_rules_on_any_crd(emulator: kubeemu.Emulator) -> None:
    """Defaults are filled on create; a rule's messageExpression names the value; a
    transition rule (oldSelf) is skipped on create and checked on update."""
    ext = kubernetes.client.ApiextensionsV1Api(emulator.api_client())
    ext.create_custom_resource_definition(_widget_crd(_WIDGET_SCHEMA))
    custom = kubernetes.client.CustomObjectsApi(emulator.api_client())

    def create(spec: Doc) -> Doc:
        body = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
        return dict(
            custom.create_namespaced_custom_object(
                "example.com", "v1", "default", "widgets", {**body, "spec": spec}
            )
        )

    with pytest.raises(ApiException) as big:
        create({"size": 11})
    assert _causes(big) == [
        {
            "reason": "FieldValueInvalid",
            "field": "spec",
            "message": 'Invalid value: "object": size 11 is above 10',
        }
    ]
    made = create({"mode": "a"})
    assert made["spec"] == {"mode": "a", "size": 1}
    with pytest.raises(ApiException) as changed:
        custom.patch_namespaced_custom_object(
            "example.com", "v1", "default", "widgets", "w", {"spec": {"mode": "b"}}
        )
    assert _causes(changed) == [
        {
            "reason": "FieldValueInvalid",
            "field": "spec.mode",
            "message": 'Invalid value: "object": mode is immutable',
        }
    ]


def test_defaults_are_applied_on_read(emulator: kubeemu.Emulator) -> None:
    """An object stored before its CRD gained a default is served with the default."""
    ext = kubernetes.client.ApiextensionsV1Api(emulator.api_client())
    plain = copy.deepcopy(_WIDGET_SCHEMA)
    del plain["properties"]["spec"]["properties"]["size"]["default"]
    ext.create_custom_resource_definition(_widget_crd(plain))
    custom = kubernetes.client.CustomObjectsApi(emulator.api_client())
    body = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    custom.create_namespaced_custom_object(
        "example.com", "v1", "default", "widgets", {**body, "spec": {"mode": "a"}}
    )
    crd = ext.read_custom_resource_definition("widgets.example.com").to_dict()
    updated = _widget_crd(_WIDGET_SCHEMA)
    updated["metadata"]["resourceVersion"] = crd["metadata"]["resource_version"]
    ext.replace_custom_resource_definition("widgets.example.com", updated)
    got = custom.get_namespaced_custom_object("example.com", "v1", "default", "widgets", "w")
    assert got["spec"] == {"mode": "a", "size": 1}
