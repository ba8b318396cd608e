"""Webhooks as a policy declares them: Flagger's eight types, bounded timeouts and
retries, metadata, where the signing key comes from — and, until the controller calls
them, a policy with webhooks is refused (a gate that does not gate is worse than none)."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from rollout.api import hookspec, policyspec

TYPES = [
    "confirm-rollout",
    "pre-rollout",
    "rollout",
    "confirm-traffic-increase",
    "confirm-promotion",
    "post-rollout",
    "rollback",
    "event",
]


def hook(**fields: Any) -> dict[str, Any]:
    return {"name": "gate", "type": "confirm-promotion", "url": "https://gate.example/ok"} | fields


@pytest.mark.parametrize("type_", TYPES)
def test_each_of_flaggers_types_is_accepted(type_: str) -> None:
    parsed = hookspec.Webhook.model_validate(hook(type=type_))
    assert parsed.type.value == type_
    assert parsed.gate == type_.startswith("confirm-")


def test_the_types_are_flaggers_eight() -> None:
    assert sorted(t.value for t in hookspec.WebhookType) == sorted(TYPES)
    assert hookspec.GATES | hookspec.CHECKS | hookspec.NOTIFICATIONS | {
        hookspec.WebhookType.ROLLBACK
    } == set(hookspec.WebhookType)


@pytest.mark.parametrize(
    ("fields", "where", "says"),
    [
        pytest.param({"type": "confirm"}, ("type",), "confirm-rollout", id="old-type"),
        pytest.param({"type": "approve"}, ("type",), "confirm-promotion", id="unknown-type"),
        pytest.param({"timeout": "61s"}, ("timeout",), "at most 60s", id="timeout-too-long"),
        pytest.param({"timeout": "0s"}, ("timeout",), "longer than 0s", id="timeout-zero"),
        pytest.param({"retries": 11}, ("retries",), "from 0 to 10", id="retries-too-many"),
        pytest.param({"retries": -1}, ("retries",), "from 0 to 10", id="retries-negative"),
        pytest.param({"url": "gate.example/ok"}, ("url",), "http", id="url-not-http"),
        pytest.param(
            {"metadata": {f"k{i}": "v" for i in range(33)}},
            ("metadata",),
            "at most 32 entries",
            id="metadata-too-many",
        ),
        pytest.param({"metadata": {"a b": "v"}}, ("metadata",), "key 'a b'", id="metadata-key"),
        pytest.param({"metadata": {"k": "v\x00"}}, ("metadata", "k"), "NUL", id="metadata-nul"),
        pytest.param(
            {"metadata": {"k": "x" * 1025}}, ("metadata", "k"), "1024", id="metadata-value-size"
        ),
        pytest.param(
            {"secretRef": {"env": "A", "file": "/k"}},
            ("secretRef",),
            "exactly one",
            id="secret-two-sources",
        ),
        pytest.param({"secret": "hunter2"}, ("secret",), "Extra", id="literal-secret-field"),
    ],
)
def test_bad_fields_are_refused_at_their_path(
    fields: dict[str, Any], where: tuple[str, ...], says: str
) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        hookspec.Webhook.model_validate(hook(**fields))
    errors = caught.value.errors()
    assert any(
        tuple(str(p) for p in e["loc"])[: len(where)] == where and says in e["msg"] for e in errors
    ), errors


def test_a_full_webhook_round_trips() -> None:
    data = hook(
        timeout="2s",
        retries=0,
        metadata={"team": "payments", "ticket.id": "INC-1"},
        secretRef={"secretKeyRef": {"name": "gate-hmac", "key": "key"}},
    )
    parsed = hookspec.Webhook.model_validate(data)
    assert parsed.model_dump(by_alias=True, mode="json", exclude_defaults=True) == data


def test_a_policy_with_a_webhook_of_each_type_is_accepted() -> None:
    """Every type acts (rollout.release.hooks), so none is refused as unsupported."""
    spec = policyspec.RolloutPolicySpec.model_validate(
        {
            "steps": [{"setWeight": 10}, {"analysis": {"duration": "1m"}}, {"setWeight": 50}],
            "analysis": {
                "metrics": [
                    {
                        "name": "errors",
                        "provider": {"local": {"stat": "error_rate"}},
                        "thresholds": {"max": 0.01},
                    }
                ]
            },
            "webhooks": [hook(name=t.value, type=t.value) for t in hookspec.WebhookType],
        }
    )
    assert [h.type for h in spec.webhooks] == list(hookspec.WebhookType)


@pytest.mark.parametrize(
    ("kind", "plan", "says"),
    [
        ("rollout", [{"setWeight": 10}], "would never be called"),
        ("confirm-traffic-increase", [{"setWeight": 10}], "would never be asked"),
    ],
)
def test_a_webhook_the_plan_never_calls_is_refused(
    kind: str, plan: list[dict[str, object]], says: str
) -> None:
    with pytest.raises(pydantic.ValidationError, match=says):
        policyspec.RolloutPolicySpec.model_validate({"steps": plan, "webhooks": [hook(type=kind)]})


def test_confirm_promotion_after_a_manual_pause_is_a_warning() -> None:
    """A last step that waits for `rollout promote` and a promotion gate: both a person
    and the gate must agree; the loader says so."""
    spec = policyspec.RolloutPolicySpec.model_construct(
        steps=[
            policyspec.Step.model_validate({"setWeight": 50}),
            policyspec.Step.model_validate({"pause": {}}),
        ],
        canary=None,
        analysis=None,
        webhooks=[hookspec.Webhook.model_validate(hook())],
    )
    found = policyspec.policy_warnings(spec)
    assert [(w.loc, "both a person and this gate" in w.message) for w in found] == [
        (("webhooks", 0, "type"), True)
    ]
    timed = spec.model_copy(
        update={
            "steps": [
                policyspec.Step.model_validate({"setWeight": 50}),
                policyspec.Step.model_validate({"pause": {"duration": "1m"}}),
            ]
        }
    )
    assert policyspec.policy_warnings(timed) == []
