"""The RolloutPolicy resource: a named, reusable release plan (see `policy`).

Pure data; no I/O.
"""

from __future__ import annotations

from typing import Literal

from rollout.api import base, meta, policyspec

__all__ = ["RolloutPolicy"]


class RolloutPolicy(base.ApiModel):
    """A reusable release plan: steps, analysis, deadline, rollback and webhooks."""

    api_version: Literal["rollout.dev/v1alpha1"] = "rollout.dev/v1alpha1"
    kind: Literal["RolloutPolicy"] = "RolloutPolicy"
    metadata: meta.ObjectMeta
    spec: policyspec.RolloutPolicySpec
    """The release plan and how each step is judged."""
