"""The release engine: a pure state machine from stable to canary.

`engine.decide(spec, status, observation)` → `Decision(status, actions,
requeue_after)`. The transitions are data in `table` (which also says which command
applies when); `engine` drives the machine over a `model.Model` of the decision in
progress, whose `conditions` read it and whose `effects` change it; `messages` words
the events and the one-line status, `schedule` says when to look again, `steps` does
step arithmetic; `commands` turns the user's commands into intents. What the engine
sees is an `observation.Observation`; what it asks for are `actions`. No I/O and no
wall clock anywhere in this package.
"""
