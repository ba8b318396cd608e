"""End to end on the API emulator: deleting Services as a cluster does it, with the
controller running under the install's RBAC and the OwnerReferencesPermissionEnforcement
admission checks (issue 18, findings 4 and 5).

Two Services run. `api` is deleted in the background with the garbage collector
paused: the Service is gone at once, its Route and Revision still exist (the window a
controller must live with), and they go once the collector runs. `web`, held by a
third party's finalizer, is deleted in the foreground: the collector takes its Route,
Revision and their objects, then drops `foregroundDeletion`; the Service stays,
terminating — and a new template on it makes the controller create nothing (before,
it made the Route and a revision again). Once the finalizer goes, the Service does.
Every request the controller made, with what admission asked of it, was granted.
"""

from __future__ import annotations

from typing import Any

from kubecluster import (
    CONTROLLER_AGENT,
    Cluster,
    Controller,
    assert_granted,
    controller_sa,
    install_rbac,
    wait_for,
)
from kubeemu import rawclient

from rollout.platforms.kubernetes import manifests

HOLD = "example.com/hold"
SERVICES = "/apis/rollout.dev/v1alpha1/namespaces/default/services"


def service_yaml(name: str) -> str:
    return f"""\
apiVersion: rollout.dev/v1alpha1
kind: Service
metadata: {{name: {name}, namespace: default}}
spec:
  template:
    spec:
      containers:
        - name: app
          image: registry.example/{name}:v1
          ports: [{{containerPort: 8080}}]
"""


def ours(c: Cluster, plural: str, name: str) -> dict[str, Any] | None:
    return c.obj("rollout.dev", "v1alpha1", plural, name)


def merge(c: Cluster, name: str, patch: dict[str, Any]) -> dict[str, Any]:
    reply = rawclient.call(
        c.emu.url,
        "PATCH",
        f"{SERVICES}/{name}",
        body=patch,
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert reply.status == 200, reply.body
    return dict(reply.body)


def test_deleted_services_get_no_new_children(cluster: Cluster) -> None:
    c = cluster
    install_rbac(c.emu, manifests.Settings(namespace="default"))
    c.emu.enforce_rbac(CONTROLLER_AGENT, controller_sa("default"))
    controller = Controller(c.kubeconfig, c.tmp / "controller.log", "--scenario", "good")
    try:
        for name in ("api", "web"):
            c.apply(service_yaml(name), f"{name}.yaml")
        for name in ("api", "web"):
            wait_for(
                lambda n=name: (
                    (ours(c, "services", n) or {}).get("status", {}).get("stableRevision")
                    == f"{n}-00001"
                ),
                30,
                f"{name}'s first revision to take traffic",
            )
        # Background, the collector paused: the Service goes, its children stay a while
        c.emu.pause_gc()
        try:
            gone = rawclient.call(c.emu.url, "DELETE", f"{SERVICES}/api")
            assert gone.status == 200, gone.body
            assert ours(c, "services", "api") is None
            assert ours(c, "routes", "api") is not None
            assert ours(c, "revisions", "api-00001") is not None
        finally:
            c.emu.resume_gc()
        wait_for(
            lambda: (
                ours(c, "routes", "api") is None
                and c.obj("apps", "v1", "deployments", "api-00001") is None
            ),
            10,
            "api's Route, Revision and Deployment collected",
        )
        # Foreground, held by a third party's finalizer
        merge(c, "web", {"metadata": {"finalizers": [HOLD]}})
        marked = len(c.emu.requests.snapshot())
        reply = rawclient.call(
            c.emu.url,
            "DELETE",
            f"{SERVICES}/web",
            body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"},
        )
        assert reply.status == 200, reply.body
        assert reply.body["metadata"]["deletionTimestamp"]
        wait_for(
            lambda: (
                (ours(c, "services", "web") or {}).get("metadata", {}).get("finalizers") == [HOLD]
                and ours(c, "routes", "web") is None
                and ours(c, "revisions", "web-00001") is None
            ),
            20,
            "web's children collected and foregroundDeletion dropped",
        )
        # a new template on the terminating Service: seen, and nothing made for it
        changed = merge(c, "web", {"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "registry.example/web:v2", "ports": [{"containerPort": 8080}]}
        ]}}}})  # fmt: skip
        generation = changed["metadata"]["generation"]
        wait_for(
            lambda: (
                (ours(c, "services", "web") or {}).get("status", {}).get("observedGeneration")
                == generation
            ),
            10,
            "the controller to see the terminating Service's new template",
        )
        made = [
            (r.resource, r.name)
            for r in c.emu.requests.snapshot()[marked:]
            if CONTROLLER_AGENT in r.user_agent and r.verb == "create" and r.group == "rollout.dev"
        ]
        assert made == []
        assert ours(c, "routes", "web") is None
        assert ours(c, "revisions", "web-00002") is None
        merge(c, "web", {"metadata": {"finalizers": None}})
        wait_for(lambda: ours(c, "services", "web") is None, 10, "web gone")
        assert_granted(c.emu)
    except BaseException:
        print(controller.output()[-8000:])  # shown by pytest with the failure
        raise
    finally:
        c.emu.enforce_rbac(CONTROLLER_AGENT, None)
        assert controller.stop() == 0, controller.output()[-4000:]
