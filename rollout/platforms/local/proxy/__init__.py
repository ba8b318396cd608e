"""The local traffic-splitting proxy (DESIGN §6): its own process, one listener per
service on 127.0.0.1, weighted routing with header pinning, header routes, mirrors
and sticky sessions, per-revision stats.

    table     the target table and the admin body (pure)
    rules     header routes, mirrors, the sticky session: parsed and evaluated (pure)
    mirror    the background copies of mirrored requests
    stats     per-second windows, histogram, latency samples (pure)
    metrics   Prometheus exposition
    forward   the data plane: forward one request, streaming
    server    the process and its listeners (`python -m …proxy`)
    admin     the admin API: routes, stats, metrics, health; the token on writes
    auth      the admin token (`<state-dir>/proxy.token`, required on every write)
    client    ProxyClient (sync admin client), ensure_proxy, stop_proxy
"""
