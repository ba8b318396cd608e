"""The Kubernetes platform (DESIGN §6): the only package that imports `kubernetes`.

A Revision becomes an apps/v1 Deployment and a v1 Service (plus an autoscaling/v2
HorizontalPodAutoscaler when its template scales); a Route becomes a Gateway API
HTTPRoute or an Istio VirtualService plus a stable v1 Service named after the service.

Pure (no client import, no I/O):

    owned          what every object we write shares: metadata, owner, Service shape
    workloads      Revision → Deployment, Service, HPA; Deployment status → RuntimeState
    traffic        the `Router` interface, the stable Service, split read-back assembly
    gateway_api    router: Route ↔ HTTPRoute (build, applied split, URL)
    istio          router: Route ↔ VirtualService (build, applied split, URL)
    refs           where each kind lives on the API server (group/version/plural)
    customobjects  our CRD objects ↔ JSON bodies
    rbac           the RBAC rules and their scopes, as data (the single source)
    scope          which namespaces the controller serves; name checks
    manifests      what `rollout install --print` prints and `deploy/` holds

I/O (each takes a `rest.Resources`, the one transport, or builds one):

    rest           the transport: JSON by path through the client's ApiClient; ApiError
    connect        the ApiClient from a kubeconfig or the pod's service account
    store          the Store port on our CRDs; `feed` its buffered watch streams
    runtime        the Runtime port (workloads); `converge` create-or-patch by hash
    router         the TrafficRouter port: stable Service + the route's router object
    events         the EventRecorder port (and its pure `make_event`)
    secrets        the SecretReader port (metric providers' credentials)
    leader         leader election on a Lease; `fenced` the Store that obeys it
    platform       the ports assembled for `rollout controller --platform kubernetes`

Submodules are imported by name, never from this file, so that importing a pure
module loads no client.
"""
