"""The emulator as a server: start/stop, kubeconfig, request log, concurrency, robustness."""

from __future__ import annotations

import http.client
import socket
import threading
from typing import Any

import kubeemu
import kubernetes.client
import kubernetes.config
import kubernetes.watch
import pytest
from kubeemu import patching, rawclient
from kubernetes.client.exceptions import ApiException


def _emulator_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("kubeemu")]


def _configmap(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def test_stop_ends_watches_closes_connections_joins_threads_and_frees_the_port() -> None:
    """stop() ends a live watch and an idle keep-alive connection, joins threads, frees the port."""
    emu = kubeemu.start_emulator()
    port = emu.port
    core = kubernetes.client.CoreV1Api(emu.api_client())
    watching = threading.Event()
    seen: list[str] = []
    ended = threading.Event()

    def watch() -> None:
        stream = kubernetes.watch.Watch().stream(core.list_namespace, timeout_seconds=60)
        for event in stream:
            seen.append(event["object"].metadata.name)
            watching.set()
        ended.set()

    watcher = threading.Thread(target=watch, name="test-watcher")
    watcher.start()
    assert watching.wait(5), "the watch delivered no event"
    idle = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    idle.request("GET", "/version")
    assert idle.getresponse().read()
    assert len(_emulator_threads()) >= 3  # server loop, watch connection, idle connection

    emu.stop()

    assert ended.wait(5), "the watch did not end when the emulator stopped"
    watcher.join(5)
    assert not watcher.is_alive()
    assert _emulator_threads() == []
    assert "default" in seen
    idle.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    with socket.socket() as probe:  # closed connections linger in TIME_WAIT: reuse, as servers do
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
        probe.listen()
    emu.stop()  # a second stop is a no-op


def test_kubeconfig_loads_with_the_official_client(
    emulator: kubeemu.Emulator, kubeconfig: Any
) -> None:
    """write_kubeconfig gives a kubeconfig `load_kube_config` accepts (context `emulator`)."""
    client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
    try:
        names = [
            n.metadata.name for n in kubernetes.client.CoreV1Api(client).list_namespace().items
        ]
    finally:
        client.close()
    assert names == ["default", "kube-node-lease", "kube-public", "kube-system"]
    _, active = kubernetes.config.list_kube_config_contexts(config_file=str(kubeconfig))
    assert active["name"] == "emulator"
    assert active["context"] == {"cluster": "emulator", "user": "emulator", "namespace": "default"}


def test_requests_are_recorded_with_rbac_verbs(emulator: kubeemu.Emulator) -> None:
    """Every resource request is one record: RBAC verb, resource, namespace, name, UA, status."""
    base = "/api/v1/namespaces/default/configmaps"
    url = emulator.url
    ua = {"User-Agent": "recorder-test/1.0"}
    rawclient.call(url, "POST", base, body=_configmap("a"), headers=ua)
    rawclient.call(url, "GET", base + "/a", headers=ua)
    rawclient.call(url, "GET", base, headers=ua)
    first = next(rawclient.watch_lines(url, base + "?watch=1", headers=ua))
    assert first["type"] == "ADDED"
    rawclient.call(url, "PUT", base + "/a", body=_configmap("a", k="v"), headers=ua)
    merge = {**ua, "Content-Type": "application/merge-patch+json"}
    rawclient.call(url, "PATCH", base + "/a", body=b'{"data":{"k":"w"}}', headers=merge)
    rawclient.call(url, "DELETE", base + "/a", headers=ua)
    rawclient.call(url, "DELETE", base, headers=ua)
    rawclient.call(url, "GET", "/apis/apps/v1/namespaces/default/deployments/x/status", headers=ua)
    rawclient.call(url, "GET", "/version", headers=ua)  # not a resource request: not recorded

    got = [
        (r.verb, r.resource, r.subresource, r.namespace, r.name, r.status_code)
        for r in emulator.requests.matching(user_agent="recorder-test/1.0")
    ]
    assert got == [
        ("create", "configmaps", "", "default", "", 201),
        ("get", "configmaps", "", "default", "a", 200),
        ("list", "configmaps", "", "default", "", 200),
        ("watch", "configmaps", "", "default", "", 200),
        ("update", "configmaps", "", "default", "a", 200),
        ("patch", "configmaps", "", "default", "a", 200),
        ("delete", "configmaps", "", "default", "a", 200),
        ("deletecollection", "configmaps", "", "default", "", 200),
        ("get", "deployments", "status", "default", "x", 404),
    ]
    assert {r.group for r in emulator.requests.matching(resource="deployments")} == {"apps"}


def test_concurrent_clients_serialise_their_updates(emulator: kubeemu.Emulator) -> None:
    """Threads doing get+replace with conflict retries lose no increment; rvs stay unique."""
    core = kubernetes.client.CoreV1Api(emulator.api_client())
    core.create_namespaced_config_map("default", _configmap("counter", n="0"))
    workers, increments = 6, 10
    versions: list[str] = []
    conflicts = 0
    lock = threading.Lock()
    failures: list[BaseException] = []

    def work() -> None:
        nonlocal conflicts
        api = kubernetes.client.CoreV1Api(emulator.api_client())
        try:
            for _ in range(increments):
                while True:
                    cm = api.read_namespaced_config_map("counter", "default")
                    cm.data["n"] = str(int(cm.data["n"]) + 1)
                    try:
                        done = api.replace_namespaced_config_map("counter", "default", cm)
                    except ApiException as exc:
                        if exc.status != 409:
                            raise
                        with lock:
                            conflicts += 1
                        continue
                    with lock:
                        versions.append(done.metadata.resource_version)
                    break
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not failures
    final = emulator.get_object("", "v1", "configmaps", "default", "counter")
    assert final is not None
    assert final["data"]["n"] == str(workers * increments)
    assert len(set(versions)) == workers * increments
    assert final["metadata"]["resourceVersion"] == max(versions, key=int)


def test_a_handler_bug_is_a_500_status_and_the_server_keeps_serving(
    emulator: kubeemu.Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception inside a handler answers 500 InternalError; the next request is served."""
    core = kubernetes.client.CoreV1Api(emulator.api_client())
    core.create_namespaced_config_map("default", _configmap("a"))

    def broken(target: Any, patch: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(patching, "merge_patch", broken)
    reply = rawclient.call(
        emulator.url,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/a",
        body=b'{"data":{"k":"v"}}',
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert reply.status == 500
    assert reply.body["kind"] == "Status"
    assert reply.body["reason"] == "InternalError"
    assert "RuntimeError: boom" in reply.body["message"]
    assert core.read_namespaced_config_map("a", "default").metadata.name == "a"


@pytest.mark.parametrize(
    ("method", "path", "status", "reason"),
    [
        ("GET", "/nothing/here", 404, "NotFound"),
        ("GET", "/apis/nope.example.com/v1/things", 404, "NotFound"),
        ("GET", "/api/v1/namespaces/default/widgets", 404, "NotFound"),
        ("GET", "/api/v1/namespaces/default/configmaps/a/b/c", 404, "NotFound"),
        ("GET", "/api/v1/namespaces/default/configmaps/a/scale", 404, "NotFound"),
        ("POST", "/apis/apps/v1/namespaces/default/deployments/x/status", 405, "MethodNotAllowed"),
        ("DELETE", "/api/v1/namespaces", 405, "MethodNotAllowed"),
        ("GET", "/api/v1/namespaces/default/namespaces", 404, "NotFound"),
    ],
    ids=[
        "non-api-path",
        "unknown-group",
        "unknown-resource",
        "too-deep",
        "unknown-subresource",
        "create-on-status",
        "deletecollection-namespaces",
        "cluster-scoped-in-namespace",
    ],
)
def test_bad_urls_answer_a_status(
    emulator: kubeemu.Emulator, method: str, path: str, status: int, reason: str
) -> None:
    """Requests the API does not serve answer a Status with the right code."""
    reply = rawclient.call(emulator.url, method, path, body=b"{}" if method == "POST" else None)
    assert reply.status == status
    assert reply.body["kind"] == "Status"
    assert reply.body["status"] == "Failure"
    assert reply.body["reason"] == reason
    assert reply.body["code"] == status


def test_chunked_request_bodies_are_read(emulator: kubeemu.Emulator) -> None:
    """A body sent with Transfer-Encoding: chunked (as Go clients stream some) is read whole."""
    conn = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=5)
    try:
        body = iter([b'{"apiVersion":"v1","kind":"ConfigMap",', b'"metadata":{"name":"chunked"}}'])
        conn.request(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            body=body,
            headers={"Content-Type": "application/json"},
            encode_chunked=True,
        )
        response = conn.getresponse()
        assert response.status == 201, response.read()
        response.read()
    finally:
        conn.close()
    assert emulator.get_object("", "v1", "configmaps", "default", "chunked") is not None


def test_health_endpoint(emulator: kubeemu.Emulator) -> None:
    """/healthz answers ok (start_emulator waits on it)."""
    reply = rawclient.call(emulator.url, "GET", "/healthz")
    assert (reply.status, reply.body) == (200, "ok")
