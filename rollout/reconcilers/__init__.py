"""The reconcilers, one per kind, each `reconcile(ctx, key) -> Result` on
observe → decide → apply → persist:

- `service`: revisions, releases, the Route's spec (its one writer), garbage, status;
- `release`: runs the release engine (`rollout.release`) and persists its status —
  its weights reach the Route through the Service;
- `revision`: the runtime (a process, a Deployment) and the revision's readiness;
- `route`: the data plane (proxy, HTTPRoute, VirtualService) and the split applied.

They never import one another (an import-linter contract); what they share is in
`base`. Called by `rollout.controller`."""
