"""Traffic targets: which revision gets what percent, under which tag.

Shared by `Service.spec.traffic` (the manual split), `Route.spec.traffic` and the
statuses that report what is applied. A split is valid when its percents sum to 100
and its tags are unique; a tag makes a revision reachable on its own (the
`Rollout-Tag` header locally, a header-matched route on Kubernetes) whatever its
percent, which is how blue-green tests a revision at weight 0.

An applied target says whether it is `ready` to serve when the router knows (the
local proxy does: a target without a live endpoint gets no traffic, its share goes to
the ready ones); `unserved` lists the targets with weight that are not.

Pure data and rules; no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

from rollout.api import base, problems

__all__ = [
    "MAX_TARGETS",
    "TrafficStatus",
    "TrafficTarget",
    "belongs_to",
    "same_split",
    "split_problems",
    "unserved",
]


#: The most targets a split has (a bound the CRD's CEL rules need, far above any use).
MAX_TARGETS = 100


class TrafficTarget(base.ApiModel):
    revision_name: str
    """The revision that gets this share: <service>-NNNNN."""
    percent: base.Percent
    """The share of requests the revision gets, 0 to 100."""
    tag: base.Name | None = None
    """A name that reaches this revision on its own, whatever its percent (a header-matched route
    on Kubernetes)."""


class TrafficStatus(TrafficTarget):
    """A target as applied, with the URL that reaches it by tag (when tagged), and
    whether the data plane has a ready endpoint for it (None: the router does not say)."""

    url: str | None = None
    """The URL that reaches the revision by its tag (tagged targets only)."""
    ready: bool | None = None
    """Whether the data plane has a ready endpoint for the revision (absent: the router does not
    say)."""


def unserved(applied: Sequence[TrafficStatus]) -> list[TrafficStatus]:
    """The applied targets with weight that the router reports not ready."""
    return [t for t in applied if t.percent > 0 and t.ready is False]


def split_problems(
    targets: list[TrafficTarget], loc: problems.Loc, *, service: str | None
) -> list[problems.Problem]:
    """Percents sum to 100, tags are unique, revisions belong to `service` (when given)."""
    found = []
    total = sum(t.percent for t in targets)
    if targets and total != 100:
        found.append(problems.Problem(loc, f"percents must sum to 100 (they sum to {total})"))
    tags: set[str] = set()
    for i, target in enumerate(targets):
        if target.tag is not None:
            if target.tag in tags:
                found.append(problems.Problem((*loc, i, "tag"), f"duplicate tag {target.tag!r}"))
            tags.add(target.tag)
        if service is not None and not belongs_to(target.revision_name, service):
            found.append(
                problems.Problem(
                    (*loc, i, "revisionName"),
                    f"{target.revision_name!r} is not a revision of service {service!r}"
                    f" (revisions are named {service}-00001, {service}-00002, …)",
                )
            )
    return found


def belongs_to(revision_name: str, service: str) -> bool:
    """True when `revision_name` is `<service>-NNNNN` (five or more digits)."""
    prefix = f"{service}-"
    number = revision_name[len(prefix) :]
    return (
        revision_name.startswith(prefix)
        and len(number) >= 5
        and number.isascii()
        and number.isdigit()
    )


def same_split(applied: Sequence[TrafficTarget], wanted: Sequence[TrafficTarget]) -> bool:
    """Equal splits, ignoring untagged targets at 0% and the order."""

    def norm(items: Sequence[TrafficTarget]) -> list[tuple[str, int, str | None]]:
        return sorted((t.revision_name, t.percent, t.tag) for t in items if t.percent or t.tag)

    return norm(applied) == norm(wanted)
