"""`rollout status` says why (issue 19, "Status hides the cause"), through click on a
SQLite state dir seeded with what the controller writes: the problems under the
service, in `-o json`, `--watch` exiting 1 when the service can make no progress, the
controller's heartbeat, READY of `get services`, and the stored events shown by
`status`, `history` and `rollout events`."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner, Result

from rollout.api import revision, route, service
from rollout.cli import main
from rollout.store import eventlog, factory, heartbeat, sqlite

TEMPLATE = {"spec": {"containers": [{"name": "app", "command": ["app"]}]}}


@pytest.fixture
def state(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "state"


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROLLOUT_USER", "alice")
    monkeypatch.delenv(factory.STATE_DIR_ENV, raising=False)


@pytest.fixture
def store(state: pathlib.Path) -> Iterator[sqlite.SqliteStore]:
    state.mkdir(parents=True, exist_ok=True)
    opened = sqlite.SqliteStore(state / factory.DB_FILE)
    yield opened
    opened.close()


def rollout(state: pathlib.Path, *args: str) -> Result:
    return CliRunner().invoke(main.cli, [*args, "--state-dir", str(state)])


def now() -> datetime:
    return datetime.now(UTC)


def beat(state: pathlib.Path, age: float = 0.0) -> None:
    """A controller's heartbeat `age` seconds old."""
    heartbeat.write(state, now=now() - timedelta(seconds=age))


def cond(type_: str, status: str, reason: str, message: str = "") -> dict[str, Any]:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": 1,
    }


def seed(
    store: sqlite.SqliteStore,
    *,
    service_conditions: list[dict[str, Any]],
    spec: dict[str, Any] | None = None,
    revisions: dict[str, list[dict[str, Any]]] | None = None,
    route_conditions: list[dict[str, Any]] | None = None,
    stable: str | None = None,
) -> None:
    """A Service `web` (latest revision web-00001) with these conditions, its revisions
    and its Route."""
    made = store.create(
        service.Service.model_validate(
            {"metadata": {"name": "web"}, "spec": spec or {"template": TEMPLATE}}
        )
    )
    store.update_status(
        made.model_copy(
            update={
                "status": service.ServiceStatus.model_validate(
                    {
                        "observedGeneration": 1,
                        "latestCreatedRevision": "web-00001",
                        "stableRevision": stable,
                        "conditions": service_conditions,
                    }
                )
            }
        )
    )
    for name, conditions in (revisions or {}).items():
        rev = store.create(
            _revision(name),
        )
        store.update_status(
            rev.model_copy(update={"status": rev.status.model_validate({"conditions": conditions})})
        )
    if route_conditions is not None:
        rt = store.create(
            route.Route.model_validate({"metadata": {"name": "web"}, "spec": {"service": "web"}})
        )
        store.update_status(
            rt.model_copy(
                update={
                    "status": route.RouteStatus.model_validate({"conditions": route_conditions})
                }
            )
        )


def _revision(name: str) -> revision.Revision:
    return revision.Revision.model_validate(
        {
            "metadata": {"name": name, "labels": {"rollout.dev/service": "web"}},
            "spec": {"service": "web", "template": TEMPLATE},
        }
    )


MISSING_POLICY = cond("Ready", "False", "PolicyNotFound", "RolloutPolicy 'nope' does not exist")
CRASH = "exited with code 3 after 5 restarts; last log lines:\nboom"


