"""A container's environment as the kubelet would make it, resolved locally: `$(VAR)`
expansion, the downward API (fieldRef, resourceFieldRef), Secrets and ConfigMaps
(keys and envFrom), optional sources, and the CreateContainerConfigError cases."""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from typing import Any

import pytest

from rollout.platforms.local import podenv

POD = podenv.Pod(
    name="web-00001-local",
    namespace="shop",
    uid="1f0c-uid",
    labels={"app": "web", "rollout.dev/revision": "web-00001"},
    annotations={"team": "payments"},
    service_account="web-sa",
    node_name="devbox",
)
CAPACITY = podenv.Capacity(
    cpu=decimal.Decimal(8),
    memory=decimal.Decimal(16 * 1024**3),
    ephemeral_storage=decimal.Decimal(500 * 1000**3),
)


class Objects:
    """Secrets and ConfigMaps in a dict: (kind, namespace, name) → data."""

    def __init__(self, objects: Mapping[tuple[str, str, str], Mapping[str, str]]) -> None:
        self.objects = objects
        self.reads: list[tuple[str, str, str]] = []

    def data(self, kind: podenv.Kind, namespace: str, name: str) -> Mapping[str, str] | None:
        self.reads.append((kind, namespace, name))
        return self.objects.get((kind, namespace, name))

    def location(self, kind: podenv.Kind, namespace: str, name: str, key: str | None = None) -> str:
        return f"<{kind}:{namespace}/{name}{'/' + key if key else ''}>"


OBJECTS = Objects(
    {
        ("Secret", "shop", "db"): {"password": "hunter2", "user": "app", "url": "pg://$(HOST)"},
        ("ConfigMap", "shop", "settings"): {"LOG_LEVEL": "debug", "REGION": "eu"},
        ("ConfigMap", "shop", "more"): {"REGION": "us", "EXTRA": "1"},
    }
)


def env_of(container: dict[str, Any], sources: Objects = OBJECTS) -> dict[str, str]:
    return podenv.resolve(
        {"name": "app", **container},
        pod=POD,
        containers=[{"name": "app", **container}, {"name": "side", "resources": SIDE}],
        capacity=CAPACITY,
        sources=sources,
    )


SIDE = {"limits": {"memory": "128Mi"}}


def var(name: str, **source: Any) -> dict[str, Any]:
    return {"name": name, "valueFrom": source}


# ---- $(VAR) expansion ---------------------------------------------------------------

VARS = {"A": "a", "B": "b", "EMPTY": ""}


@pytest.mark.parametrize(
    ("text", "expanded"),
    [
        ("$(A)", "a"),
        ("___$(B)___", "___b___"),
        ("$(A)-$(A)", "a-a"),
        ("$(A)$(B)", "ab"),
        ("$(EMPTY)x", "x"),
        ("$(MISSING)", "$(MISSING)"),
        ("$$(A)", "$(A)"),
        ("$$$(A)", "$a"),
        ("$$$$(A)", "$$(A)"),
        ("x$$y", "x$y"),
        ("$A", "$A"),
        ("$(A", "$(A"),
        ("$(", "$("),
        ("$", "$"),
        ("$()", "$()"),
        ("$(A)$", "a$"),
        ("é$(A)é", "éaé"),
        ("$é", "$é"),
        ("plain", "plain"),
    ],
    ids=repr,
)
def test_expand_follows_kubernetes(text: str, expanded: str) -> None:
    """`$(NAME)` is replaced, `$$` is one `$`, anything else is kept as written."""
    assert podenv.expand(text, VARS.get) == expanded


