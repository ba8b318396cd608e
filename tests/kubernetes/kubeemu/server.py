"""The HTTP side: a threaded HTTP/1.1 server on 127.0.0.1, and the `Emulator` facade.

`start_emulator()` binds a free loopback port, serves in a background thread (one
more thread per connection, named `kubeemu-*`) and returns once it answers. Responses
carry `Content-Length` (keep-alive works, as kubectl and urllib3 use it); watch
streams use chunked transfer encoding, one JSON event per line and chunk. A Status
with `details.retryAfterSeconds` (an injected 429) also gets a `Retry-After` header,
as from the apiserver. Watch bookmarks come every `bookmark_interval` seconds
(default 60, about what a real apiserver sends; a test that needs them sooner passes
less). An injected timeout holds the connection and closes it unanswered; an
injected watch drop closes the connection without the final chunk.

`Emulator.stop()` stops accepting, ends every watch, shuts down every open
connection (idle keep-alive ones included), joins every thread it started and closes
the listening socket, so the port is free again; it raises if a thread would not
stop (the garbage collector's worker, `kubeemu-gc`, too). It also closes the
`ApiClient`s `api_client()` handed out. `pause_gc`/`resume_gc` hold the garbage
collector (`collector.py`; `gc_delay` is how long it waits after a write).

The test helpers (`get_object`, `set_status`) and the Deployment controller
(`Emulator.deployments`, `deployments.py`; stopped by `stop()`) go to the store
directly: no faults, no request record. Everything about requests is in `api.py`
(dispatch), `reads.py` and `writes.py`.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import http.server
import json
import pathlib
import socket
import threading
import urllib.parse
from collections.abc import Callable
from typing import Any

import kubernetes.client
import yaml

from kubeemu import (
    api,
    authz,
    deployments,
    exchange,
    faults,
    objects,
    recording,
    resources,
    storage,
    watching,
)

__all__ = ["Emulator", "start_emulator"]

_JOIN_TIMEOUT_S = 10.0
BOOKMARK_INTERVAL_S = 60.0  # a real apiserver sends a watch bookmark about once a minute


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # small header and body writes must not wait on ACKs
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log is `emu.requests`."""

    def _serve(self) -> None:
        split = urllib.parse.urlsplit(self.path)
        query = {
            k: v[0] for k, v in urllib.parse.parse_qs(split.query, keep_blank_values=True).items()
        }
        body = self._read_body()
        request = exchange.Request(
            method=self.command,
            path=split.path,
            query=query,
            headers=dict(self.headers.items()),
            body=body,
        )
        outcome = self.server.api.handle(request)
        if isinstance(outcome, exchange.Drop):
            self.server.stopping.wait(outcome.hold_s)
            self._drop()
        elif isinstance(outcome, exchange.WatchStream):
            self._stream(outcome)
        else:
            self._send(outcome)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def _read_body(self) -> bytes:
        """The request body: by Content-Length, or chunked (kubectl streams some bodies)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, response: exchange.Response) -> None:
        if response.content_type == "application/json":
            data = json.dumps(response.body, separators=(",", ":")).encode()
        else:
            data = str(response.body).encode()
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        retry_after = _retry_after(response.body)
        if retry_after:
            self.send_header("Retry-After", str(retry_after))
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        for warning in response.warnings:
            quoted = warning.replace("\\", "\\\\").replace('"', '\\"')
            self.send_header("Warning", f'299 - "{quoted}"')  # RFC 7234 quoted-string
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, stream: exchange.WatchStream) -> None:
        self.send_response(stream.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.wfile.flush()
        for event in stream.events:
            if event is watching.DROP:
                self._drop()
                return
            line = json.dumps(event, separators=(",", ":")).encode() + b"\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


def _retry_after(body: Any) -> int:
    """A Status body's `details.retryAfterSeconds` (0: none), which the apiserver also
    sends as the `Retry-After` header."""
    if not isinstance(body, dict) or body.get("kind") != "Status":
        return 0
    seconds = (body.get("details") or {}).get("retryAfterSeconds", 0)
    return seconds if isinstance(seconds, int) and seconds > 0 else 0


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, api_handler: api.Api, stopping: threading.Event) -> None:
        self.api = api_handler
        self.stopping = stopping
        self._conn_lock = threading.Lock()
        self._connections: dict[threading.Thread, socket.socket] = {}
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._run_connection, args=(request, client_address), name="kubeemu-conn"
        )
        thread.daemon = True
        with self._conn_lock:
            self._connections[thread] = request
        thread.start()

    def _run_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._conn_lock:
                self._connections.pop(threading.current_thread(), None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A connection that broke mid-answer (client gone, server stopping) is not news."""

    def close_connections(self) -> list[threading.Thread]:
        with self._conn_lock:
            open_now = dict(self._connections)
        for sock in open_now.values():
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        return list(open_now)


