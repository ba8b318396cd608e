"""Analysis: measurements in, verdicts with reasons out.

Three layers, as in Argo Rollouts: providers (I/O and parsing only, in `providers/`
when they exist), `evaluate` (one measurement → a verdict, pure), and `assess`
(a metric's measurements in a step, with its limits → the step's gate, pure). The
sequential comparison against the stable revision is in `sequential`.
"""
