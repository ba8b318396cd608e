"""rollout: a progressive delivery engine.

Knative-style Services, immutable Revisions and Routes underneath; on top, a release
state machine that shifts traffic step by step, gates every step on metric analysis,
rolls back on failure and takes manual promote/abort commands.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
