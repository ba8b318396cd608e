"""What the CLI prints: the printer-column JSONPath subset, ages, tables, and the
`rollout status` snapshot (DESIGN §7 shape) and exit outcome."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rollout.api import condition, kinds, meta, policyspec, release, revision, route, service
from rollout.api.release import Phase
from rollout.cli import render
from rollout.views import status as status_view

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

# --- jsonpath -----------------------------------------------------------------------

DATA: dict[str, Any] = {
    "metadata": {"name": "web"},
    "status": {
        "stableRevision": "web-00001",
        "weights": {"canary": 0},
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "Ready"},
            {"type": "RoutesReady", "status": "False", "reason": "TrafficNotApplied"},
        ],
        "traffic": [{"revisionName": "web-00001", "percent": 100}],
    },
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param(".status.stableRevision", "web-00001", id="field"),
        pytest.param("status.stableRevision", "web-00001", id="no-leading-dot"),
        pytest.param(".status.weights.canary", 0, id="falsy-value-kept"),
        pytest.param(".status.missing", None, id="missing-field"),
        pytest.param(".status.missing.deeper", None, id="missing-parent"),
        pytest.param(".metadata.name.first", None, id="through-a-string"),
        pytest.param('.status.conditions[?(@.type=="Ready")].status', "True", id="filter"),
        pytest.param(
            '.status.conditions[?(@.type=="RoutesReady")].reason',
            "TrafficNotApplied",
            id="filter-second-item",
        ),
        pytest.param('.status.conditions[?(@.type=="Gone")].status', None, id="filter-no-match"),
        pytest.param('.status.nothing[?(@.type=="Ready")].status', None, id="filter-no-list"),
        pytest.param(
            '.status.traffic[?(@.percent=="100")].revisionName',
            "web-00001",
            id="filter-compares-as-text",
        ),
        pytest.param(
            '.metadata.name[?(@.type=="Ready")].status', None, id="filter-on-a-non-object"
        ),
    ],
)
def test_jsonpath(path: str, expected: Any) -> None:
    """The printer-column subset: `.a.b` and `.list[?(@.f=="v")].g`; None when absent."""
    assert render.jsonpath(DATA, path) == expected


# --- age ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("then", "expected"),
    [
        pytest.param(None, "", id="none"),
        pytest.param(T0, "0s", id="now"),
        pytest.param(T0 - timedelta(seconds=59), "59s", id="seconds"),
        pytest.param(T0 - timedelta(seconds=60), "1m", id="one-minute"),
        pytest.param(T0 - timedelta(minutes=59, seconds=59), "59m", id="minutes-floor"),
        pytest.param(T0 - timedelta(hours=2, minutes=30), "2h", id="hours"),
        pytest.param(T0 - timedelta(days=3, hours=23), "3d", id="days"),
        pytest.param(T0 + timedelta(minutes=5), "0s", id="future-is-zero"),
        pytest.param((T0 - timedelta(minutes=7)).isoformat(), "7m", id="iso-string"),
    ],
)
def test_age(then: datetime | str | None, expected: str) -> None:
    """kubectl-style ages in the largest whole unit."""
    assert render.age(then, T0) == expected


# --- table --------------------------------------------------------------------------


def test_table_aligns_columns_and_uppercases_headers() -> None:
    """Columns padded to the widest cell, three spaces apart, no trailing blanks."""
    text = render.table(
        ["Name", "Phase", "Note"], [["web", "Succeeded", None], ["api-long", "Paused", "x"]]
    )
    assert text.splitlines() == [
        "NAME       PHASE       NOTE",
        "web        Succeeded",
        "api-long   Paused      x",
    ]


def test_table_with_no_rows_is_the_header() -> None:
    """No rows: the header line alone."""
    assert render.table(["Name", "Age"], []) == "NAME   AGE"


def test_table_formats_numbers() -> None:
    """Cells are printed with str()."""
    assert render.table(["N"], [[0], [42]]).splitlines() == ["N", "0", "42"]


def test_resource_table_fills_the_printer_columns() -> None:
    """`rollout get services`: the kind's columns, Ready from the conditions, an age."""
    kind = kinds.lookup("services")
    assert kind is not None
    obj = service.Service.model_validate(
        {
            "metadata": {"name": "web", "creationTimestamp": (T0 - timedelta(hours=3)).isoformat()},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "command": ["app"]}]}}},
            "status": {
                "stableRevision": "web-00001",
                "latestCreatedRevision": "web-00002",
                "currentRelease": "web-00002",
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        }
    )
    assert render.resource_table(kind, [obj], T0).splitlines() == [
        "NAME   STABLE      LATEST      RELEASE     READY   URL   AGE",
        "web    web-00001   web-00002   web-00002   True          3h",
    ]


