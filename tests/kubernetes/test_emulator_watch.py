"""Watch: resume from a resourceVersion, initial state, selectors, bookmarks, 410 Gone."""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import kubeemu
import kubernetes.client
import kubernetes.watch
import pytest
from kubeemu import rawclient
from kubernetes.client.exceptions import ApiException

CM_PATH = "/api/v1/namespaces/default/configmaps"


def _cm(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}}


@pytest.fixture
def core(emulator: kubeemu.Emulator) -> kubernetes.client.CoreV1Api:
    return kubernetes.client.CoreV1Api(emulator.api_client())


def _take(stream: Iterator[dict[str, Any]], count: int) -> list[tuple[str, str, str]]:
    """The next `count` events as (type, name, resourceVersion)."""
    out = []
    for _ in range(count):
        event = next(stream)
        meta = event["raw_object"]["metadata"]
        out.append((event["type"], meta.get("name", ""), meta["resourceVersion"]))
    return out


def test_watch_resumes_after_a_resource_version(core: kubernetes.client.CoreV1Api) -> None:
    """Every write after the given rv arrives, in order, with its own rv (official client)."""
    start = core.list_namespaced_config_map("default").metadata.resource_version
    made = core.create_namespaced_config_map("default", _cm("a"))
    core.patch_namespaced_config_map("a", "default", {"data": {"k": "v"}})
    core.create_namespaced_config_map("default", _cm("b"))
    core.delete_namespaced_config_map("a", "default")
    watch = kubernetes.watch.Watch()
    stream = watch.stream(core.list_namespaced_config_map, "default", resource_version=start)
    events = _take(stream, 4)
    watch.stop()
    assert [(t, n) for t, n, _ in events] == [
        ("ADDED", "a"),
        ("MODIFIED", "a"),
        ("ADDED", "b"),
        ("DELETED", "a"),
    ]
    versions = [int(rv) for _, _, rv in events]
    assert versions == sorted(versions)
    assert versions[0] == int(made.metadata.resource_version)
    assert len(set(versions)) == 4  # the delete has its own rv


def test_watch_without_rv_lists_then_follows(
    emulator: kubeemu.Emulator, core: kubernetes.client.CoreV1Api
) -> None:
    """No resourceVersion (or "0"): synthetic ADDED for what exists, then live events."""
    core.create_namespaced_config_map("default", _cm("old"))
    other = kubernetes.client.CoreV1Api(emulator.api_client())
    for rv in (None, "0"):
        kwargs = {} if rv is None else {"resource_version": rv}
        watch = kubernetes.watch.Watch()
        stream = watch.stream(core.list_namespaced_config_map, "default", **kwargs)
        assert [(t, n) for t, n, _ in _take(stream, 1)] == [("ADDED", "old")]
        other.patch_namespaced_config_map("old", "default", {"data": {"rv": str(rv)}})
        assert [(t, n) for t, n, _ in _take(stream, 1)] == [("MODIFIED", "old")]
        watch.stop()


def test_watch_is_scoped_to_its_namespace(
    emulator: kubeemu.Emulator, core: kubernetes.client.CoreV1Api
) -> None:
    """A namespaced watch misses other namespaces; a cluster-wide watch sees all."""
    core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    start = core.list_config_map_for_all_namespaces().metadata.resource_version
    core.create_namespaced_config_map("team", _cm("t"))
    core.create_namespaced_config_map("default", _cm("d"))
    watch = kubernetes.watch.Watch()
    scoped = watch.stream(core.list_namespaced_config_map, "default", resource_version=start)
    assert [(t, n) for t, n, _ in _take(scoped, 1)] == [("ADDED", "d")]
    watch.stop()
    watch = kubernetes.watch.Watch()
    everywhere = watch.stream(core.list_config_map_for_all_namespaces, resource_version=start)
    assert [(t, n) for t, n, _ in _take(everywhere, 2)] == [("ADDED", "t"), ("ADDED", "d")]
    watch.stop()


