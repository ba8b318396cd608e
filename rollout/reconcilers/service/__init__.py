"""The Service reconciler: `reconcile` (observe → decide → apply → persist) and
its pure `builders`."""