def test_notices_are_true_conditions_of_revisions_besides_ready() -> None:
    """`web-00001: IgnoredOnLocal: …`: what a runtime says about a revision, one line each."""
    conditions = [
        {"type": "Ready", "status": "True", "reason": "Ready"},
        {"type": "IgnoredOnLocal", "status": "True", "message": "volumes, nodeSelector"},
        {"type": "Other", "status": "False", "message": "not shown"},
    ]
    rev = revision.Revision.model_validate(
        {
            "metadata": {"name": "web-00001"},
            "spec": {
                "service": "web",
                "template": {"spec": {"containers": [{"name": "a", "command": ["x"]}]}},
            },
            "status": {"conditions": conditions},
        }
    )
    assert render.notices([rev]) == ["web-00001: IgnoredOnLocal: volumes, nodeSelector"]
    assert render.notices([]) == []


def test_dump_json_and_yaml() -> None:
    """JSON is indented and parses back; YAML keeps key order."""
    data = {"b": 1, "a": [1, 2]}
    assert json.loads(render.dump(data, "json")) == data
    assert render.dump(data, "yaml") == "b: 1\na:\n- 1\n- 2"


# --- status_view: fixtures ----------------------------------------------------------

POLICY = policyspec.RolloutPolicySpec.model_validate(
    {"steps": [{"setWeight": 10}, {"pause": {}}, {"setWeight": 50}]}
)
READY = condition.Condition(type="Ready", status=condition.ConditionStatus.TRUE, reason="Ready")


def svc(
    *,
    latest: str | None = "web-00002",
    stable: str | None = "web-00001",
    generation: int = 2,
    observed: int | None = 2,
    conditions: list[condition.Condition] | None = None,
    traffic: list[tuple[str, int, str | None]] = (),  # type: ignore[assignment]
) -> service.Service:
    return service.Service.model_validate(
        {
            "metadata": {"name": "web", "namespace": "shop", "generation": generation},
            "spec": {
                "template": {"spec": {"containers": [{"name": "app", "command": ["app"]}]}},
                "policy": "canary",
            },
            "status": {
                "observedGeneration": observed,
                "latestCreatedRevision": latest,
                "stableRevision": stable,
                "traffic": [{"revisionName": r, "percent": p, "tag": t} for r, p, t in traffic],
                "conditions": [
                    c.model_dump(by_alias=True, mode="json") for c in (conditions or [])
                ],
            },
        }
    )


def rel(
    phase: Phase = Phase.PROGRESSING,
    *,
    canary: str = "web-00002",
    step: int = 0,
    analysis: list[release.MetricStatus] | None = None,
    message: str = "",
) -> release.Release:
    return release.Release(
        metadata=meta.ObjectMeta(name=canary, namespace="shop"),
        spec=release.ReleaseSpec(
            service="web", stable_revision="web-00001", canary_revision=canary, policy=POLICY
        ),
        status=release.ReleaseStatus(
            phase=phase,
            step_index=step,
            weights=release.Weights(stable=90, canary=10),
            step_started_at=T0,
            analysis=analysis or [],
            message=message,
        ),
    )


# --- snapshot -----------------------------------------------------------------------


def test_snapshot_has_exactly_the_design_shape() -> None:
    """The `-o json` keys of DESIGN §7 (and `problems`), with the values of the service
    and its release."""
    verdict = release.MetricStatus(
        metric="error-rate",
        verdict=release.Verdict.PASSED,
        value=0.002,
        at=T0,
        reason="0.002 <= 0.01",
    )
    data = status_view.snapshot(
        svc(traffic=[("web-00001", 90, None), ("web-00002", 10, "canary")]),
        rel(analysis=[verdict]),
        T0,
        countdown=False,
    )
    assert data == {
        "service": "web",
        "namespace": "shop",
        "stableRevision": "web-00001",
        "canaryRevision": "web-00002",
        "traffic": [
            {"revision": "web-00001", "percent": 90, "tag": None},
            {"revision": "web-00002", "percent": 10, "tag": "canary"},
        ],
        "release": {
            "name": "web-00002",
            "phase": "Progressing",
            "stepIndex": 0,
            "steps": 3,
            "message": "step 1/3: setWeight 10%, canary 10%",
        },
        "analysis": [
            {
                "metric": "error-rate",
                "verdict": "Passed",
                "value": 0.002,
                "at": T0.isoformat(),
                "reason": "0.002 <= 0.01",
            }
        ],
        "problems": [],
        "headerRoutes": [],
        "mirrors": [],
        "sessionAffinity": None,
    }
    json.dumps(data)  # serialisable as it is