def test_a_value_sees_earlier_variables_and_envfrom_but_not_later_ones() -> None:
    """Expansion uses what is set so far, in order; later variables stay literal."""
    env = env_of(
        {
            "envFrom": [{"configMapRef": {"name": "settings"}}],
            "env": [
                {"name": "FIRST", "value": "$(SECOND)/$(LOG_LEVEL)"},
                {"name": "SECOND", "value": "two"},
                {"name": "THIRD", "value": "$(SECOND)-$(FIRST)"},
            ],
        }
    )
    assert env["FIRST"] == "$(SECOND)/debug"
    assert env["THIRD"] == "two-$(SECOND)/debug"


def test_values_from_sources_are_not_expanded() -> None:
    """A Secret's value is taken as it is, even with `$(…)` in it."""
    env = env_of(
        {
            "env": [
                {"name": "HOST", "value": "db"},
                var("URL", secretKeyRef={"name": "db", "key": "url"}),
            ]
        }
    )
    assert env["URL"] == "pg://$(HOST)"


# ---- the downward API -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("metadata.name", "web-00001-local"),
        ("metadata.namespace", "shop"),
        ("metadata.uid", "1f0c-uid"),
        ("metadata.labels['app']", "web"),
        ("metadata.labels['rollout.dev/revision']", "web-00001"),
        ("metadata.labels['absent']", ""),
        ("metadata.annotations['team']", "payments"),
        ("spec.nodeName", "devbox"),
        ("spec.serviceAccountName", "web-sa"),
        ("status.hostIP", "127.0.0.1"),
        ("status.hostIPs", "127.0.0.1"),
        ("status.podIP", "127.0.0.1"),
        ("status.podIPs", "127.0.0.1"),
    ],
)
def test_field_ref(path: str, value: str) -> None:
    """Every field the downward API gives to env, as the local platform stands in."""
    assert env_of({"env": [var("X", fieldRef={"fieldPath": path})]}) == {"X": value}


@pytest.mark.parametrize(
    ("ref", "problem"),
    [
        ({"fieldPath": "metadata.labels"}, "'metadata.labels' is not given to environment"),
        ({"fieldPath": "spec.restartPolicy"}, "'spec.restartPolicy' is not given"),
        ({"fieldPath": "metadata.name", "apiVersion": "v2"}, "apiVersion 'v2' is not supported"),
    ],
    ids=["whole-labels", "not-for-env", "api-version"],
)
def test_field_ref_kubernetes_refuses(ref: dict[str, str], problem: str) -> None:
    """A field path the downward API does not give to env is a config error."""
    with pytest.raises(podenv.ConfigError, match=problem) as caught:
        env_of({"env": [var("X", fieldRef=ref)]})
    assert caught.value.reason == "CreateContainerConfigError"
    assert caught.value.message.startswith("env X: ")


