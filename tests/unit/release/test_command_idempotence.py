"""Commands keep their word under any interleaving (issue 19), checked by hypothesis.

The world: a Release in a memory store (conditional updates, as every store), the
controller's part as `engine.decide` on what it reads (the canary ready, the weights
it asks for applied at once — the fastest controller, the worst case for a repeat),
and CLI sessions that follow `rollout.cli.release_cmds` exactly: read, decide the
intent, write conditional on the resourceVersion read; on a conflict read again and
decide again, `promote` still from the step it first read.

- Any interleaving of N promotes issued from the same observed state (a release
  paused at a pause step followed by another pause step, so that a promote decided
  on a fresher read would have a second step to take) with controller decisions
  advances exactly one step, and every session exits 0 — also when each session
  first reads the release at its own time, after the controller may have acted on
  another's promote (processes started at once, with different start-up times).
- `abort`, `pause` and `resume` repeated, from any state reachable by commands: after
  a first that wrote or found its intent holding, the repeat writes nothing (the same
  final spec), with or without controller decisions in between; given at once, it
  exits 0 ("already …") then, and is refused when the first was. (After decisions
  the release may have moved on — to a pause step, to its end — and the repeat says
  so; a refused command may apply once the release moved.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from rollout.api import meta, policyspec, release
from rollout.api.release import PauseReason, Phase, ReleaseSpec, ReleaseStatus
from rollout.release import commands, engine, observation, steps
from rollout.store import errors, memory

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NS, NAME = "default", "web-00002"
# A pause step followed by another: a promote decided on a read taken after the
# controller handled the first one would promote the second pause too.
POLICY = policyspec.RolloutPolicySpec.model_validate(
    {
        "steps": [
            {"setWeight": 10},
            {"pause": {}},
            {"pause": {}},
            {"setWeight": 50},
            {"pause": {}},
            {"setWeight": 80},
        ]
    }
)
ATTEMPTS = 5  # as intents.ATTEMPTS (rollout.cli.intents)


class World:
    """The store, a clock that ticks a second per event, and the controller."""

    def __init__(self, status: ReleaseStatus) -> None:
        self.now = T0
        self.store = memory.MemoryStore(now=lambda: self.now)
        created = self.store.create(
            release.Release(
                metadata=meta.ObjectMeta(name=NAME, namespace=NS),
                spec=ReleaseSpec(
                    service="web",
                    stable_revision="web-00001",
                    canary_revision="web-00002",
                    policy=POLICY,
                ),
            )
        )
        self.store.update_status(created.model_copy(update={"status": status}))

    def tick(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now

    def read(self) -> release.Release:
        rel = self.store.get("Release", NS, NAME)
        assert isinstance(rel, release.Release)
        return rel

    def decide(self) -> None:
        """One reconcile of the release: the controller's decision, written when it
        changed the status (as the release reconciler does: a status write changes the
        resourceVersion, and a write of every look would conflict with every command
        written in between — a CLI session retries 5 times, not forever)."""
        rel = self.read()
        obs = observation.Observation(
            now=self.tick(), canary_ready=True, applied=rel.status.weights
        )
        decision = engine.decide(rel.spec, rel.status, obs)
        if decision.status != rel.status:
            self.store.update_status(rel.model_copy(update={"status": decision.status}))


Intent = Callable[[release.Release], release.ReleaseSpec]


def session(
    world: World, decide: Callable[[release.Release], Intent], first: release.Release | None
) -> Iterator[None]:
    """One CLI process: its intent decided on its first read (`first`, or one taken at
    its first turn), then yields before each write and each read again. Its outcome is
    the generator's return value."""
    if first is None:
        yield  # started; reads at its first turn (its start-up took that long)
        first = world.read()
    intent, rel = decide(first), first
    for attempt in range(ATTEMPTS):
        if attempt:
            yield
            rel = world.read()
        try:
            spec = intent(rel)
        except commands.AlreadyDone:
            return "already"  # type: ignore[return-value]
        except commands.NotApplicable:
            return "refused"  # type: ignore[return-value]
        yield
        try:
            world.store.update(rel.model_copy(update={"spec": spec}))
        except errors.Conflict:
            continue
        return "written"  # type: ignore[return-value]
    return "busy"  # type: ignore[return-value]


def run(world: World, sessions: list[Iterator[None]], schedule: list[int]) -> list[str]:
    """Step the sessions in the order `schedule` names them (an index past the
    sessions is a controller decision), then the rest to their end; the outcomes."""
    outcomes: dict[int, str] = {}

    def step(i: int) -> None:
        try:
            next(sessions[i])
        except StopIteration as end:
            outcomes[i] = end.value

    for pick in schedule:
        if pick >= len(sessions):
            world.decide()
        elif pick not in outcomes:
            step(pick)
    for i in range(len(sessions)):
        while i not in outcomes:
            step(i)
    return [outcomes[i] for i in range(len(sessions))]


