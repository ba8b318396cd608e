"""`rollout delete (service|policy) NAME` on a SQLite state dir (issue 19: a Service or
policy could not be removed locally): what goes with a Service, a policy in use
refused unless --force, not found, and the kinds that belong to a Service."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result

from rollout.api import release, rolloutpolicy, service, split
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
"""

SERVICE = """\
apiVersion: rollout.dev/v1alpha1
kind: Service
metadata:
  name: NAME_HERE
spec:
  policy: gate
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
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(factory.STATE_DIR_ENV, raising=False)


def rollout(state: pathlib.Path, *args: str) -> Result:
    return CliRunner().invoke(main.cli, [*args, "--state-dir", str(state)])


@pytest.fixture
def applied(tmp_path: pathlib.Path, state: pathlib.Path) -> None:
    """Policy `gate`, and services `web` and `api` naming it."""
    files = [tmp_path / "policy.yaml"]
    files[0].write_text(POLICY)
    for name in ("web", "api"):
        path = tmp_path / f"{name}.yaml"
        path.write_text(SERVICE.replace("NAME_HERE", name))
        files.append(path)
    result = rollout(state, "apply", *(a for f in files for a in ("-f", str(f))))
    assert result.exit_code == 0, result.output


@pytest.fixture
def store(state: pathlib.Path, applied: None) -> Iterator[sqlite.SqliteStore]:
    opened = sqlite.SqliteStore(state / factory.DB_FILE)
    yield opened
    opened.close()


def give_children(store: sqlite.SqliteStore, name: str) -> None:
    """What the controller makes for a released service: two revisions, its route and
    a release, each owned by the Service."""
    svc = store.get("Service", "default", name)
    assert isinstance(svc, service.Service)
    first = builders.make_revision(svc, 1)
    second = builders.make_revision(svc, 2)
    for rev in (first, second):
        store.create(rev)
    traffic = [
        split.TrafficTarget(revision_name=first.metadata.name, percent=90),
        split.TrafficTarget(revision_name=second.metadata.name, percent=10),
    ]
    store.create(builders.make_route(svc, traffic))
    policy = store.get("RolloutPolicy", "default", "gate")
    assert isinstance(policy, rolloutpolicy.RolloutPolicy)
    store.create(
        builders.make_release(
            svc,
            policy,
            stable=first.metadata.name,
            canary=second.metadata.name,
            attempt=1,
        )
    )


def names(store: sqlite.SqliteStore, kind: str) -> list[str]:
    return sorted(o.metadata.name for o in store.list(kind, "default").items)


# --- services -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["service", "services", "rsvc", "Service"])
def test_delete_service_takes_its_revisions_route_and_release(
    state: pathlib.Path, store: sqlite.SqliteStore, kind: str
) -> None:
    """One line, exit 0; the service's children go with it, the other service stays."""
    give_children(store, "web")
    give_children(store, "api")
    result = rollout(state, "delete", kind, "web")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "service/web deleted\n", "")
    assert names(store, "Service") == ["api"]
    assert names(store, "Revision") == ["api-00001", "api-00002"]
    assert names(store, "Route") == ["api"]
    releases = store.list("Release", "default").items
    assert [r.spec.service for r in releases if isinstance(r, release.Release)] == ["api"]
    listed = rollout(state, "get", "revisions")
    assert "web-" not in listed.stdout


def test_delete_a_missing_service_exits_1(state: pathlib.Path, store: sqlite.SqliteStore) -> None:
    """Not found: one line, exit 1, as `get` says it."""
    result = rollout(state, "delete", "service", "nope")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == "error: service 'nope' not found in namespace default\n"


@pytest.mark.usefixtures("store")
@pytest.mark.parametrize(
    ("namespace", "name"), [pytest.param("other", "web", id="other-namespace"), ("default", "nope")]
)
def test_delete_ignore_not_found_exits_0_silently(
    state: pathlib.Path, namespace: str, name: str
) -> None:
    """--ignore-not-found: nothing said, exit 0 (another namespace has no `web`)."""
    result = rollout(state, "delete", "rsvc", name, "-n", namespace, "--ignore-not-found")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")


def test_delete_with_no_state_yet(state: pathlib.Path) -> None:
    """No state dir: not found (exit 1), or nothing with --ignore-not-found; nothing created."""
    result = rollout(state, "delete", "service", "web")
    assert result.exit_code == 1
    assert rollout(state, "delete", "service", "web", "--ignore-not-found").exit_code == 0
    assert not state.exists()


@pytest.mark.usefixtures("store")
@pytest.mark.parametrize("kind", ["revision", "routes", "rrel"])
def test_delete_of_what_a_service_owns_is_a_usage_error(state: pathlib.Path, kind: str) -> None:
    """Revisions, routes and releases go with their service: exit 2 says so."""
    result = rollout(state, "delete", kind, "web-00001")
    assert result.exit_code == 2
    assert "goes with its service" in result.stderr
    assert rollout(state, "delete", "nonsense", "x").exit_code == 2


# --- policies -----------------------------------------------------------------------


@pytest.mark.usefixtures("store")
@pytest.mark.parametrize("kind", ["policy", "rpol", "rolloutpolicy", "rolloutpolicies"])
def test_delete_a_policy_in_use_is_refused(state: pathlib.Path, kind: str) -> None:
    """Exit 1 naming the services that use it; the policy stays."""
    result = rollout(state, "delete", kind, "gate")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: rolloutpolicy 'gate' is used by services api, web: not deleted"
        " (--force deletes it; their next change then waits for the policy)\n"
    )
    assert rollout(state, "get", "rpol", "gate").exit_code == 0


def test_delete_a_policy_in_use_with_force(state: pathlib.Path, store: sqlite.SqliteStore) -> None:
    """--force deletes it and warns who still names it; the services stay."""
    result = rollout(state, "delete", "rpol", "gate", "--force")
    assert (result.exit_code, result.stdout) == (0, "rolloutpolicy/gate deleted\n")
    assert result.stderr == (
        "warning: services api, web still name rolloutpolicy 'gate': their next change"
        " waits for it (PolicyNotFound)\n"
    )
    assert names(store, "RolloutPolicy") == []
    assert names(store, "Service") == ["api", "web"]


def test_delete_a_policy_no_service_uses(state: pathlib.Path, store: sqlite.SqliteStore) -> None:
    """Once its services are gone, the policy goes without --force."""
    for name in ("web", "api"):
        assert rollout(state, "delete", "service", name).exit_code == 0
    result = rollout(state, "delete", "policy", "gate")
    assert (result.exit_code, result.stdout, result.stderr) == (
        0,
        "rolloutpolicy/gate deleted\n",
        "",
    )
    assert names(store, "RolloutPolicy") == []


def test_delete_is_listed_in_help() -> None:
    """`rollout --help` lists it, after `get`."""
    result = CliRunner().invoke(main.cli, ["--help"])
    listed = [line.split()[0] for line in result.stdout.splitlines() if line.startswith("  ")]
    assert listed[listed.index("get") + 1] == "delete"
