"""Exact increments from cumulative counters (`analysis.counters`): never negative,
never more than was served, exact when no pod restarted or went away — checked
against simulated pods whose counters reset and whose series end."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from rollout.analysis import counters, measurement


def key(revision: str, code: str, pod: str = "p0") -> counters.Series:
    return tuple(sorted({"revision": revision, "code": code, "pod": pod}.items()))


def test_an_increment_is_the_difference_of_two_readings() -> None:
    before = {key("c", "2xx"): 100.0, key("c", "5xx"): 3.0}
    after = {key("c", "2xx"): 160.0, key("c", "5xx"): 5.0}
    assert counters.increase(before, after) == 62


def test_a_reset_counts_from_zero_and_a_new_series_from_its_start() -> None:
    before = {key("c", "2xx", "a"): 500.0}
    after = {key("c", "2xx", "a"): 40.0, key("c", "5xx", "a"): 2.0}  # restarted pod
    assert counters.increase(before, after) == 42


def test_an_ended_series_counts_nothing_after_the_first_instant() -> None:
    before = {key("c", "2xx", "a"): 10.0, key("c", "2xx", "b"): 7.0}
    after = {key("c", "2xx", "b"): 9.0}
    assert counters.increase(before, after) == 2


def test_values_that_are_not_counts_count_nothing() -> None:
    after = {key("c", "2xx"): float("nan"), key("c", "5xx"): -1.0, key("s", "2xx"): 3.5}
    assert counters.increase({}, after) == 3


def test_split_gives_each_revision_its_requests_and_failures() -> None:
    before = {key("web-2", "2xx"): 10.0, key("web-2", "5xx"): 1.0, key("web-1", "2xx"): 90.0}
    after = {
        key("web-2", "2xx"): 20.0,
        key("web-2", "5xx"): 4.0,
        key("web-1", "2xx"): 190.0,
        key("web-1", "4xx"): 5.0,
        key("web-3", "5xx"): 50.0,  # another revision: not counted
    }
    canary, stable = counters.split(
        before, after, revision_label="revision", status_label="code", failed="5xx|error",
        canary="web-2", stable="web-1",
    )  # fmt: skip
    assert canary == measurement.Counts(13, 3)
    assert stable == measurement.Counts(105, 0)


@dataclasses.dataclass
class Pod:
    """A pod's counter, the requests it truly served, and whether it restarted or left."""

    value: float = 0.0
    alive: bool = True


EVENTS = st.lists(
    st.tuples(
        st.integers(0, 3), st.sampled_from(["serve", "restart", "leave", "new"]), st.integers(0, 50)
    ),
    max_size=40,
)


@given(start=st.lists(st.integers(0, 1000), min_size=1, max_size=4), events=EVENTS)
def test_an_increment_is_never_negative_nor_more_than_was_served(
    start: list[int], events: list[tuple[int, str, int]]
) -> None:
    pods = {f"p{i}": Pod(float(v)) for i, v in enumerate(start)}
    before = {key("c", "2xx", name): pod.value for name, pod in pods.items()}
    served = 0
    clean = True  # no restart, no pod left: the count must be exact
    for index, what, n in events:
        name = f"p{index}"
        pod = pods.get(name)
        if what == "new" and pod is None:
            pods[name] = Pod(float(n))
            served += n
        elif pod is None or not pod.alive:
            continue
        elif what == "serve":
            pod.value += n
            served += n
        elif what == "restart":
            pod.value = float(n)  # it counted what it served since starting again
            served += n
            clean = False
        elif what == "leave":
            pod.alive = False
            clean = False
    after = {key("c", "2xx", name): pod.value for name, pod in pods.items() if pod.alive}
    counted = counters.increase(before, after)
    assert 0 <= counted <= served
    if clean:
        assert counted == served
