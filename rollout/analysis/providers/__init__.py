"""Metric providers: where readings come from (DESIGN §5, §6). Adapters, not logic.

Three layers of analysis (STYLE): a provider does I/O and parsing only and returns
a `Measurement` (a value, counts, samples, or an `error` with the reason — never an
exception); `evaluate` judges one reading; `assess` judges a metric over its
readings. This package is the first layer, the only part of `rollout.analysis`
allowed to import I/O clients (tests/unit/test_layers.py).

- `local`: the local proxy's per-revision stats, through a `StatsSource`;
- `prometheus`: an instant PromQL query (prometheus-api-client);
- `web`: HTTP GET of JSON and a JSON path to a number, within a total deadline;
- `rendering`: query/URL templates with escaping (pure);
- `secrets`: credentials named by `valueFrom` (env, file, a Kubernetes Secret), read
  at measurement time, and the `SecretReader` port;
- `printable`: provider texts made one printable line before they reach history.

`dispatch.Providers` is the platform's `MetricProvider`: it dispatches on the
metric's provider kind. A platform without local stats (no proxy) passes no `StatsSource`;
a `local` metric then reads as an error saying so. A platform with Secrets passes a
`SecretReader` (`secrets=`); without one, a `secretKeyRef` reads as an error saying
it needs the kubernetes platform.

Providers may block on I/O (each within its own timeout, the web provider within a
total deadline); the controller runs them off the reconcile
(`rollout.controller.measuring`), which also turns anything one raises into an error
reading.

This package module imports nothing: a command that needs only `secrets` or
`presets` does not load the Prometheus client (`rollout promote` starts in a tenth
of the time).
"""