# ---- resources ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resources", "resource", "divisor", "value"),
    [
        ({"limits": {"cpu": "250m"}}, "limits.cpu", None, "1"),  # rounded up
        ({"limits": {"cpu": "250m"}}, "limits.cpu", "1m", "250"),
        ({"limits": {"cpu": "2"}}, "limits.cpu", "1m", "2000"),
        ({"limits": {"cpu": "1500m"}}, "limits.cpu", "1", "2"),
        ({"limits": {"cpu": "0.0001"}}, "limits.cpu", "1m", "1"),  # milli-value rounds up
        ({}, "limits.cpu", None, "8"),  # unset: the machine's
        ({"limits": {"cpu": "0"}}, "limits.cpu", None, "8"),  # zero: the machine's
        ({"requests": {"cpu": "100m"}}, "requests.cpu", "1m", "100"),
        ({"limits": {"cpu": "3"}}, "requests.cpu", None, "3"),  # a request defaults to its limit
        ({}, "requests.cpu", None, "0"),
        ({"limits": {"memory": "64Mi"}}, "limits.memory", "1Mi", "64"),
        ({"limits": {"memory": "1Gi"}}, "limits.memory", None, "1073741824"),
        ({"limits": {"memory": "100M"}}, "limits.memory", "1Mi", "96"),  # 95.37 → 96
        ({"limits": {"memory": "1G"}}, "limits.memory", "1k", "1000000"),
        ({"limits": {"memory": "1500"}}, "limits.memory", "1k", "2"),
        ({}, "limits.memory", "1Gi", "16"),  # unset: the machine's
        ({"requests": {"memory": "1Gi"}}, "requests.memory", "1Mi", "1024"),
        ({}, "requests.memory", None, "0"),
        ({}, "limits.ephemeral-storage", "1G", "500"),
        ({"limits": {"ephemeral-storage": "2Gi"}}, "requests.ephemeral-storage", "1Gi", "2"),
        ({"limits": {"hugepages-2Mi": "4Mi"}}, "limits.hugepages-2Mi", "1Mi", "4"),
        ({}, "limits.hugepages-2Mi", None, "0"),  # never the machine's
        ({"limits": {"cpu": "1"}}, "limits.cpu", "0", "1"),  # a zero divisor is 1
        ({"limits": {"cpu": "1"}}, "limits.cpu", "1000m", "1"),  # same value as 1
        ({"limits": {"memory": "2Ei"}}, "limits.memory", "1Ei", "2"),
        ({"limits": {"memory": "3E"}}, "limits.memory", "1E", "3"),
    ],
)
def test_resource_field_ref(
    resources: dict[str, Any], resource: str, divisor: str | None, value: str
) -> None:
    """The container's request or limit over the divisor, rounded up as the kubelet does."""
    ref: dict[str, Any] = {"resource": resource}
    if divisor is not None:
        ref["divisor"] = divisor
    env = env_of({"resources": resources, "env": [var("X", resourceFieldRef=ref)]})
    assert env == {"X": value}


def test_resource_field_ref_of_another_container() -> None:
    """`containerName` reads that container's resources."""
    ref = {"resource": "limits.memory", "divisor": "1Mi", "containerName": "side"}
    assert env_of({"env": [var("X", resourceFieldRef=ref)]}) == {"X": "128"}


@pytest.mark.parametrize(
    ("ref", "problem"),
    [
        ({"resource": "limits.cpu", "divisor": "2"}, "divisor '2' is not supported with cpu"),
        ({"resource": "limits.memory", "divisor": "1m"}, "divisor '1m' is not supported"),
        ({"resource": "limits.gpu"}, "'limits.gpu' is not supported"),
        ({"resource": "cpu"}, "'cpu' is not supported"),
        ({"resource": "limits.cpu", "containerName": "nope"}, "'nope' names no container"),
    ],
    ids=["cpu-divisor", "memory-divisor", "resource", "no-part", "container"],
)
def test_resource_field_ref_kubernetes_refuses(ref: dict[str, str], problem: str) -> None:
    with pytest.raises(podenv.ConfigError, match=problem):
        env_of({"env": [var("X", resourceFieldRef=ref)]})


# ---- Secrets and ConfigMaps -----------------------------------------------------------


def test_secret_and_config_map_keys() -> None:
    env = env_of(
        {
            "env": [
                var("PASSWORD", secretKeyRef={"name": "db", "key": "password"}),
                var("LEVEL", configMapKeyRef={"name": "settings", "key": "LOG_LEVEL"}),
            ]
        }
    )
    assert env == {"PASSWORD": "hunter2", "LEVEL": "debug"}


def test_env_from_with_prefix_later_sources_and_env_win() -> None:
    """envFrom in order (a later source wins), then env overrides it."""
    env = env_of(
        {
            "envFrom": [
                {"configMapRef": {"name": "settings"}},
                {"configMapRef": {"name": "more"}},
                {"secretRef": {"name": "db"}, "prefix": "DB_"},
            ],
            "env": [{"name": "EXTRA", "value": "from env"}],
        }
    )
    assert env == {
        "LOG_LEVEL": "debug",
        "REGION": "us",
        "EXTRA": "from env",
        "DB_password": "hunter2",
        "DB_user": "app",
        "DB_url": "pg://$(HOST)",
    }


