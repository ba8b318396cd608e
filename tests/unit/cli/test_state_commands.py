"""The state-touching commands through click, on a SQLite state dir: `apply`, `get`,
`status -o json` and the release commands, their output and exit codes (DESIGN §7)."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner, Result

from rollout.api import meta, names, policyspec, release, rolloutpolicy, service
from rollout.api.release import Phase
from rollout.cli import main
from rollout.reconcilers.service import builders
from rollout.store import factory, sqlite

POLICY = """\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata:
  name: gate
spec:
  steps:
    - setWeight: 10
    - pause: {}
    - setWeight: 50
"""

SERVICE = """\
apiVersion: rollout.dev/v1alpha1
kind: Service
metadata:
  name: web
spec:
  policy: gate
  template:
    spec:
      containers:
        - name: app
          command: [app]
          env: [{name: VERSION, value: VERSION_HERE}]
"""

INVALID = """\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata:
  name: broken
spec:
  steps:
    - setWeight: 10
    - setWeight: 150
"""

REVISION = """\
apiVersion: rollout.dev/v1alpha1
kind: Revision
metadata:
  name: web-00001
spec:
  service: web
  template:
    spec:
      containers:
        - name: app
          command: [app]
"""


@pytest.fixture
def state(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "state"


@pytest.fixture(autouse=True)
def _user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROLLOUT_USER", "alice")
    monkeypatch.delenv(factory.STATE_DIR_ENV, raising=False)


def write(tmp_path: pathlib.Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def rollout(state: pathlib.Path, *args: str) -> Result:
    return CliRunner().invoke(main.cli, [*args, "--state-dir", str(state)])


@pytest.fixture
def store(state: pathlib.Path) -> Iterator[sqlite.SqliteStore]:
    state.mkdir(parents=True, exist_ok=True)
    opened = sqlite.SqliteStore(state / factory.DB_FILE)
    yield opened
    opened.close()


def service_text(version: str = "v1") -> str:
    return SERVICE.replace("VERSION_HERE", version)


# --- apply --------------------------------------------------------------------------


def test_apply_creates_then_reports_unchanged_then_configured(
    tmp_path: pathlib.Path, state: pathlib.Path
) -> None:
    """One line per resource: created, unchanged when the same, configured on a change."""
    policy = write(tmp_path, "policy.yaml", POLICY)
    svc = write(tmp_path, "svc.yaml", service_text())
    first = rollout(state, "apply", "-f", svc, "-f", policy)
    assert first.exit_code == 0, first.output
    # Policies first, so a service can name a policy from the same call.
    assert first.stdout.splitlines() == ["rolloutpolicy/gate created", "service/web created"]
    again = rollout(state, "apply", "-f", policy, "-f", svc)
    assert again.stdout.splitlines() == ["rolloutpolicy/gate unchanged", "service/web unchanged"]
    changed = write(tmp_path, "svc.yaml", service_text("v2"))
    third = rollout(state, "apply", "-f", changed)
    assert third.exit_code == 0
    assert third.stdout.splitlines() == ["service/web configured"]


def test_apply_bumps_the_generation_only_on_a_change(
    tmp_path: pathlib.Path, state: pathlib.Path, store: sqlite.SqliteStore
) -> None:
    """unchanged writes nothing; configured is a spec update."""
    write(tmp_path, "policy.yaml", POLICY)
    rollout(state, "apply", "-f", str(tmp_path / "policy.yaml"))
    svc = write(tmp_path, "svc.yaml", service_text())
    rollout(state, "apply", "-f", svc)
    rollout(state, "apply", "-f", svc)
    assert store.get("Service", "default", "web").metadata.generation == 1
    rollout(state, "apply", "-f", write(tmp_path, "svc.yaml", service_text("v2")))
    assert store.get("Service", "default", "web").metadata.generation == 2


def test_apply_records_the_directory_of_a_services_file(
    tmp_path: pathlib.Path,
    state: pathlib.Path,
    store: sqlite.SqliteStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The file's directory, absolute, in the source-dir annotation; applying the same
    file from elsewhere updates it without a new generation; a file's own is kept."""
    rollout(state, "apply", "-f", write(tmp_path, "policy.yaml", POLICY))
    first = tmp_path / "one"
    first.mkdir()
    write(first, "svc.yaml", service_text())
    monkeypatch.chdir(tmp_path)
    assert rollout(state, "apply", "-f", "one/svc.yaml").stdout == "service/web created\n"
    svc = store.get("Service", "default", "web")
    assert svc.metadata.annotations == {names.SOURCE_DIR_ANNOTATION: str(first)}
    assert store.get("RolloutPolicy", "default", "gate").metadata.annotations == {}
    moved = write(tmp_path, "svc.yaml", service_text())
    assert rollout(state, "apply", "-f", moved).stdout == "service/web configured\n"
    svc = store.get("Service", "default", "web")
    assert svc.metadata.annotations == {names.SOURCE_DIR_ANNOTATION: str(tmp_path)}
    assert svc.metadata.generation == 1
    own = service_text().replace(
        "  name: web\n",
        f"  name: web\n  annotations: {{{names.SOURCE_DIR_ANNOTATION}: /opt/web}}\n",
    )
    rollout(state, "apply", "-f", write(tmp_path, "svc.yaml", own))
    svc = store.get("Service", "default", "web")
    assert svc.metadata.annotations == {names.SOURCE_DIR_ANNOTATION: "/opt/web"}


