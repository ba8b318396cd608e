"""The ClusterRole grants exactly what the Kubernetes adapters say they call (`USES` in
each module). That the adapters call nothing beyond it is checked on the wire by the
end-to-end tests (`tests/kubernetes/kubecluster.py: assert_granted`)."""

from __future__ import annotations

from rollout.platforms.kubernetes import events, leader, rbac, router, runtime, store


def test_the_cluster_role_is_the_union_of_what_the_adapters_use() -> None:
    used = rbac.grants(
        tuple(rule for module in (store, runtime, router, leader, events) for rule in module.USES)
    )
    assert rbac.grants() == used
