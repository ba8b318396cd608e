"""What people see of a release, computed from the objects: the status view shared by
`rollout status` and the tour (`status`). Pure; no I/O: rendering to rich
renderables, never printing."""