def test_apply_an_invalid_file_stores_nothing(
    tmp_path: pathlib.Path, state: pathlib.Path, store: sqlite.SqliteStore
) -> None:
    """Exit 2, `PATH:LINE: FIELD: message` on stderr, and the valid file is not applied."""
    good = write(tmp_path, "svc.yaml", service_text())
    bad = write(tmp_path, "broken.yaml", INVALID)
    result = rollout(state, "apply", "-f", good, "-f", bad)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines == [
        f"{bad}:8: spec.steps[1].setWeight: must be between 0 and 100 (got 150)",
        "error: 1 problem(s) found; nothing applied",
    ]
    assert store.list("Service").items == []
    assert store.list("RolloutPolicy").items == []


def test_apply_a_revision_is_refused(
    tmp_path: pathlib.Path, state: pathlib.Path, store: sqlite.SqliteStore
) -> None:
    """Revisions belong to the controller: exit 2, a line saying what to apply, and the
    valid service next to it is not applied either."""
    path = write(tmp_path, "rev.yaml", REVISION)
    good = write(tmp_path, "svc.yaml", service_text())
    result = rollout(state, "apply", "-f", good, "-f", path)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        f"{path}:1: kind: Revision is managed by the controller;"
        " apply a Service (or a RolloutPolicy) instead"
    )
    assert store.list("Revision").items == []
    assert store.list("Service").items == []