def test_label_selector_turns_entering_and_leaving_into_added_and_deleted(
    core: kubernetes.client.CoreV1Api,
) -> None:
    """Objects that start matching arrive as ADDED, stop matching as DELETED (watch cache rules)."""
    start = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", _cm("a", app="web"))
    core.create_namespaced_config_map("default", _cm("b", app="db"))
    core.patch_namespaced_config_map("b", "default", {"metadata": {"labels": {"app": "web"}}})
    core.patch_namespaced_config_map("a", "default", {"metadata": {"labels": {"app": "db"}}})
    core.patch_namespaced_config_map("b", "default", {"data": {"k": "v"}})
    watch = kubernetes.watch.Watch()
    stream = watch.stream(
        core.list_namespaced_config_map, "default", resource_version=start, label_selector="app=web"
    )
    events = _take(stream, 4)
    watch.stop()
    assert [(t, n) for t, n, _ in events] == [
        ("ADDED", "a"),
        ("ADDED", "b"),
        ("DELETED", "a"),
        ("MODIFIED", "b"),
    ]


def test_field_selector_watches_one_object(core: kubernetes.client.CoreV1Api) -> None:
    """fieldSelector=metadata.name=x sees only x (what kubectl delete --wait uses)."""
    start = core.list_namespaced_config_map("default").metadata.resource_version
    for name in ("x", "y", "z"):
        core.create_namespaced_config_map("default", _cm(name))
    core.delete_namespaced_config_map("x", "default")
    watch = kubernetes.watch.Watch()
    stream = watch.stream(
        core.list_namespaced_config_map,
        "default",
        resource_version=start,
        field_selector="metadata.name=x",
    )
    assert [(t, n) for t, n, _ in _take(stream, 2)] == [("ADDED", "x"), ("DELETED", "x")]
    watch.stop()


def test_custom_objects_watch(crds_applied: kubeemu.Emulator) -> None:
    """Watches of custom resources work with CustomObjectsApi (dict events)."""
    custom = kubernetes.client.CustomObjectsApi(crds_applied.api_client())
    args = ("rollout.dev", "v1alpha1", "default", "routes")
    start = custom.list_namespaced_custom_object(*args)["metadata"]["resourceVersion"]
    body = {
        "apiVersion": "rollout.dev/v1alpha1",
        "kind": "Route",
        "metadata": {"name": "r"},
        "spec": {"service": "web", "traffic": [{"revisionName": "web-1", "percent": 100}]},
    }
    custom.create_namespaced_custom_object(*args, body)
    crds_applied.set_status("rollout.dev", "v1alpha1", "routes", "default", "r", {"url": "u"})
    watch = kubernetes.watch.Watch()
    stream = watch.stream(custom.list_namespaced_custom_object, *args, resource_version=start)
    first, second = next(stream), next(stream)
    watch.stop()
    assert (first["type"], second["type"]) == ("ADDED", "MODIFIED")
    assert second["object"]["status"] == {"url": "u"}
    assert second["object"]["apiVersion"] == "rollout.dev/v1alpha1"


def test_too_old_resource_version_is_410_gone() -> None:
    """A rv older than the kept history: an ERROR event with a 410 Status; the client raises 410."""
    emu = kubeemu.start_emulator(history=3)
    try:
        core = kubernetes.client.CoreV1Api(emu.api_client())
        first = core.create_namespaced_config_map("default", _cm("c0")).metadata.resource_version
        for n in range(1, 6):
            core.create_namespaced_config_map("default", _cm(f"c{n}"))
        query = urllib.parse.urlencode({"watch": "1", "resourceVersion": first})
        events = list(rawclient.watch_lines(emu.url, f"{CM_PATH}?{query}"))
        assert len(events) == 1
        assert events[0]["type"] == "ERROR"
        status = events[0]["object"]
        assert (status["kind"], status["code"], status["reason"]) == ("Status", 410, "Expired")
        assert status["message"].startswith(f"too old resource version: {first}")
        with pytest.raises(ApiException) as caught:
            for _ in kubernetes.watch.Watch().stream(
                core.list_namespaced_config_map, "default", resource_version=first
            ):
                pass
        assert caught.value.status == 410
        latest = core.list_namespaced_config_map("default").metadata.resource_version
        recent = str(int(latest) - 2)  # still in the history: served
        stream = kubernetes.watch.Watch().stream(
            core.list_namespaced_config_map, "default", resource_version=recent
        )
        assert next(stream)["raw_object"]["metadata"]["name"] == "c4"
        stream.close()
    finally:
        emu.stop()


