"""The release engine: a pure state machine from stable to canary.

`engine.decide(spec, status, observation)` → `Decision(status, actions,
requeue_after)`. The transitions are data in `table`; step arithmetic is in `steps`;
what the engine sees is an `observation.Observation`; what it asks for are
`actions`. No I/O and no wall clock anywhere in this package.
"""
