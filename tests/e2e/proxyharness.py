"""The proxy's end-to-end harness: an admin client that writes the run files the local
runtime would have written for each target it routes to (the proxy forwards only to
ports a revision of ours runs on), naming this test process as the revision process.

Used by `test_proxy_e2e.py` and `test_proxy_rules_e2e.py`, whose upstreams are HTTP
servers in the test process.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Sequence

from rollout.api import matching
from rollout.platforms.local import processes
from rollout.platforms.local.proxy import client

__all__ = ["HarnessClient", "write_run_file"]


def write_run_file(state_dir: pathlib.Path, namespace: str, revision: str, port: int) -> None:
    """What the local runtime writes for a revision: its port, served by a live process
    (this test process, where the upstream servers run)."""
    path = state_dir / "run" / f"{namespace}.{revision}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    start = processes.proc_start(os.getpid())
    assert start is not None
    record = processes.RunRecord(pid=os.getpid(), port=port, started_at="now", proc_start=start)
    processes.write_run_file(path, record)


class HarnessClient(client.ProxyClient):
    """The admin client, with the run files the runtime would have written."""

    def __init__(self, adopted: client.ProxyClient, state_dir: pathlib.Path) -> None:
        super().__init__(adopted.admin_url, token=adopted.token, pid=adopted.pid)
        self.state_dir = state_dir

    def put_route(
        self,
        namespace: str,
        service: str,
        *,
        port: int | None,
        targets: Sequence[client.RouteTarget],
        header_routes: Sequence[matching.HeaderRoute] = (),
        mirrors: Sequence[matching.Mirror] = (),
        session_affinity: matching.StickySession | None = None,
    ) -> client.Route:
        for t in targets:
            if t.url is not None:
                write_run_file(self.state_dir, namespace, t.revision, int(t.url.rsplit(":", 1)[1]))
        return super().put_route(
            namespace,
            service,
            port=port,
            targets=targets,
            header_routes=header_routes,
            mirrors=mirrors,
            session_affinity=session_affinity,
        )
