"""Connecting to a cluster: the kubeconfig (`--kubeconfig`, `$KUBECONFIG`,
`~/.kube/config`) or, inside a pod, the service account.

`api_client(kubeconfig, context, user_agent, qps, burst)` is what the CLI and the
controller call; everything else in this package takes the `ApiClient` it returns.
Every request through it shares one client-side rate limit of `qps` a second with
bursts of `burst` (`apiclient`; default 20/30; `rollout controller --kube-qps
--kube-burst`).
"""

from __future__ import annotations

import os
import pathlib

from kubernetes import client, config

from rollout.platforms.kubernetes import apiclient

__all__ = ["ConnectError", "api_client"]


class ConnectError(Exception):
    """No usable cluster configuration."""


def api_client(
    kubeconfig: str | None = None,
    *,
    context: str | None = None,
    user_agent: str = "rollout",
    qps: float = apiclient.DEFAULT_QPS,
    burst: int = apiclient.DEFAULT_BURST,
) -> client.ApiClient:
    """An ApiClient for the cluster the kubeconfig (or the pod) points at, its
    requests limited to `qps` a second (0: no limit) in bursts of `burst`."""
    configuration = client.Configuration()
    path = kubeconfig or os.environ.get("KUBECONFIG")
    in_cluster = not path and "KUBERNETES_SERVICE_HOST" in os.environ
    try:
        if in_cluster:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            chosen = path or str(pathlib.Path("~/.kube/config").expanduser())
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=chosen, context=context, client_configuration=configuration
            )
    except (config.ConfigException, OSError, TypeError, ValueError) as exc:
        where = "the in-cluster service account" if in_cluster else (path or "~/.kube/config")
        raise ConnectError(f"cannot use {where}: {exc}") from exc
    api = client.ApiClient(configuration)
    api.user_agent = user_agent
    apiclient.configure(api, apiclient.Traffic(qps, burst))
    return api
