"""The controller's collector settings: thresholds and freezing, undone afterwards."""

from __future__ import annotations

import gc
import weakref

from rollout.controller import collector


def test_running_sets_thresholds_and_undoes_them_and_the_freezing() -> None:
    before = gc.get_threshold()
    assert before != collector.THRESHOLDS
    with collector.running(every=0.0) as freezer:
        assert gc.get_threshold() == collector.THRESHOLDS
        kept = [object() for _ in range(10)]
        assert freezer.tick()
        assert gc.get_freeze_count() >= len(kept)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_a_freezer_freezes_once_per_period() -> None:
    with collector.running(every=3600.0) as freezer:
        assert not freezer.tick()  # the period starts when the controller does
        assert gc.get_freeze_count() == 0
    freezer = collector.Freezer(every=0.0)
    try:
        assert freezer.tick()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_frozen_objects_are_still_freed_by_reference_counting() -> None:
    """Freezing skips objects in collections; it does not keep them alive."""

    class Box:
        pass

    box = Box()
    ref = weakref.ref(box)
    with collector.running(every=0.0) as freezer:
        assert freezer.tick()
        del box
        assert ref() is None
