"""End-to-end fixtures: the real Prometheus server fixtures (`prometheus_binary`,
`start_prometheus`) are shared with the Kubernetes tests, in tests/conftest.py."""