# --- one line per problem -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seeded", "expected"),
    [
        pytest.param(
            {"service_conditions": [MISSING_POLICY]},
            "Service/web: PolicyNotFound: RolloutPolicy 'nope' does not exist",
            id="policy-not-found",
        ),
        pytest.param(
            {
                "service_conditions": [cond("Ready", "False", "CrashLoop", "web-00001: ...")],
                "revisions": {"web-00001": [cond("Ready", "False", "CrashLoop", CRASH)]},
            },
            "Revision/web-00001: CrashLoop: exited with code 3 after 5 restarts",
            id="revision-crash-looping",
        ),
        pytest.param(
            {
                "service_conditions": [cond("Ready", "True", "Ready")],
                "route_conditions": [
                    cond(
                        "ReconcileError",
                        "True",
                        "ProxyError",
                        "cannot listen on 127.0.0.1:8080: Address already in use",
                    )
                ],
            },
            "Route/web: ProxyError: cannot listen on 127.0.0.1:8080: Address already in use",
            id="port-in-use",
        ),
        pytest.param(
            {
                "service_conditions": [
                    cond("Ready", "False", "RevisionMissing", "spec.traffic names web-00009")
                ],
            },
            "Service/web: RevisionMissing: spec.traffic names web-00009",
            id="revision-missing-from-a-split",
        ),
        pytest.param(
            {
                "service_conditions": [cond("Ready", "True", "Ready")],
                "route_conditions": [cond("Ready", "False", "ProxyDown", "connection refused")],
            },
            "Route/web: ProxyDown: connection refused",
            id="proxy-down",
        ),
    ],
)
def test_status_prints_each_problem_and_json_carries_it(
    state: pathlib.Path, store: sqlite.SqliteStore, seeded: dict[str, Any], expected: str
) -> None:
    """The cause is under the service (not only in `get … -o yaml`), and in `-o json`."""
    seed(store, **seeded)
    beat(state)
    shown = rollout(state, "status", "web")
    assert shown.exit_code == 0, shown.output
    assert expected in " ".join(shown.stdout.split())
    data = json.loads(rollout(state, "status", "web", "-o", "json").stdout)
    texts = [f"{p['source']}: {p['reason']}: {p['message']}" for p in data["problems"]]
    assert any(t.startswith(expected) for t in texts), texts
    assert all(set(p) == {"source", "reason", "message"} for p in data["problems"])


@pytest.mark.parametrize(
    ("seeded", "reason"),
    [
        pytest.param({"service_conditions": [MISSING_POLICY]}, "PolicyNotFound", id="policy"),
        pytest.param(
            {
                "service_conditions": [cond("Ready", "False", "CrashLoop", "web-00001: ...")],
                "revisions": {"web-00001": [cond("Ready", "False", "CrashLoop", CRASH)]},
            },
            "CrashLoop",
            id="crash-loop",
        ),
        pytest.param(
            {"service_conditions": [cond("Ready", "False", "RevisionMissing", "web-00009")]},
            "RevisionMissing",
            id="revision-missing",
        ),
        pytest.param(
            {"service_conditions": [cond("Ready", "False", "InvalidSpec", "spec.port: ...")]},
            "InvalidSpec",
            id="invalid-spec",
        ),
    ],
)
@pytest.mark.parametrize("output", ["table", "json"])
def test_watch_exits_1_when_no_progress_can_be_made(
    state: pathlib.Path,
    store: sqlite.SqliteStore,
    seeded: dict[str, Any],
    reason: str,
    output: str,
) -> None:
    """`--watch` does not wait for its timeout: exit 1 with the reason, one line."""
    seed(store, **seeded)
    beat(state)
    result = rollout(state, "status", "web", "--watch", "--timeout", "1m", "-o", output)
    assert result.exit_code == 1, result.output
    (last,) = result.stderr.splitlines()
    assert last.startswith("web: can make no progress: ")
    assert f": {reason}" in last
    if output == "json":
        data = json.loads(result.stdout.splitlines()[-1])
        assert reason in [p["reason"] for p in data["problems"]]
    else:
        assert reason in result.stdout  # printed as it appeared


def test_a_restarting_revision_is_shown_but_does_not_end_the_watch(
    state: pathlib.Path, store: sqlite.SqliteStore
) -> None:
    """Not failed yet (the runtime restarts it): shown, and the watch goes on."""
    seed(
        store,
        service_conditions=[cond("Ready", "Unknown", "Restarting", "web-00001: exited")],
        revisions={"web-00001": [cond("Ready", "Unknown", "Restarting", "exited with code 1")]},
    )
    beat(state)
    result = rollout(state, "status", "web", "--watch", "--timeout", "1s")
    assert result.exit_code == 1
    assert "Revision/web-00001: Restarting: exited with code 1" in result.stdout
    assert result.stderr == "timed out after 1s waiting for web\n"


# --- the controller's heartbeat -------------------------------------------------------------


