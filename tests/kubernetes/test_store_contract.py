"""The Store contract suite (tests/unit/store/test_contract.py) against the Kubernetes
adapter (`rollout/platforms/kubernetes/store.py`), over real HTTP with the official
client, on the API emulator with the project's CRDs registered.

The suite's tests are imported as they are; only the `make_store` fixture differs.
Three rules differ on a cluster and are checked here instead of there: the API server,
not the caller, stamps `creationTimestamp` (so it is "now", not the suite's fixed
time), the garbage collector deletes what a deleted object owned a moment after it
(not when the delete answers), and a watch's "what is already there" means what arrives within the
adapter's quiet gap.
"""

from __future__ import annotations

import importlib.util
import pathlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from kubeemu import Emulator, start_emulator
from kubernetes import client

from rollout.platforms.kubernetes import store as kstore
from rollout.store import port

REPO = pathlib.Path(__file__).resolve().parents[2]
NAMESPACES = {"default", "team", "other", "a", "b"}  # every namespace the suite uses


def _load_contract() -> object:
    spec = importlib.util.spec_from_file_location(
        "store_contract", REPO / "tests/unit/store/test_contract.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


contract = _load_contract()
SERVER_STAMPED = {
    "test_create_sets_identity_and_defaults",
    "test_update_writes_metadata_and_a_new_resource_version",
    "test_delete_cascades_to_owned_objects_recursively",  # eventually, here
}
for _name, _value in vars(contract).items():
    if _name.startswith("test_") and _name not in SERVER_STAMPED:
        globals()[_name] = _value


CRD_DOCS = [
    yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
    for path in sorted((REPO / "crds").glob("*.yaml"))
]


def register_crds(emu: Emulator) -> None:
    """The project's CRDs and the namespaces the suite uses, as on a prepared cluster."""
    api = emu.api_client()
    ext = client.ApiextensionsV1Api(api)
    for doc in CRD_DOCS:
        ext.create_custom_resource_definition(doc, _preload_content=False)
    core = client.CoreV1Api(api)
    for name in NAMESPACES - {"default"}:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        core.create_namespace(body, _preload_content=False)


@pytest.fixture
def make_store() -> Iterator[object]:
    opened: list[tuple[Emulator, port.Store]] = []

    def make(*, log_size: int = 100_000) -> port.Store:
        emu = start_emulator(history=log_size)
        register_crds(emu)
        store = kstore.KubernetesStore(emu.api_client(), request_timeout=10)
        opened.append((emu, store))
        return store

    yield make
    for emu, store in opened:
        store.close()
        emu.stop()


@pytest.fixture
def store(make_store: contract.MakeStore) -> port.Store:  # type: ignore[name-defined]
    return make_store()  # type: ignore[no-any-return]


def test_delete_cascades_to_owned_objects_recursively_a_moment_later(store: port.Store) -> None:
    """Owned objects (any kind, any depth) go after their owner, by the garbage
    collector; others stay."""
    c: object = contract
    svc = store.create(
        c.with_meta(c.example("examples/local/hello.yaml"), name="web")  # type: ignore[attr-defined]
    )
    child = store.create(c.a_route("child", owners=(svc,)))  # type: ignore[attr-defined]
    store.create(c.a_route("grandchild", owners=(child,)))  # type: ignore[attr-defined]
    store.create(c.a_route("stranger"))  # type: ignore[attr-defined]
    store.delete("Service", "default", "web")
    deadline = time.monotonic() + 5
    while [r.metadata.name for r in store.list("Route").items] != ["stranger"]:
        assert time.monotonic() < deadline, "the owned routes were not collected"
        time.sleep(0.02)


def test_create_sets_identity_and_defaults_with_the_servers_time(store: port.Store) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    got = store.create(contract.a_route("r"))  # type: ignore[attr-defined]
    assert got.metadata.uid
    assert got.metadata.resource_version
    assert got.metadata.generation == 1
    assert got.metadata.creation_timestamp is not None
    assert before <= got.metadata.creation_timestamp <= datetime.now(UTC) + timedelta(seconds=1)
    assert got.metadata.namespace == port.DEFAULT_NAMESPACE
    assert store.get("Route", "default", "r") == got


def test_update_writes_metadata_and_keeps_the_servers_identity(store: port.Store) -> None:
    """Labels, annotations and owner references change; uid and creation time are the
    server's whatever the update carries."""
    c: object = contract
    read = store.create(c.a_route("r"))  # type: ignore[attr-defined]
    owner = store.create(c.a_route("owner"))  # type: ignore[attr-defined]
    asked = c.a_route("r", labels={"a": "b"}, owners=(owner,))  # type: ignore[attr-defined]
    asked = c.with_meta(  # type: ignore[attr-defined]
        asked, annotations={"note": "x"}, resource_version=read.metadata.resource_version
    )
    got = store.update(
        c.with_meta(  # type: ignore[attr-defined]
            asked, uid="other", creation_timestamp=datetime(2000, 1, 1, tzinfo=UTC)
        )
    )
    assert got.metadata.labels == {"a": "b"}
    assert got.metadata.annotations == {"note": "x"}
    assert [r.uid for r in got.metadata.owner_references] == [owner.metadata.uid]
    assert got.metadata.uid == read.metadata.uid
    assert got.metadata.creation_timestamp == read.metadata.creation_timestamp
    assert got.metadata.resource_version not in (
        read.metadata.resource_version,
        owner.metadata.resource_version,
    )
    assert store.get("Route", "default", "r") == got