def test_each_object_is_read_once() -> None:
    sources = Objects(OBJECTS.objects)
    env_of(
        {
            "envFrom": [{"secretRef": {"name": "db"}}],
            "env": [
                var("A", secretKeyRef={"name": "db", "key": "user"}),
                var("B", secretKeyRef={"name": "db", "key": "password"}),
            ],
        },
        sources,
    )
    assert sources.reads == [("Secret", "shop", "db")]


@pytest.mark.parametrize(
    "container",
    [
        {"env": [var("X", secretKeyRef={"name": "nope", "key": "k", "optional": True})]},
        {"env": [var("X", secretKeyRef={"name": "db", "key": "nope", "optional": True})]},
        {"env": [var("X", configMapKeyRef={"name": "nope", "key": "k", "optional": True})]},
        {"env": [var("X", configMapKeyRef={"name": "settings", "key": "k", "optional": True})]},
        {"envFrom": [{"secretRef": {"name": "nope", "optional": True}}]},
        {"envFrom": [{"configMapRef": {"name": "nope", "optional": True}}]},
    ],
    ids=["secret", "secret-key", "config-map", "config-map-key", "env-from-secret", "env-from-cm"],
)
def test_optional_and_missing_sets_nothing(container: dict[str, Any]) -> None:
    """An optional source that is missing leaves the variable unset (not empty)."""
    assert env_of(container) == {}


def test_optional_and_missing_keeps_what_env_from_set() -> None:
    env = env_of(
        {
            "envFrom": [{"configMapRef": {"name": "settings"}}],
            "env": [var("REGION", secretKeyRef={"name": "db", "key": "nope", "optional": True})],
        }
    )
    assert env["REGION"] == "eu"


@pytest.mark.parametrize(
    ("container", "message"),
    [
        (
            {"env": [var("PW", secretKeyRef={"name": "nope", "key": "password"})]},
            "env PW: secret shop/nope not found (looked for <Secret:shop/nope>)",
        ),
        (
            {"env": [var("PW", secretKeyRef={"name": "db", "key": "token"})]},
            "env PW: couldn't find key token in Secret shop/db (looked for <Secret:shop/db/token>)",
        ),
        (
            {"env": [var("L", configMapKeyRef={"name": "settings", "key": "nope"})]},
            "env L: couldn't find key nope in ConfigMap shop/settings"
            " (looked for <ConfigMap:shop/settings/nope>)",
        ),
        (
            {"envFrom": [{"configMapRef": {"name": "absent"}}]},
            "envFrom[0]: configmap shop/absent not found (looked for <ConfigMap:shop/absent>)",
        ),
        (
            {"env": [var("PW", secretKeyRef={"name": "../etc", "key": "passwd"})]},
            "env PW: '../etc' is not a valid Secret name (a DNS subdomain)",
        ),
        (
            {"env": [var("PW", secretKeyRef={"name": "db", "key": ".."})]},
            "env PW: '..' is not a valid Secret key",
        ),
    ],
    ids=["secret", "secret-key", "config-map-key", "env-from", "bad-name", "bad-key"],
)
def test_missing_and_required_is_a_config_error(container: dict[str, Any], message: str) -> None:
    """What the kubelet refuses to start with: CreateContainerConfigError, and where we looked."""
    with pytest.raises(podenv.ConfigError) as caught:
        env_of(container)
    assert caught.value.reason == "CreateContainerConfigError"
    assert caught.value.message == message


def test_a_value_with_nul_is_a_config_error() -> None:
    sources = Objects({("Secret", "shop", "bin"): {"k": "a\0b"}})
    with pytest.raises(podenv.ConfigError, match="holds NUL"):
        env_of({"env": [var("X", secretKeyRef={"name": "bin", "key": "k"})]}, sources)


def test_pod_name_of_a_revision() -> None:
    assert podenv.pod_name("web-00003") == "web-00003-local"
