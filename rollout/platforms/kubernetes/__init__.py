"""The Kubernetes platform (DESIGN §6): the only package that imports `kubernetes`.

A Revision becomes an apps/v1 Deployment and a v1 Service (plus an autoscaling/v2
HorizontalPodAutoscaler when its template scales); a Route becomes a Gateway API
HTTPRoute or an Istio VirtualService plus a stable v1 Service named after the service.

    builders    pure: the objects above as plain dicts, read-backs, Events
    rbac        the RBAC rules and their scopes, as data (the single source)
    scope       pure: which namespaces the controller serves; name checks
    manifests   pure: what `rollout install --print` prints and `deploy/` holds

The I/O adapters (store, runtime, router, leader election, the Secret reader
`secrets`) call the pure modules; they are the only modules here that import the
client. Submodules are imported by name, never from this file, so that importing a
pure module loads no client.
"""