def test_no_heartbeat_warns_that_no_controller_is_seen(
    state: pathlib.Path, store: sqlite.SqliteStore
) -> None:
    seed(store, service_conditions=[cond("Ready", "True", "Ready")])
    data = json.loads(rollout(state, "status", "web", "-o", "json").stdout)
    assert [(p["source"], p["reason"]) for p in data["problems"]] == [
        ("controller", "NoController")
    ]
    assert data["problems"][0]["message"].startswith(
        f"no controller seen (no heartbeat in {state})"
    )


@pytest.mark.parametrize(
    ("age", "warned"),
    [
        pytest.param(0.0, False, id="fresh"),
        pytest.param(heartbeat.PERIOD * heartbeat.STALE_BEATS + 5, True, id="stale"),
    ],
)
def test_a_stale_heartbeat_warns_with_its_age(
    state: pathlib.Path, store: sqlite.SqliteStore, age: float, warned: bool
) -> None:
    """Older than 3 heartbeat periods (6 s): "no controller seen for Ns"."""
    seed(store, service_conditions=[cond("Ready", "True", "Ready")])
    beat(state, age)
    result = rollout(state, "status", "web")
    assert result.exit_code == 0
    assert ("no controller seen for" in result.stdout) is warned


def test_watch_without_a_controller_exits_1_after_the_grace(
    state: pathlib.Path, store: sqlite.SqliteStore
) -> None:
    """`--watch` with no controller does not print `no traffic` forever."""
    seed(store, service_conditions=[cond("Ready", "Unknown", "RevisionPending", "starting")])
    beat(state, 120)
    result = rollout(state, "status", "web", "--watch", "--timeout", "1m")
    assert result.exit_code == 1
    assert result.stderr.startswith("web: can make no progress: controller: NoController")
    assert "no controller seen for 12" in result.stderr


# --- READY of get services --------------------------------------------------------------------


def test_get_services_ready_is_false_while_the_proxy_is_down(
    state: pathlib.Path, store: sqlite.SqliteStore
) -> None:
    """The Service's own Ready says True, its Route says ProxyDown: READY False."""
    seed(
        store,
        service_conditions=[cond("Ready", "True", "Ready")],
        route_conditions=[cond("Ready", "False", "ProxyDown", "connection refused")],
    )
    result = rollout(state, "get", "services")
    assert result.exit_code == 0, result.output
    header, row = result.stdout.splitlines()
    at = header.index("READY")  # the columns are aligned: the cell starts under its header
    assert row[at:].split()[0] == "False"


# --- events -----------------------------------------------------------------------------------


def journal(state: pathlib.Path) -> None:
    at = now() - timedelta(seconds=30)
    kept = eventlog.Journal(state)
    for i, (kind, name, reason, warning) in enumerate(
        [
            ("Service", "web", "RevisionCreated", False),
            ("Revision", "web-00001", "CrashLoop", True),
            ("Service", "api", "RevisionCreated", False),
        ]
    ):
        kept.record(
            eventlog.Event(
                kind,
                "default",
                name,
                reason,
                f"{reason} of {name}",
                warning,
                at + timedelta(seconds=i),
            )
        )


def test_events_lists_a_services_events(state: pathlib.Path, store: sqlite.SqliteStore) -> None:
    """`rollout events web`: the events of web and its children, oldest first."""
    journal(state)
    result = rollout(state, "events", "web")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["LAST", "SEEN", "TYPE", "OBJECT", "REASON", "MESSAGE"]
    assert [line.split()[1:4] for line in lines[1:]] == [
        ["Normal", "Service/web", "RevisionCreated"],
        ["Warning", "Revision/web-00001", "CrashLoop"],
    ]
    every = json.loads(rollout(state, "events", "-o", "json").stdout)
    assert [e["name"] for e in every] == ["web", "web-00001", "api"]
    none = rollout(state, "events", "nothing")
    assert (none.exit_code, none.stderr) == (
        0,
        "No events of service 'nothing' in namespace default.\n",
    )


def test_status_and_history_show_the_last_events(
    state: pathlib.Path, store: sqlite.SqliteStore
) -> None:
    seed(store, service_conditions=[cond("Ready", "True", "Ready")])
    beat(state)
    journal(state)
    status = rollout(state, "status", "web")
    assert "CrashLoop of web-00001" in status.stdout
    assert "api" not in status.stdout
    history = rollout(state, "history", "web")
    assert history.exit_code == 0, history.output
    assert "CrashLoop of web-00001" in history.stdout