def test_snapshot_without_a_release() -> None:
    """No release: `release` is null, `analysis` empty, no canary."""
    data = status_view.snapshot(
        svc(latest="web-00001", traffic=[("web-00001", 100, None)]), None, T0
    )
    assert data["release"] is None
    assert data["analysis"] == []
    assert data["canaryRevision"] is None
    assert data["traffic"] == [{"revision": "web-00001", "percent": 100, "tag": None}]


def test_snapshot_of_a_finished_release_has_no_canary() -> None:
    """A release that ended shows its phase and message but no canary revision."""
    data = status_view.snapshot(
        svc(), rel(Phase.ROLLED_BACK, message="error-rate failed: 0.2 > 0.01"), T0
    )
    assert data["canaryRevision"] is None
    assert data["release"]["phase"] == "RolledBack"
    assert data["release"]["message"] == "error-rate failed: 0.2 > 0.01"


def test_snapshot_traffic_comes_from_the_route_when_given() -> None:
    """The route's applied split wins over the service's copy."""
    rt = route.Route.model_validate(
        {
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"service": "web"},
            "status": {"traffic": [{"revisionName": "web-00002", "percent": 100}]},
        }
    )
    data = status_view.snapshot(svc(traffic=[("web-00001", 100, None)]), None, T0, rt=rt)
    assert data["traffic"] == [{"revision": "web-00002", "percent": 100, "tag": None}]


def test_snapshot_analysis_without_a_reading_yet() -> None:
    """A metric not measured yet has null verdict, value and time."""
    data = status_view.snapshot(svc(), rel(analysis=[release.MetricStatus(metric="p99")]), T0)
    assert data["analysis"] == [
        {"metric": "p99", "verdict": None, "value": None, "at": None, "reason": ""}
    ]


def test_line_is_one_line_per_state() -> None:
    """Service, non-zero split, then release name, phase, step and message."""
    data = status_view.snapshot(
        svc(traffic=[("web-00001", 90, None), ("web-00002", 10, None), ("web-00003", 0, "t")]),
        rel(),
        T0,
        countdown=False,
    )
    assert status_view.line(data) == (
        "web: web-00001 90%, web-00002 10% | web-00002 Progressing:"
        " step 1/3: setWeight 10%, canary 10%"
    )


# --- outcome ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service_", "release_", "expected"),
    [
        pytest.param(svc(observed=1), rel(Phase.SUCCEEDED), None, id="service-not-observed-yet"),
        pytest.param(svc(observed=None), None, None, id="service-never-observed"),
        pytest.param(svc(latest=None), None, None, id="no-revision-yet"),
        pytest.param(svc(stable="web-00002"), rel(Phase.SUCCEEDED), 0, id="release-succeeded"),
        pytest.param(
            svc(stable="web-00001"), rel(Phase.SUCCEEDED), None, id="succeeded-not-yet-stable"
        ),
        pytest.param(svc(), rel(Phase.ROLLED_BACK), 1, id="rolled-back"),
        pytest.param(svc(), rel(Phase.ABORTED), 1, id="aborted"),
        pytest.param(svc(), rel(Phase.FAILED), 1, id="failed"),
        pytest.param(svc(), rel(Phase.SUPERSEDED), 1, id="superseded"),
        pytest.param(svc(), rel(Phase.PROGRESSING), None, id="progressing"),
        pytest.param(svc(), rel(Phase.PAUSED), None, id="paused"),
        pytest.param(svc(), rel(Phase.ROLLING_BACK), None, id="rolling-back-not-over"),
        pytest.param(
            svc(latest="web-00003", stable="web-00001"),
            rel(Phase.ROLLED_BACK, canary="web-00002"),
            None,
            id="older-revision-rolled-back-does-not-count",
        ),
        pytest.param(
            svc(latest="web-00003", stable="web-00002"),
            rel(Phase.SUCCEEDED, canary="web-00002"),
            None,
            id="older-revision-succeeded-does-not-count",
        ),
        pytest.param(
            svc(latest="web-00001", stable="web-00001", conditions=[READY]),
            None,
            0,
            id="immediate-rollout-done",
        ),
        pytest.param(
            svc(latest="web-00001", stable="web-00001"), None, None, id="stable-but-not-ready"
        ),
        pytest.param(
            svc(latest="web-00002", stable="web-00001", conditions=[READY]),
            None,
            None,
            id="ready-on-the-old-revision",
        ),
        pytest.param(
            svc(
                conditions=[
                    condition.Condition(
                        type="RevisionsReady",
                        status=condition.ConditionStatus.FALSE,
                        reason="ProgressDeadlineExceeded",
                    )
                ]
            ),
            None,
            1,
            id="readiness-deadline-exceeded",
        ),
    ],
)
def test_outcome(
    service_: service.Service, release_: release.Release | None, expected: int | None
) -> None:
    """0 when the latest revision is rolled out, 1 when its rollout ended otherwise."""
    assert status_view.outcome(service_, release_) == expected