def promote_intent(world: World, given_at: datetime | None = None) -> Callable[..., Intent]:
    """`rollout promote web` as the CLI decides it: from the step of its first read, and
    about the state at `given_at` (when its process started)."""

    def decide(first: release.Release) -> Intent:
        return lambda rel: commands.promote(
            rel,
            full=False,
            now=world.tick(),
            by="alice",
            from_step=first.status.step_index,
            given_at=given_at,
        )

    return decide


PAUSED_AT_STEP_2 = ReleaseStatus(
    phase=Phase.PAUSED,
    step_index=1,
    weights=steps.weights(10),
    pause_reason=PauseReason.PROMOTION,
    started_at=T0,
    step_started_at=T0,
)


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=4),
    schedule=st.lists(st.integers(min_value=0, max_value=5), max_size=30),
    read_at_once=st.booleans(),
)
def test_promotes_from_the_same_observed_state_advance_one_step(
    n: int, schedule: list[int], read_at_once: bool
) -> None:
    """N promotes all given while the release is paused at step 2 — all reading it
    then, or each at its own turn (start-up times differ): whatever the order of their
    reads, writes, retries and the controller's decisions, step 3 and no further."""
    world = World(PAUSED_AT_STEP_2)
    given = world.tick()
    observed = world.read() if read_at_once else None
    sessions = [session(world, promote_intent(world, given), observed) for _ in range(n)]
    outcomes = run(world, sessions, [min(p, n) for p in schedule])
    for _ in range(3):
        world.decide()
    final = world.read().status
    assert (final.phase, final.step_index) == (Phase.PAUSED, 2), final.history
    assert final.weights == steps.weights(10)
    assert set(outcomes) <= {"written", "already"}, outcomes  # every one exits 0
    assert "written" in outcomes
    promoted = [h for h in final.history if h.event == "PromotedStep"]
    assert len(promoted) == 1


# --- levels: abort, pause, resume ----------------------------------------------------------


def level_intent(world: World, name: str) -> Intent:
    if name == "abort":
        return commands.abort
    if name == "pause":
        return commands.pause
    return lambda rel: commands.resume(rel, now=world.tick(), by="alice")


def once(world: World, decide: Callable[[release.Release], Intent]) -> str:
    """A whole CLI run with nothing else in between."""
    run_ = session(world, decide, world.read())
    while True:
        try:
            next(run_)
        except StopIteration as end:
            return str(end.value)


COMMANDS = ["abort", "pause", "resume", "promote"]


@settings(max_examples=200, deadline=None)
@given(
    start=st.sampled_from(["paused-at-pause-step", "progressing", "pending"]),
    prefix=st.lists(
        st.tuples(st.sampled_from(COMMANDS), st.integers(min_value=0, max_value=2)), max_size=4
    ),
    command=st.sampled_from(["abort", "pause", "resume"]),
    between=st.integers(min_value=0, max_value=3),
)
def test_repeated_levels_are_idempotent(
    start: str, prefix: list[tuple[str, int]], command: str, between: int
) -> None:
    """From any state commands reach: a second abort/pause/resume writes nothing; at
    once, it exits 0 when the first wrote or found it done, refused as the first was."""
    status = {
        "paused-at-pause-step": PAUSED_AT_STEP_2,
        "progressing": ReleaseStatus(
            phase=Phase.PROGRESSING, step_index=0, weights=steps.weights(10), started_at=T0
        ),
        "pending": ReleaseStatus(),
    }[start]
    world = World(status)
    for name, decisions in prefix:  # some history: commands and decisions
        if name == "promote":
            once(world, promote_intent(world))
        else:
            once(world, lambda _, name=name: level_intent(world, name))
        for _ in range(decisions):
            world.decide()

    first = once(world, lambda _: level_intent(world, command))
    spec = world.read().spec
    for _ in range(between):
        world.decide()
    before = world.read()
    second = once(world, lambda _: level_intent(world, command))

    after = world.read()
    if first != "refused":  # the repeat never writes: the spec is the one the first left
        assert second != "written"
        assert after.metadata.resource_version == before.metadata.resource_version
    if between == 0:  # at once: what the first said, exit 0 unless the first was refused
        assert after.spec == spec
        assert second == ("refused" if first == "refused" else "already"), (first, before.status)


def test_a_promote_written_between_the_controllers_looks_is_not_starved() -> None:
    """Found by hypothesis: a look of the controller between each read and write of a
    promote. The controller writes the status only when its decision changed it (the
    first look fills in the step and message), so the promote's second write lands."""
    world = World(PAUSED_AT_STEP_2)
    given = world.tick()
    sessions = [session(world, promote_intent(world, given), world.read())]
    outcomes = run(world, sessions, [0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1])
    assert outcomes == ["written"]
    for _ in range(3):
        world.decide()
    final = world.read().status
    assert (final.phase, final.step_index) == (Phase.PAUSED, 2), final.history
