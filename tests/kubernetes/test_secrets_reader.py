"""The kubernetes platform's Secret reader (`platforms/kubernetes/secrets.py`) on the
API emulator, which enforces the RBAC objects of
`rollout install --watch-namespaces team-a,team-b --secret-names prom-token`: it reads
a granted Secret's key, and every failure is one line naming the Secret and the cause
— never the value — including a Secret the install did not name (403, with how to
grant it) and a namespace it does not watch (refused before any request)."""

from __future__ import annotations

import base64

import kubeemu
import pytest
from kubecluster import CONTROLLER_AGENT, controller_requests, controller_sa, install_rbac
from kubeemu import rawclient

from rollout.analysis.providers import secrets as ports
from rollout.platforms.kubernetes import manifests, rest, secrets

VALUE = "s3cr3t-bearer-value"
WATCHED = ("team-a", "team-b")
CONTROLLER_NS = "rollout-system"


def put_secret(emu: kubeemu.Emulator, namespace: str, name: str, data: dict[str, bytes]) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
    }
    made = rawclient.call(emu.url, "POST", f"/api/v1/namespaces/{namespace}/secrets", body=body)
    assert made.status == 201, made.body


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def cluster(emulator: kubeemu.Emulator) -> kubeemu.Emulator:
    install_rbac(
        emulator,
        manifests.Settings(
            namespace=CONTROLLER_NS, watch_namespaces=WATCHED, secret_names=("prom-token",)
        ),
    )
    put_secret(emulator, "team-a", "prom-token", {"token": VALUE.encode(), "raw": b"\xff\xfe"})
    put_secret(emulator, "team-a", "other", {"token": VALUE.encode()})
    put_secret(emulator, "outside", "prom-token", {"token": VALUE.encode()})
    emulator.enforce_rbac(CONTROLLER_AGENT, controller_sa(CONTROLLER_NS))
    return emulator


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


@pytest.fixture
def reader(cluster: kubeemu.Emulator, ticks: Ticks) -> secrets.KubernetesSecrets:
    api = cluster.api_client(user_agent=f"{CONTROLLER_AGENT}test")
    return secrets.KubernetesSecrets(rest.Resources(api), namespaces=WATCHED, monotonic=ticks)


def test_a_granted_secret_is_read(reader: secrets.KubernetesSecrets) -> None:
    """The key's value, decoded."""
    assert reader.read("team-a", "prom-token", "token") == VALUE


@pytest.mark.parametrize(
    ("namespace", "name", "key", "message"),
    [
        pytest.param(
            "team-a",
            "prom-token",
            "missing",
            "Secret team-a/prom-token has no key 'missing'",
            id="no-key",
        ),
        pytest.param(
            "team-a",
            "prom-token",
            "raw",
            "Secret team-a/prom-token: key 'raw' is not UTF-8 text",
            id="not-text",
        ),
        pytest.param(
            "team-b", "prom-token", "token", "Secret team-b/prom-token not found", id="absent"
        ),
        pytest.param(
            "team-a",
            "other",
            "token",
            "Secret team-a/other: the controller may not read it"
            " (grant it with `rollout install --secret-names other`)",
            id="not-granted",
        ),
    ],
)
def test_failures_are_one_line_without_the_value(
    reader: secrets.KubernetesSecrets, namespace: str, name: str, key: str, message: str
) -> None:
    """SecretError naming the Secret and the cause; the value never appears."""
    with pytest.raises(ports.SecretError) as raised:
        reader.read(namespace, name, key)
    assert str(raised.value) == message
    assert VALUE not in str(raised.value)


def test_an_unwatched_namespace_is_refused_before_any_request(
    cluster: kubeemu.Emulator, reader: secrets.KubernetesSecrets
) -> None:
    """The Secret exists there, but the controller does not serve that namespace."""
    with pytest.raises(ports.SecretError, match="namespace outside is not watched"):
        reader.read("outside", "prom-token", "token")
    assert controller_requests(cluster) == []


def test_a_value_is_kept_for_the_ttl(
    cluster: kubeemu.Emulator, reader: secrets.KubernetesSecrets, ticks: Ticks
) -> None:
    """Within the TTL one request serves every read; after it, the Secret is read again
    (a rotation is seen)."""
    assert reader.read("team-a", "prom-token", "token") == VALUE
    ticks.now = secrets.DEFAULT_TTL - 1
    assert reader.read("team-a", "prom-token", "token") == VALUE
    assert len(controller_requests(cluster)) == 1
    rotated = {"data": {"token": base64.b64encode(b"rotated").decode()}}
    rawclient.call(
        cluster.url,
        "PATCH",
        "/api/v1/namespaces/team-a/secrets/prom-token",
        body=rotated,
        headers={"Content-Type": "application/merge-patch+json"},
    )
    ticks.now = secrets.DEFAULT_TTL + 1
    assert reader.read("team-a", "prom-token", "token") == "rotated"
    assert [(r.verb, r.resource, r.name) for r in controller_requests(cluster)] == [
        ("get", "secrets", "prom-token"),
        ("get", "secrets", "prom-token"),
    ]


def test_an_api_server_that_does_not_answer_is_one_line() -> None:
    """Connection refused: SecretError saying so, naming the Secret."""
    emu = kubeemu.start_emulator()
    api = emu.api_client(user_agent="rollout-controller/test")
    reader = secrets.KubernetesSecrets(rest.Resources(api, timeout=2))
    emu.stop()
    with pytest.raises(ports.SecretError, match=r"^Secret team-a/x: the API server did not answer"):
        reader.read("team-a", "x", "token")
