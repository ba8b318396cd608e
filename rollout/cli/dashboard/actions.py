"""What the dashboard's buttons do: each action is the CLI command of the same name
(`rollout.cli.intents`), with the same refusals and words; and the question abort
and undo ask first.

`run` does store I/O (through `intents`): the server calls it on its store thread.
`question` is pure (a snapshot in, a sentence out). Called by `server`.
"""

from __future__ import annotations

from rollout.cli import intents
from rollout.cli.dashboard import source as sources

__all__ = ["NAMES", "question", "run"]

NAMES = ("promote", "promote-full", "pause", "resume", "retry", "abort", "undo")


def run(
    source: sources.Source,
    by: str | None,
    namespace: str,
    name: str,
    action: str,
    *,
    step: int | None,
) -> intents.Outcome:
    """The CLI's command for `action` on service `name`; `step`: the step the page
    showed (0-based, as `rollout promote --step N+1`; None: the step read now)."""
    store, clock = source.store, source.clock
    if action in ("promote", "promote-full"):
        full = action == "promote-full"
        return intents.promote(
            store,
            namespace,
            name,
            full=full,
            force=False,
            step=None if full else step,
            clock=clock,
            by=by,
            given_at=None if step is not None else clock.now(),
        )
    if action == "abort":
        return intents.abort(store, namespace, name)
    if action == "pause":
        return intents.pause(store, namespace, name)
    if action == "resume":
        return intents.resume(store, namespace, name, clock=clock, by=by)
    if action == "retry":
        return intents.retry(store, namespace, name, clock=clock, by=by)
    if action == "undo":
        return intents.undo(store, namespace, name, to_revision=None)
    raise ValueError(f"no action {action!r}")


def question(snap: sources.Snapshot, namespace: str, name: str, action: str) -> str:
    """What abort and undo ask before they act."""
    svc = snap.find(namespace, name)
    rel = snap.current(svc) if svc is not None else None
    if action == "abort":
        if rel is None:
            return f"Abort the release of {name}?"
        return (
            f"Abort release {rel.metadata.name}? All traffic goes back to"
            f" {rel.spec.stable_revision} at once."
        )
    stable = svc.status.stable_revision if svc is not None else None
    return (
        f"Undo {name}? The template of the revision before {stable or 'the stable one'}"
        " is applied again and released under the service's policy."
    )
