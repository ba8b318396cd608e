"""Server-side tables (`as=Table`): printer columns, JSONPath cells, ages on a fake clock."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import kubeemu
import pytest
from kubeemu import crdfiles, rawclient, tables

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
T0 = datetime.datetime(2025, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime.datetime:
        return self.now


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (-5, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (5, "5s"),
        (119, "119s"),
        (120, "2m"),
        (200, "3m20s"),
        (600, "10m"),
        (179 * 60, "179m"),
        (3 * 3600, "3h"),
        (5 * 3600 + 3 * 60, "5h3m"),
        (30 * 3600, "30h"),
        (52 * 3600, "2d4h"),
        (10 * 86400, "10d"),
        (800 * 86400, "2y70d"),
        (9 * 365 * 86400, "9y"),
    ],
)
def test_human_duration_matches_kubectl(seconds: int, shown: str) -> None:
    """Ages print like Go's duration.HumanDuration (what `kubectl get` shows)."""
    assert tables.human_duration(seconds) == shown


OBJ = {
    "metadata": {"name": "x", "labels": {"app.kubernetes.io/name": "web"}},
    "spec": {"traffic": [{"percent": 90}, {"percent": 10}], "flag": True},
    "status": {
        "phase": "Progressing",
        "conditions": [
            {"type": "Available", "status": "False"},
            {"type": "Ready", "status": "True", "reason": "Up"},
        ],
    },
}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (".status.phase", "Progressing"),
        (".spec.traffic[0].percent", 90),
        (".spec.traffic[-1].percent", 10),
        (".spec.traffic[*].percent", 90),
        ('.status.conditions[?(@.type=="Ready")].status', "True"),
        (".status.conditions[?(@.type=='Ready')].reason", "Up"),
        (".metadata.labels['app.kubernetes.io/name']", "web"),
        ("{.status.phase}", "Progressing"),
        (".status.missing", None),
        (".spec.traffic[5].percent", None),
        ('.status.conditions[?(@.type=="Nope")].status', None),
        (".spec.flag", True),
    ],
)
def test_jsonpath_subset(path: str, value: Any) -> None:
    """The simple JSONPaths printer columns use; the first match wins; no match is None."""
    assert tables.jsonpath_first(OBJ, path) == value


@pytest.fixture
def clocked() -> Iterator[tuple[kubeemu.Emulator, FakeClock]]:
    clock = FakeClock()
    emu = kubeemu.start_emulator(clock=clock)
    try:
        crdfiles.register(emu, crdfiles.PROJECT_CRDS)
        yield emu, clock
    finally:
        emu.stop()


def _release(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "rollout.dev/v1alpha1",
        "kind": "Release",
        "metadata": {"name": name},
        "spec": {
            "service": "web",
            "stableRevision": "web-1",
            "canaryRevision": "web-2",
            "policy": {"steps": [{"setWeight": 10}]},
        },
    }


