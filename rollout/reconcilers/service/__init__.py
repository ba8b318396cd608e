"""The Service reconciler: `reconcile` (observe → plan → apply → persist), its pure
`plan` (every decision about a Service: revisions, releases, the Route's split,
garbage, status) and the pure `builders` of the objects it makes. The only writer
of `Route.spec`."""
