"""Step numbers count from 1 wherever a person reads them (issue 19: `get releases`
and `-o json` counted from 0, `status` from 1): a release the engine left paused at
its second step (`stepIndex: 1`, the API index) reads "2/3" in `get releases`, in
`status`, in its message and in `history`; the stored object keeps `stepIndex` and
carries `step` beside it."""

from __future__ import annotations

import json
import pathlib
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner, Result

from rollout.api import meta, policyspec, release, rolloutpolicy, service
from rollout.api.release import Phase
from rollout.cli import main
from rollout.reconcilers.service import builders
from rollout.release import engine, observation, steps
from rollout.store import factory, sqlite

T0 = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = policyspec.RolloutPolicySpec.model_validate(
    {"steps": [{"setWeight": 10}, {"pause": {}}, {"setWeight": 50}]}
)


@pytest.fixture
def state(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    """A state dir where the engine took `web`'s release to the pause at step 2 of 3."""
    monkeypatch.delenv(factory.STATE_DIR_ENV, raising=False)
    path = tmp_path / "state"
    path.mkdir()
    store = sqlite.SqliteStore(path / factory.DB_FILE)
    try:
        svc = store.create(
            service.Service.model_validate(
                {
                    "metadata": {"name": "web"},
                    "spec": {
                        "template": {"spec": {"containers": [{"name": "a", "command": ["a"]}]}},
                        "policy": "gate",
                    },
                }
            )
        )
        assert isinstance(svc, service.Service)
        policy = rolloutpolicy.RolloutPolicy(metadata=meta.ObjectMeta(name="gate"), spec=POLICY)
        rel = store.create(
            builders.make_release(svc, policy, stable="web-00001", canary="web-00002", attempt=1)
        )
        assert isinstance(rel, release.Release)
        status = rel.status
        for seconds, applied in ((0, None), (1, steps.weights(10))):  # start, then the pause
            obs = observation.Observation(
                now=T0 + timedelta(seconds=seconds), canary_ready=True, applied=applied
            )
            status = engine.decide(rel.spec, status, obs).status
        assert (status.phase, status.step_index) == (Phase.PAUSED, 1)
        store.update_status(rel.model_copy(update={"status": status}))
        store.update_status(
            svc.model_copy(
                update={
                    "status": service.ServiceStatus(
                        stable_revision="web-00001", current_release=rel.metadata.name
                    )
                }
            )
        )
    finally:
        store.close()
    return path


def rollout(state: pathlib.Path, *args: str) -> Result:
    result = CliRunner().invoke(main.cli, [*args, "--state-dir", str(state)])
    assert result.exit_code == 0, result.output
    return result


def test_get_releases_step_column_counts_from_1(state: pathlib.Path) -> None:
    """The STEP column reads `2/3` for stepIndex 1."""
    header, row = rollout(state, "get", "releases").stdout.splitlines()
    cells = dict(zip(header.split(), row.split(), strict=False))
    assert cells["STEP"] == "2/3"
    assert cells["PHASE"] == "Paused"


def test_stored_object_keeps_step_index_and_carries_step(state: pathlib.Path) -> None:
    """`-o json` of the stored Release: the API's stepIndex (0-based), and step (1-based)."""
    data = json.loads(rollout(state, "get", "rrel", "web-00002", "-o", "json").stdout)
    assert (data["status"]["stepIndex"], data["status"]["step"]) == (1, "2/3")


def test_status_message_and_history_count_from_1(state: pathlib.Path) -> None:
    """`status`, the release's message and `history` all say step 2."""
    assert "step 2/3" in rollout(state, "status", "web").stdout
    history = rollout(state, "history", "web", "--release", "web-00002").stdout
    entries = history.split("\nweb-00002:\n", 1)[1]  # under the releases: its entries
    header, *rows = entries.splitlines()
    step = header.split().index("STEP")
    assert [r.split()[step] for r in rows if "WaitingForPromotion" in r] == ["2"]
