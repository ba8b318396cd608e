"""The controller: work queue, watch wiring, workers.

queue     de-duplicating work queue with delays and backoff
wiring    which keys a watch event enqueues
cache     the read cache (informer) reconcilers read from, fed by the watch
manager   Controller: watch → queue → reconcilers, threaded or synchronous
metrics   the controller's prometheus_client metrics
measuring readings off the reconcile, each within a hard deadline
"""