def test_custom_resource_table_uses_printer_columns(
    clocked: tuple[kubeemu.Emulator, FakeClock],
) -> None:
    """Name + additionalPrinterColumns; typed cells; dates as ages; PartialObjectMetadata rows."""
    emu, clock = clocked
    base = "/apis/rollout.dev/v1alpha1/namespaces/default/releases"
    assert rawclient.call(emu.url, "POST", base, body=_release("web-2")).status == 201
    emu.set_status(
        "rollout.dev",
        "v1alpha1",
        "releases",
        "default",
        "web-2",
        {
            "phase": "Progressing",
            "stepIndex": 1,
            "step": "2/3",
            "weights": {"stable": 90, "canary": 10},
        },
    )
    clock.now = T0 + datetime.timedelta(seconds=200)
    reply = rawclient.call(emu.url, "GET", base, headers={"Accept": TABLE})
    assert reply.status == 200
    table = reply.body
    assert (table["kind"], table["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    columns = [(c["name"], c["type"], c["priority"]) for c in table["columnDefinitions"]]
    assert columns == [
        ("Name", "string", 0),
        ("Service", "string", 0),
        ("Phase", "string", 0),
        ("Step", "string", 0),  # `2/3`, counted from 1 (stepIndex counts from 0)
        ("Weight", "integer", 0),
        ("Stable", "string", 0),
        ("Canary", "string", 0),
        ("Message", "string", 1),
        ("Age", "date", 0),
    ]
    [row] = table["rows"]
    assert row["cells"] == [
        "web-2",
        "web",
        "Progressing",
        "2/3",
        10,
        "web-1",
        "web-2",
        None,
        "3m20s",
    ]
    assert row["object"]["kind"] == "PartialObjectMetadata"
    assert row["object"]["metadata"]["namespace"] == "default"
    assert table["metadata"]["resourceVersion"] == row["object"]["metadata"]["resourceVersion"]


def test_table_for_one_object_and_include_object(
    clocked: tuple[kubeemu.Emulator, FakeClock],
) -> None:
    """GET of one object can be a Table; includeObject=Object embeds it, None leaves it out."""
    emu, _clock = clocked
    base = "/apis/rollout.dev/v1alpha1/namespaces/default/releases"
    rawclient.call(emu.url, "POST", base, body=_release("r"))
    one = rawclient.call(
        emu.url, "GET", f"{base}/r?includeObject=Object", headers={"Accept": TABLE}
    )
    [row] = one.body["rows"]
    assert row["object"]["kind"] == "Release"
    assert row["object"]["spec"]["service"] == "web"
    bare = rawclient.call(emu.url, "GET", f"{base}?includeObject=None", headers={"Accept": TABLE})
    assert "object" not in bare.body["rows"][0]


def test_builtin_table_has_name_and_age(clocked: tuple[kubeemu.Emulator, FakeClock]) -> None:
    """Built-ins print NAME and AGE."""
    emu, clock = clocked
    clock.now = T0 + datetime.timedelta(hours=3)
    reply = rawclient.call(emu.url, "GET", "/api/v1/namespaces", headers={"Accept": TABLE})
    assert [c["name"] for c in reply.body["columnDefinitions"]] == ["Name", "Age"]
    assert reply.body["rows"][0]["cells"] == ["default", "3h"]


def test_crd_without_printer_columns_gets_age(emulator: kubeemu.Emulator) -> None:
    """A CRD version without additionalPrinterColumns prints Name and Age, as the apiserver does."""
    crdfiles.register(emulator, crdfiles.PROJECT_CRDS)
    reply = rawclient.call(
        emulator.url,
        "GET",
        "/apis/rollout.dev/v1alpha1/namespaces/default/rolloutpolicies",
        headers={"Accept": TABLE},
    )
    names = [c["name"] for c in reply.body["columnDefinitions"]]
    assert names[0] == "Name"
    assert names[-1] == "Age"


def test_partial_object_metadata_list(emulator: kubeemu.Emulator) -> None:
    """as=PartialObjectMetadataList answers metadata only (what metadata informers ask for)."""
    accept = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"
    reply = rawclient.call(emulator.url, "GET", "/api/v1/namespaces", headers={"Accept": accept})
    assert reply.body["kind"] == "PartialObjectMetadataList"
    assert {i["kind"] for i in reply.body["items"]} == {"PartialObjectMetadata"}
    assert "status" not in reply.body["items"][0]


def test_watch_as_table(emulator: kubeemu.Emulator) -> None:
    """A watch asked as=Table sends each object as a one-row Table (kubectl get -w)."""
    made = rawclient.call(
        emulator.url,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}},
    ).body
    before = int(made["metadata"]["resourceVersion"]) - 1
    stream = rawclient.watch_lines(
        emulator.url,
        f"/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={before}",
        headers={"Accept": TABLE},
    )
    event = next(stream)
    stream.close()
    assert event["type"] == "ADDED"
    assert event["object"]["kind"] == "Table"
    assert event["object"]["rows"][0]["cells"][0] == "c"