def test_timeout_ends_streams_with_a_final_bookmark_when_allowed() -> None:
    """timeoutSeconds ends a stream: with bookmarks allowed, periodic ones and one before the end
    (each with the rv seen so far); without, nothing (the official client's stream just ends)."""
    emu = kubeemu.start_emulator(bookmark_interval=0.2)
    try:
        core = kubernetes.client.CoreV1Api(emu.api_client())
        rv = core.create_namespaced_config_map("default", _cm("a")).metadata.resource_version
        quiet: list[Any] = []

        def plain_watch() -> None:  # runs alongside: both streams last the same second
            quiet.extend(
                kubernetes.watch.Watch().stream(
                    core.list_namespaced_config_map,
                    "default",
                    resource_version=rv,
                    timeout_seconds=1,
                )
            )

        other = threading.Thread(target=plain_watch)
        other.start()
        query = urllib.parse.urlencode(
            {
                "watch": "true",
                "resourceVersion": rv,
                "allowWatchBookmarks": "true",
                "timeoutSeconds": "1",
            }
        )
        started = time.monotonic()
        events = list(rawclient.watch_lines(emu.url, f"{CM_PATH}?{query}"))
        elapsed = time.monotonic() - started
        other.join(5)
        assert not other.is_alive()
        assert quiet == []
        assert 0.9 <= elapsed < 5
        assert len(events) >= 3  # periodic ones, then the one before closing
        assert {e["type"] for e in events} == {"BOOKMARK"}
        assert all(e["object"]["metadata"]["resourceVersion"] == rv for e in events)
        assert events[0]["object"]["kind"] == "ConfigMap"
        assert events[0]["object"]["apiVersion"] == "v1"
    finally:
        emu.stop()


def test_bookmarks_come_about_once_a_minute_by_default(emulator: kubeemu.Emulator) -> None:
    """As from a real apiserver (about a minute apart), not every second: a watch of
    2 s gets no periodic bookmark, only the one before it ends."""
    core = kubernetes.client.CoreV1Api(emulator.api_client())
    rv = core.create_namespaced_config_map("default", _cm("a")).metadata.resource_version
    query = urllib.parse.urlencode(
        {
            "watch": "true",
            "resourceVersion": rv,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": "2",
        }
    )
    events = list(rawclient.watch_lines(emulator.url, f"{CM_PATH}?{query}"))
    assert [e["type"] for e in events] == ["BOOKMARK"]


def test_official_client_tracks_bookmark_resource_versions() -> None:
    """The official client takes a BOOKMARK's rv as where to resume (Watch.resource_version)."""
    emu = kubeemu.start_emulator(bookmark_interval=0.1)
    try:
        core = kubernetes.client.CoreV1Api(emu.api_client())
        start = core.list_namespaced_config_map("default").metadata.resource_version
        core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}})
        watch = kubernetes.watch.Watch()
        stream = watch.stream(
            core.list_namespaced_config_map,
            "default",
            resource_version=start,
            allow_watch_bookmarks=True,
        )
        deadline = time.monotonic() + 5
        for event in stream:  # bookmarks only: no ConfigMap changes
            assert event["type"] == "BOOKMARK"
            if int(watch.resource_version) == int(start) + 1 or time.monotonic() > deadline:
                break
        watch.stop()
        assert int(watch.resource_version) == int(start) + 1  # the namespace write was seen
    finally:
        emu.stop()


def test_watch_list_initial_events_end_with_a_bookmark(
    emulator: kubeemu.Emulator, core: kubernetes.client.CoreV1Api
) -> None:
    """sendInitialEvents=true: current objects, then a BOOKMARK marked initial-events-end."""
    made = core.create_namespaced_config_map("default", _cm("a"))
    query = urllib.parse.urlencode(
        {
            "watch": "1",
            "sendInitialEvents": "true",
            "allowWatchBookmarks": "true",
            "resourceVersionMatch": "NotOlderThan",
            "resourceVersion": "",
        }
    )
    stream = rawclient.watch_lines(emulator.url, f"{CM_PATH}?{query}")
    added, marker = next(stream), next(stream)
    stream.close()
    assert (added["type"], added["object"]["metadata"]["name"]) == ("ADDED", "a")
    assert marker["type"] == "BOOKMARK"
    assert marker["object"]["metadata"] == {
        "resourceVersion": made.metadata.resource_version,
        "annotations": {"k8s.io/initial-events-end": "true"},
    }
