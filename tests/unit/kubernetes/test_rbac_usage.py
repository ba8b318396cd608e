"""The RBAC the install grants is exactly what the Kubernetes adapters say they call
(`USES` in each module), each in its scope: the Lease in the controller's namespace,
Secrets by name, the rest where the controller works. That the adapters call nothing
beyond it is checked on the wire by the end-to-end tests
(`tests/kubernetes/kubecluster.py: assert_granted`, and the emulator enforcing RBAC)."""

from __future__ import annotations

from rollout.platforms.kubernetes import (
    adopter,
    events,
    leader,
    owned,
    rbac,
    router,
    runtime,
    secrets,
    store,
)


def test_the_rules_are_the_union_of_what_the_adapters_use() -> None:
    """Every grant is called by some adapter, and every call is granted."""
    modules = (store, runtime, router, adopter, leader, events, secrets, owned)
    used = rbac.grants(tuple(rule for module in modules for rule in module.USES))
    assert rbac.grants() == used


def test_each_scope_holds_what_its_adapters_use() -> None:
    """Leases only for leader election; Secrets only for the Secret reader; the
    namespaced rules for the store, runtime, router, adopted Deployments, events and
    the owner references we set (`owned`: `…/finalizers`, which admission asks for)."""
    assert rbac.grants(leader.USES) == rbac.grants(rbac.LEADER)
    assert rbac.grants(secrets.USES) == rbac.grants((rbac.SECRETS,))
    workers = (store, runtime, router, adopter, events, owned)
    assert rbac.grants(tuple(r for m in workers for r in m.USES)) == rbac.grants(rbac.NAMESPACED)
