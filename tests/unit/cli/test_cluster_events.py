"""`events_cmd.list_events`: the Event objects about our kinds, of one namespace or of
every one (a cluster-wide list), selected by the API server, read in pages and
bounded; and the dashboard's reader, which keeps the last ones when a read fails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from structlog.testing import capture_logs

from rollout.cli import dashboard_cmd, events_cmd

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def event(i: int, namespace: str, api: str = "rollout.dev/v1alpha1") -> dict[str, Any]:
    return {
        "metadata": {"name": f"e{i}", "namespace": namespace},
        "involvedObject": {"apiVersion": api, "kind": "Service", "name": "web"},
        "reason": f"R{i}",
        "type": "Normal",
        "eventTime": (T0 + timedelta(seconds=i)).isoformat(),
    }


class Resources:
    """The API server's list of Events, in pages of `limit` (its order: by key)."""

    def __init__(self, items: list[dict[str, Any]], *, fail: bool = False) -> None:
        self.items, self.fail = items, fail
        self.asked: list[dict[str, Any]] = []

    def list(self, ref: Any, namespace: str | None, **query: Any) -> dict[str, Any]:
        self.asked.append({"namespace": namespace, **query})
        if self.fail:
            raise RuntimeError("events is forbidden")
        assert ref.path(namespace).endswith("/events")
        start = int(query["after"] or 0)
        end = start + query["limit"]
        more = {"continue": str(end)} if end < len(self.items) else {}
        return {"items": self.items[start:end], "metadata": more}


def test_every_namespace_is_one_cluster_wide_list_selected_by_the_server() -> None:
    """namespace None: one list of every namespace, asking only for our apiVersion;
    what comes back is ours alone, oldest first."""
    api: Any = Resources([event(3, "shop"), event(1, "default"), event(2, "x", api="v1")])
    found = events_cmd.list_events(api, None)
    assert [(e.namespace, e.reason) for e in found] == [("default", "R1"), ("shop", "R3")]
    (asked,) = api.asked
    assert asked["namespace"] is None
    assert asked["fields"] == "involvedObject.apiVersion=rollout.dev/v1alpha1"


@pytest.mark.parametrize(
    ("count", "most", "pages", "kept"),
    [
        pytest.param(10, 2000, 1, 10, id="one-page"),
        pytest.param(1200, 2000, 3, 1200, id="pages-followed"),
        pytest.param(1200, 600, 2, 600, id="bounded"),
        pytest.param(1000, 1000, 2, 1000, id="exactly-the-bound"),
    ],
)
def test_pages_are_read_up_to_the_bound(count: int, most: int, pages: int, kept: int) -> None:
    """Pages of 500 followed by their continue token, never more than `most` read."""
    api: Any = Resources([event(i, "shop") for i in range(count)])
    found = events_cmd.list_events(api, "shop", most=most)
    assert len(found) == kept
    assert len(api.asked) == pages
    assert all(a["limit"] <= 500 for a in api.asked)
    assert sum(a["limit"] for a in api.asked) <= most


def test_the_dashboard_keeps_the_last_events_when_a_read_fails() -> None:
    """A refused cluster-wide list leaves the page drawn with the events read before;
    the reason is logged once, not every 2 s."""
    api: Any = Resources([event(1, "shop")])
    read = dashboard_cmd._ClusterEvents(api, None)
    first = read()
    assert [e.reason for e in first] == ["R1"]
    api.fail = True
    with capture_logs() as logs:
        assert read() == first
        assert read() == first
    assert [(entry["event"], entry["where"]) for entry in logs] == [
        ("events unreadable", "every namespace")
    ]