class Emulator:
    """A running Kubernetes API emulator (see the package docstring for the contract)."""

    def __init__(
        self,
        *,
        history: int = 1000,
        clock: Callable[[], datetime.datetime] = _utc_now,
        bookmark_interval: float = BOOKMARK_INTERVAL_S,
        gc_delay: float = 0.05,
    ) -> None:
        self._stopping = threading.Event()
        self._store = storage.Store(history=history)
        self._registry = resources.Registry()
        self._injector = faults.FaultInjector(faults.Faults())
        self.requests = recording.RequestLog()
        self._clock = clock
        self._api = api.Api(
            store=self._store,
            registry=self._registry,
            injector=self._injector,
            requests=self.requests,
            clock=clock,
            stop=self._stopping,
            server_address=lambda: f"127.0.0.1:{self.port}",
            bookmark_interval=bookmark_interval,
            gc_delay=gc_delay,
        )
        self.deployments = deployments.DeploymentController(self._store, self._registry, clock)
        self._server = _Server(self._api, self._stopping)
        self.port: int = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._clients: list[kubernetes.client.ApiClient] = []
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="kubeemu-server",
            daemon=True,
        )
        self._stopped = False

    # --- lifecycle -----------------------------------------------------------------

    def _start(self) -> None:
        self._api.collector.start()
        self._thread.start()
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as probe:
            probe.sendall(b"GET /healthz HTTP/1.1\r\nHost: kubeemu\r\nConnection: close\r\n\r\n")
            if not probe.recv(64).startswith(b"HTTP/1.1 200"):
                raise RuntimeError("the emulator did not answer its health check")

    def stop(self) -> None:
        """Stop serving: end watches, close connections, join threads, free the port."""
        if self._stopped:
            return
        self._stopped = True
        self._stopping.set()
        self._store.close()
        self.deployments.stop()
        self._server.shutdown()
        self._thread.join(_JOIN_TIMEOUT_S)
        threads = self._server.close_connections()
        for thread in threads:
            thread.join(_JOIN_TIMEOUT_S)
        self._server.server_close()
        collector_stopped = self._api.collector.stop(_JOIN_TIMEOUT_S)
        for client in self._clients:
            client.close()
        self._clients.clear()
        alive = [t for t in [self._thread, *threads] if t.is_alive()]
        if alive or not collector_stopped:
            raise RuntimeError(f"kubeemu threads did not stop: {alive or 'kubeemu-gc'}")

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- faults ----------------------------------------------------------------------

    @property
    def faults(self) -> faults.Faults:
        return self._injector.faults

    @faults.setter
    def faults(self, value: faults.Faults) -> None:
        self._injector.replace(value)

    # --- garbage collection ------------------------------------------------------------

    def pause_gc(self) -> None:
        """The garbage collector deletes no dependent until `resume_gc` (a deleted
        owner is gone, what it owns stays)."""
        self._api.collector.pause()

    def resume_gc(self) -> None:
        self._api.collector.resume()

    # --- RBAC ------------------------------------------------------------------------

    def enforce_rbac(self, user_agent: str, subject: authz.Subject | None) -> None:
        """From now on, requests whose User-Agent contains `user_agent` are `subject`'s
        and are refused (403) unless the stored RBAC objects grant them; None: stop."""
        self._api.enforcement = (
            authz.Enforcement(user_agent, subject) if subject is not None else None
        )

    # --- clients ---------------------------------------------------------------------

    def write_kubeconfig(self, path: str | pathlib.Path) -> pathlib.Path:
        """Write a kubeconfig (cluster/user/context `emulator`, no auth) to `path`."""
        target = pathlib.Path(path)
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "emulator", "user": {}}],
            "contexts": [
                {
                    "name": "emulator",
                    "context": {"cluster": "emulator", "user": "emulator", "namespace": "default"},
                }
            ],
            "current-context": "emulator",
            "preferences": {},
        }
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return target

    def api_client(self, *, user_agent: str | None = None) -> kubernetes.client.ApiClient:
        """An official-client `ApiClient` for this emulator (closed by `stop()`)."""
        configuration = kubernetes.client.Configuration(host=self.url)
        client = kubernetes.client.ApiClient(configuration)
        if user_agent is not None:
            client.user_agent = user_agent
        self._clients.append(client)
        return client

    # --- test helpers (no faults, no request record) ---------------------------------

    def get_object(
        self, group: str, version: str, plural: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
        """The stored object as served at `group/version`, or None."""
        rt = self._lookup(group, version, plural)
        obj = self._store.get(rt.group_resource, (namespace or "") if rt.namespaced else "", name)
        if obj is None:
            return None
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        return obj

    def set_status(
        self,
        group: str,
        version: str,
        plural: str,
        namespace: str | None,
        name: str,
        status: dict[str, Any],
    ) -> dict[str, Any]:
        """Replace an object's status (new resourceVersion, watchers told); return the object."""
        rt = self._lookup(group, version, plural)
        ns = (namespace or "") if rt.namespaced else ""
        with self._store.locked():
            obj = self._store.get(rt.group_resource, ns, name)
            if obj is None:
                raise LookupError(f"{rt.qualified_plural} {ns}/{name} not found")
            new = objects.prepare_update(
                rt, obj, {**obj, "status": copy.deepcopy(status)}, subresource="status"
            )
            stored = self._store.replace(rt.group_resource, new)
        stored["apiVersion"], stored["kind"] = rt.api_version, rt.kind
        return stored

    def _lookup(self, group: str, version: str, plural: str) -> resources.ResourceType:
        rt = self._registry.lookup(group, version, plural)
        if rt is None:
            raise LookupError(f"{group}/{version} {plural} is not served")
        return rt


def start_emulator(
    *,
    history: int = 1000,
    clock: Callable[[], datetime.datetime] = _utc_now,
    bookmark_interval: float = BOOKMARK_INTERVAL_S,
    gc_delay: float = 0.05,
) -> Emulator:
    """Start an emulator on 127.0.0.1:<free port>; return once it serves.

    `gc_delay`: seconds the garbage collector waits after a write before it deletes
    the dependents of deleted owners (the window in which they still exist)."""
    emulator = Emulator(
        history=history, clock=clock, bookmark_interval=bookmark_interval, gc_delay=gc_delay
    )
    try:
        emulator._start()
    except BaseException:
        emulator.stop()
        raise
    return emulator