def test_apply_a_missing_file(tmp_path: pathlib.Path, state: pathlib.Path) -> None:
    """A path that does not exist is a usage problem."""
    result = rollout(state, "apply", "-f", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2
    assert f"{tmp_path / 'nope.yaml'}: no such file" in result.stderr


# --- get ----------------------------------------------------------------------------


@pytest.fixture
def applied(tmp_path: pathlib.Path, state: pathlib.Path) -> None:
    policy = write(tmp_path, "policy.yaml", POLICY)
    result = rollout(state, "apply", "-f", policy, "-f", write(tmp_path, "s.yaml", service_text()))
    assert result.exit_code == 0, result.output


@pytest.mark.usefixtures("applied")
@pytest.mark.parametrize("kind", ["services", "service", "rsvc", "Service"])
def test_get_services_table(state: pathlib.Path, kind: str) -> None:
    """The printer columns, one row per service, under any alias of the kind."""
    result = rollout(state, "get", kind)
    assert result.exit_code == 0
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["NAME", "STABLE", "LATEST", "RELEASE", "READY", "URL", "AGE"]
    assert [r.split()[0] for r in rows] == ["web"]


@pytest.mark.usefixtures("applied")
def test_get_services_json(state: pathlib.Path) -> None:
    """`-o json`: a list of resources in their API shape."""
    result = rollout(state, "get", "services", "-o", "json")
    assert result.exit_code == 0
    (data,) = json.loads(result.stdout)
    assert data["kind"] == "Service"
    assert data["metadata"]["name"] == "web"
    assert data["metadata"]["namespace"] == "default"
    assert data["spec"]["policy"] == "gate"


@pytest.mark.usefixtures("applied")
def test_get_one_by_name_json(state: pathlib.Path) -> None:
    """With a name, one object rather than a list."""
    result = rollout(state, "get", "rpol", "gate", "-o", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["metadata"]["name"] == "gate"


def test_get_nothing_says_so(state: pathlib.Path) -> None:
    """An empty list is not an error; the note goes to stderr."""
    result = rollout(state, "get", "services")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr.strip() == "No services in namespace default."


def test_get_an_unknown_kind_exits_2(state: pathlib.Path) -> None:
    """A usage error names the known kinds."""
    result = rollout(state, "get", "nonsense")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: unknown kind 'nonsense'; known: services")


@pytest.mark.usefixtures("store")  # a state, without the service
def test_get_a_missing_name_exits_1(state: pathlib.Path) -> None:
    """A name that does not exist: one line, exit 1."""
    result = rollout(state, "get", "services", "web")
    assert result.exit_code == 1
    assert result.stderr == "error: service 'web' not found in namespace default\n"


# --- release commands ---------------------------------------------------------------


def seed_release(
    store: sqlite.SqliteStore, phase: Phase, *, step: int = 0, **status: Any
) -> release.Release:
    """A Service `web` whose current release (web-00002) is in `phase`."""
    svc = store.create(
        service.Service.model_validate(
            {
                "metadata": {"name": "web"},
                "spec": {
                    "template": {"spec": {"containers": [{"name": "app", "command": ["app"]}]}},
                    "policy": "gate",
                },
            }
        )
    )
    assert isinstance(svc, service.Service)
    policy = policyspec.RolloutPolicySpec.model_validate(
        {"steps": [{"setWeight": 10}, {"pause": {}}, {"setWeight": 50}]}
    )
    made = builders.make_release(
        svc,
        rolloutpolicy.RolloutPolicy(metadata=meta.ObjectMeta(name="gate"), spec=policy),
        stable="web-00001",
        canary="web-00002",
        attempt=1,
    )
    created = store.create(made)
    rel = store.update_status(
        created.model_copy(
            update={"status": release.ReleaseStatus(phase=phase, step_index=step, **status)}
        )
    )
    store.update_status(
        svc.model_copy(
            update={
                "status": service.ServiceStatus(
                    observed_generation=1,
                    latest_created_revision="web-00002",
                    stable_revision="web-00001",
                    current_release="web-00002",
                )
            }
        )
    )
    assert isinstance(rel, release.Release)
    return rel


def stored_release(store: sqlite.SqliteStore) -> release.Release:
    rel = store.get("Release", "default", "web-00002")
    assert isinstance(rel, release.Release)
    return rel


@pytest.mark.usefixtures("store")  # a state, without the service
def test_promote_without_a_service_exits_1_with_one_line(state: pathlib.Path) -> None:
    """No service: exit 1 and one clear line on stderr, nothing on stdout."""
    result = rollout(state, "promote", "web")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == "error: service 'web' not found in namespace default\n"


@pytest.mark.usefixtures("applied")
def test_promote_with_no_release_yet_exits_1(state: pathlib.Path) -> None:
    """A service the controller has not released yet."""
    result = rollout(state, "promote", "web")
    assert result.exit_code == 1
    assert result.stderr == "error: service 'web' has no release yet\n"


def test_promote_a_paused_release_writes_the_intent(
    state: pathlib.Path, store: sqlite.SqliteStore
) -> None:
    """Exit 0, one confirmation line, and the request in the release's spec."""
    seed_release(store, Phase.PAUSED, step=1, pause_reason="promotion")
    result = rollout(state, "promote", "web")
    assert result.exit_code == 0, result.output
    assert result.stdout == "release web-00002: promotion from step 2 requested\n"
    request = stored_release(store).spec.promote
    assert request is not None
    assert (request.from_step, request.full, request.requested_by) == (1, False, "alice")


@pytest.mark.parametrize(
    ("phase", "args", "message"),
    [
        pytest.param(
            Phase.PROGRESSING,
            ["promote", "web"],
            "nothing to promote: release web-00002 is Progressing, not paused"
            " (use --full to promote all the way now)",
            id="promote-not-paused",
        ),
        pytest.param(
            Phase.SUCCEEDED,
            ["abort", "web"],
            "cannot abort: release web-00002 has finished (Succeeded)",
            id="abort-finished",
        ),
        pytest.param(
            Phase.SUCCEEDED,
            ["retry", "web"],
            "nothing to retry: release web-00002 is Succeeded",
            id="retry-succeeded",
        ),
        pytest.param(
            Phase.PAUSED,
            ["resume", "web"],
            "release web-00002 waits at a pause step: use `rollout promote`",
            id="resume-at-a-pause-step",
        ),
    ],
)
def test_a_command_that_does_not_apply_exits_1_and_writes_nothing(
    state: pathlib.Path, store: sqlite.SqliteStore, phase: Phase, args: list[str], message: str
) -> None:
    """The reason on one stderr line; the release is left as it was."""
    before = seed_release(store, phase, pause_reason="promotion" if phase is Phase.PAUSED else None)
    result = rollout(state, *args)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == f"error: {message}\n"
    assert stored_release(store).metadata.resource_version == before.metadata.resource_version


@pytest.mark.parametrize(
    ("phase", "args", "confirmation", "field"),
    [
        pytest.param(
            Phase.PROGRESSING,
            ["promote", "web", "--full"],
            "full promotion requested",
            "promote",
            id="promote-full",
        ),
        pytest.param(
            Phase.PROGRESSING,
            ["abort", "web"],
            "abort requested; traffic goes back to web-00001",
            "abort",
            id="abort",
        ),
        pytest.param(Phase.PROGRESSING, ["pause", "web"], "pause requested", "paused", id="pause"),
        pytest.param(Phase.ROLLED_BACK, ["retry", "web"], "retry requested", "retry", id="retry"),
    ],
)
def test_a_command_that_applies_confirms_in_one_line(
    state: pathlib.Path,
    store: sqlite.SqliteStore,
    phase: Phase,
    args: list[str],
    confirmation: str,
    field: str,
) -> None:
    """Exit 0, `release NAME: …`, and the intent in the spec."""
    seed_release(store, phase)
    result = rollout(state, *args)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"release web-00002: {confirmation}\n"
    assert getattr(stored_release(store).spec, field)


@pytest.mark.parametrize(
    ("phase", "args", "first", "again"),
    [
        pytest.param(
            Phase.PROGRESSING,
            ["abort", "web"],
            "abort requested; traffic goes back to web-00001",
            "already aborting; traffic goes back to web-00001",
            id="abort",
        ),
        pytest.param(
            Phase.PROGRESSING,
            ["pause", "web"],
            "pause requested",
            "pause already requested",
            id="pause",
        ),
        pytest.param(
            Phase.PAUSED,
            ["resume", "web"],
            "resume requested",
            "resume already requested by alice",
            id="resume",
        ),
        pytest.param(
            Phase.PROGRESSING,
            ["promote", "web", "--full"],
            "full promotion requested",
            "full promotion already requested by alice",
            id="promote-full",
        ),
        pytest.param(
            Phase.PAUSED,
            ["promote", "web"],
            "promotion from step 2 requested",
            "promotion from step 2 already requested by alice",
            id="promote",
        ),
    ],
)
def test_a_repeated_command_exits_0_says_already_and_writes_nothing(
    state: pathlib.Path,
    store: sqlite.SqliteStore,
    phase: Phase,
    args: list[str],
    first: str,
    again: str,
) -> None:
    """Issue 19: a command repeated before the controller acted keeps its word: exit 0,
    `already …`, the release as the first one left it (safe under `set -e`)."""
    reason = "inconclusive" if args[0] == "resume" else "promotion"
    seed_release(store, phase, step=1, pause_reason=reason if phase is Phase.PAUSED else None)
    once = rollout(state, *args)
    assert (once.exit_code, once.stdout) == (0, f"release web-00002: {first}\n"), once.output
    written = stored_release(store)
    twice = rollout(state, *args)
    assert (twice.exit_code, twice.stdout, twice.stderr) == (
        0,
        f"release web-00002: {again}\n",
        "",
    )
    assert stored_release(store).metadata.resource_version == written.metadata.resource_version


@pytest.mark.parametrize(
    ("phase", "args", "message"),
    [
        pytest.param(
            Phase.ABORTED, ["abort", "web"], "already aborted; traffic is on web-00001", id="abort"
        ),
        pytest.param(
            Phase.SUCCEEDED,
            ["promote", "web", "--full"],
            "already promoted: web-00002 takes 100%",
            id="promote-full",
        ),
        pytest.param(
            Phase.PROGRESSING,
            ["resume", "web"],
            "already running: the release is Progressing, not paused",
            id="resume",
        ),
    ],
)
def test_a_command_whose_intent_was_carried_out_exits_0(
    state: pathlib.Path, store: sqlite.SqliteStore, phase: Phase, args: list[str], message: str
) -> None:
    """Issue 19: after the controller acted, the same command says `already …`, exit 0."""
    before = seed_release(store, phase)
    result = rollout(state, *args)
    assert (result.exit_code, result.stdout) == (0, f"release web-00002: {message}\n")
    assert stored_release(store).metadata.resource_version == before.metadata.resource_version


def test_promote_step_names_the_step_as_status_numbers_it(
    state: pathlib.Path, store: sqlite.SqliteStore
) -> None:
    """`--step N` counts from 1: at it, written with fromStep N-1; past it, exit 0;
    not there yet, exit 1."""
    seed_release(store, Phase.PAUSED, step=1, pause_reason="promotion")
    early = rollout(state, "promote", "web", "--step", "3")
    assert (early.exit_code, early.stderr) == (
        1,
        "error: release web-00002 is at step 2/3, not yet at step 3\n",
    )
    past = rollout(state, "promote", "web", "--step", "1")
    assert (past.exit_code, past.stdout) == (
        0,
        "release web-00002: already past step 1 (the release is at step 2/3)\n",
    )
    assert stored_release(store).spec.promote is None
    now = rollout(state, "promote", "web", "--step", "2")
    assert (now.exit_code, now.stdout) == (
        0,
        "release web-00002: promotion from step 2 requested\n",
    )
    request = stored_release(store).spec.promote
    assert request is not None
    assert request.from_step == 1


# --- status -------------------------------------------------------------------------


def test_status_json_has_the_design_shape(state: pathlib.Path, store: sqlite.SqliteStore) -> None:
    """`status -o json`: the DESIGN §7 keys, with the current release."""
    seed_release(store, Phase.PAUSED, step=1, pause_reason="promotion")
    result = rollout(state, "status", "web", "-o", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {
        "service",
        "namespace",
        "stableRevision",
        "canaryRevision",
        "traffic",
        "release",
        "analysis",
        "problems",
        "headerRoutes",
        "mirrors",
        "sessionAffinity",
    }
    assert (data["service"], data["namespace"]) == ("web", "default")
    assert (data["stableRevision"], data["canaryRevision"]) == ("web-00001", "web-00002")
    assert data["traffic"] == []
    assert data["analysis"] == []
    assert set(data["release"]) == {"name", "phase", "stepIndex", "steps", "message"}
    assert data["release"]["name"] == "web-00002"
    assert data["release"]["phase"] == "Paused"
    assert (data["release"]["stepIndex"], data["release"]["steps"]) == (1, 3)
    assert "rollout promote" in data["release"]["message"]


@pytest.mark.usefixtures("store")  # a state, without the service
def test_status_of_a_missing_service_exits_1(state: pathlib.Path) -> None:
    """One line, exit 1."""
    result = rollout(state, "status", "web", "-o", "json")
    assert result.exit_code == 1
    assert result.stderr == "error: service 'web' not found in namespace default\n"
