"""kubeemu — a strict Kubernetes API emulator for the test suite (DESIGN §10, "Kubernetes").

Real HTTP on 127.0.0.1, driven by the official `kubernetes` client and the real
`kubectl`. Strict where a controller's correctness depends on it: a new
`resourceVersion` on every write, 409 on a stale update, `metadata.generation` on
spec changes only, the status subresource isolated from the spec, label/field
selectors on list and watch, watch resume from a resourceVersion (410 when too old),
ownerReference cascade delete, merge/JSON/strategic patches, CRD registration with
openAPIV3Schema validation, server-side tables for `kubectl get`, and injected faults.

    from kubeemu import Emulator, start_emulator
    emu = start_emulator()                 # 127.0.0.1:<free port>, serving on return
    emu.url                                # "http://127.0.0.1:PORT"
    emu.write_kubeconfig(path)             # for kubectl / load_kube_config
    emu.api_client()                       # kubernetes.client.ApiClient for emu.url
    emu.faults                             # Faults: conflict/error/timeout rates, watch drops
    emu.requests                           # RequestRecord per resource request
    emu.get_object(g, v, plural, ns, name) # direct read (no faults, not recorded)
    emu.set_status(g, v, plural, ns, name, status)  # direct status write (new rv, watchers told)
    emu.enforce_rbac(user_agent, Subject(name, ns))  # that client's requests need RBAC grants
    emu.pause_gc(); emu.resume_gc()        # hold the asynchronous garbage collector
    emu.deployments.start(ready_after=0.0, time_scale=1.0)  # Deployment statuses, as a cluster
    emu.deployments.fail("pod-security", name="web-00002")  # a failure mode per Deployment
    emu.stop()

Modules, one concern each: `server` (HTTP, threads, the facade), `api` (dispatch,
discovery, faults), `reads` and `writes` (the verbs), `exchange` (request/outcome
values), `routing` (URL → verb/resource), `discovery`, `resources` (served types),
`crds`, `builtins` (built-in defaults and checks), `deployments` (the Deployment
controller's statuses and failure modes), `storage` (objects,
resourceVersions, event history), `objects` (create/update rules), `schema`
(openAPIV3Schema validation), `selectors`, `patching`, `gc` (what collection does,
pure), `collector` (deletion, the garbage collector's thread), `watching`, `tables`,
`faults`, `recording` (request log), `authz` (RBAC decisions, owner-reference
admission), `errors`;
for tests: `crdfiles` (register CRD files), `rawclient` (exact requests).
`tests/kubernetes/README.md` lists the deliberate deviations.
"""

from kubeemu.authz import Subject
from kubeemu.faults import Faults
from kubeemu.recording import RequestLog, RequestRecord
from kubeemu.server import Emulator, start_emulator

__all__ = ["Emulator", "Faults", "RequestLog", "RequestRecord", "Subject", "start_emulator"]
