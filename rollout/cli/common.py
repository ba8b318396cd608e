"""What the state-touching commands share: the `--backend/--state-dir/-n/-o` options,
opening the store, the clock, who is asking, and failing with the right exit code.

The store is opened on first use in the mode the command declares
(`state_options(store=...)`): `read` for `get`, `status`, `history` (read-only
transactions; a missing state is "no state in DIR" or an empty list, and nothing is
created), `write` for the release commands (an existing state only), `create` for
`apply` and the controller (the state dir is made 0700 and `state.db` 0600). A write
waits at most `LOCK_WAIT` seconds for another process's lock.

The clock: a rehearsal controller (`--platform sim --speed N`) runs its own time N
times faster and writes its anchor to `<state-dir>/clock.json`; every command on that
state dir reads time from the same anchor, so a command's `requestedAt` is in the
controller's time. Without the file, time is the wall clock.

Exit codes (DESIGN §7; `exit_code_of` for failures that are exceptions):

    0  ok
    1  the command does not apply, a name is not found, there is no state yet, a
       release ended badly; or the state is busy (another process held its lock
       longer than LOCK_WAIT: try again) or the cluster did not answer
    2  usage or validation error (a bad -n or --state-dir included), or the state
       dir or state file cannot be used as it is: not a directory, no permission,
       read-only, not a database, corrupted, a newer schema

Every failure is one line on stderr, `error: <cause, with the path>`; `user_errors()`
turns store, SQLite and file-system exceptions into that line (used here and by the
command group in `main`). Must not decide anything about releases.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import getpass
import json
import os
import pathlib
import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click
import pydantic

from rollout import clock as clocks
from rollout import files
from rollout.analysis.providers import secrets
from rollout.api import base, release, service
from rollout.store import errors, factory, port, sqlite

if TYPE_CHECKING:  # the Kubernetes client is imported where a cluster is used
    from kubernetes.client import ApiClient

    from rollout.platforms.kubernetes import rest

__all__ = [
    "CLOCK_FILE",
    "LOCK_WAIT",
    "Options",
    "check_namespace",
    "exit_code_of",
    "fail",
    "kubernetes_store",
    "load_clock",
    "message_of",
    "namespace_option",
    "requester",
    "save_clock",
    "secret_reader",
    "state_options",
    "user_errors",
]

CLOCK_FILE = "clock.json"
LOCK_WAIT = sqlite.BUSY_TIMEOUT  # seconds a command waits for another process's lock
F = TypeVar("F", bound=Callable[..., Any])


@functools.cache
def _name() -> pydantic.TypeAdapter[str]:
    return pydantic.TypeAdapter(base.Name)  # only for the message of a bad name: 15 ms


@dataclasses.dataclass
class Options:
    backend: str
    state_dir: pathlib.Path
    namespace: str
    output: str = "table"
    kubeconfig: str | None = None
    context: str | None = None
    store_mode: sqlite.Mode = "create"
    _store: port.Store | None = None
    _clock: clocks.Clock | None = None

    @property
    def clock(self) -> clocks.Clock:
        if self._clock is None:
            kube = self.backend == "kubernetes"  # a cluster's time is the wall clock
            self._clock = clocks.WallClock() if kube else load_clock(self.state_dir)
        return self._clock

    @property
    def store(self) -> port.Store:
        if self._store is None:
            if self.backend == "kubernetes":
                self._store = kubernetes_store(self.kubeconfig, self.context)
            else:
                self._store = sqlite.SqliteStore(
                    self.state_dir / factory.DB_FILE,
                    now=self.clock.now,
                    mode=self.store_mode,
                    busy_timeout=LOCK_WAIT,
                )
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def secret_reader(opts: Options) -> secrets.SecretReader | None:
    """Where a metric's `secretKeyRef` is read from, as the user: the cluster's Secrets
    with `--backend kubernetes` (the user's own credentials), else none."""
    if opts.backend != "kubernetes":
        return None
    from rollout.platforms.kubernetes import secrets as kube_secrets  # only on a cluster

    return kube_secrets.KubernetesSecrets(cluster_resources(opts))


def cluster_api(kubeconfig: str | None, context: str | None) -> ApiClient:
    """An API client for the cluster the kubeconfig names, as the CLI (exit 2 when
    there is none)."""
    from rollout.platforms.kubernetes import connect  # only with --backend kubernetes

    try:
        return connect.api_client(kubeconfig, context=context, user_agent="rollout-cli")
    except connect.ConnectError as exc:
        fail(str(exc), code=2)


def cluster_resources(opts: Options) -> rest.Resources:
    """The cluster's resources through `cluster_api` (exit 2 when there is none)."""
    from rollout.platforms.kubernetes import rest  # only with --backend kubernetes

    return rest.Resources(cluster_api(opts.kubeconfig, opts.context))


def kubernetes_store(kubeconfig: str | None, context: str | None) -> port.Store:
    """The store on the cluster the kubeconfig names (exit 2 when there is none)."""
    from rollout.platforms.kubernetes import store  # only with --backend kubernetes

    return store.KubernetesStore(cluster_api(kubeconfig, context))


# --- failures ---------------------------------------------------------------------------


def fail(message: str, *, code: int = 1) -> NoReturn:
    """Print `message` on stderr as one line and exit with `code`."""
    one_line = " ".join(message.split("\n"))
    click.echo(f"error: {one_line}", err=True)
    raise SystemExit(code)


def message_of(exc: BaseException) -> str:
    """One line saying what `exc` (a store, SQLite or file-system failure) means."""
    if isinstance(exc, errors.NoState):
        return f"{exc}: nothing has been applied there yet (is --state-dir right?)"
    if isinstance(exc, OSError) and exc.filename is not None:
        cause = (exc.strerror or str(exc)).lower()
        target = f"{exc.filename} -> {exc.filename2}" if exc.filename2 else f"{exc.filename}"
        return f"cannot use {target}: {cause}"
    if isinstance(exc, sqlite3.Error):
        return f"database: {exc}"
    return str(exc) or type(exc).__name__


def exit_code_of(exc: BaseException) -> int:
    """2 when a person must fix a path or file (`Unusable`, a file-system error on a
    path), 1 for the rest (busy, not found, no state, the cluster did not answer)."""
    if isinstance(exc, errors.Unusable):
        return 2
    if isinstance(exc, OSError) and exc.filename is not None:
        return 2
    return 1


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn a store, SQLite or file-system exception into `fail` (one line, exit code
    from `exit_code_of`). A broken pipe is left to click (the reader went away)."""
    try:
        yield
    except BrokenPipeError:
        raise
    except (errors.StoreError, sqlite3.Error, OSError) as exc:
        fail(message_of(exc), code=exit_code_of(exc))


# --- options ----------------------------------------------------------------------------


def check_namespace(value: str, *, option: str = "-n/--namespace") -> str:
    """`value` if it is a valid namespace (a DNS-1123 label, as `base.Name`), else exit 2
    with one line naming `option`."""
    if base.DNS1123_LABEL.fullmatch(value):  # `base.Name`'s own test, without building it
        return value
    try:
        return str(_name().validate_python(value))
    except pydantic.ValidationError as exc:
        fail(f"{option}: {exc.errors()[0]['msg']}", code=2)


def namespace_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A click callback validating a namespace option (`callback=common.namespace_option`):
    exit 2 with one line on a bad value; None passes (an option left unset)."""
    if value is None:
        return None
    flags = "/".join(param.opts) if param.opts else "--namespace"
    return check_namespace(value, option=flags)


def _state_dir_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and "\0" in value:
        fail(f"--state-dir {value!r}: a path cannot hold a NUL byte", code=2)
    return value


# The options `state_options` adds, in the order `--help` lists them.
_STATE_OPTIONS = (
    click.option(
        "--backend",
        type=click.Choice(["local", "kubernetes"]),
        default="local",
        envvar="ROLLOUT_BACKEND",
        show_default=True,
        help="Where resources live: local (SQLite in the state dir) or kubernetes.",
    ),
    click.option(
        "--state-dir",
        callback=_state_dir_option,
        help="Local state directory (default $ROLLOUT_STATE_DIR or ./.rollout).",
    ),
    click.option(
        "--kubeconfig",
        type=click.Path(dir_okay=False, path_type=str),
        help="kubernetes: the kubeconfig (default $KUBECONFIG, ~/.kube/config, in-cluster).",
    ),
    click.option("--context", help="kubernetes: the kubeconfig context to use."),
    click.option(
        "-n",
        "--namespace",
        default="default",
        show_default=True,
        callback=namespace_option,
        help="Namespace (a DNS-1123 label).",
    ),
)
_OUTPUT_OPTION = click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json", "yaml"]),
    default="table",
    show_default=True,
)


def state_options(*, output: bool = False, store: sqlite.Mode = "create") -> Callable[[F], F]:
    """Add --backend, --state-dir, -n (and -o) and pass an `Options` as `opts`; the
    local store opens in mode `store` (see the module docstring). Store, SQLite and
    file-system failures of the command end as one line (`user_errors`)."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(
            *args: Any,
            backend: str,
            state_dir: str | None,
            kubeconfig: str | None,
            context: str | None,
            namespace: str,
            **kwargs: Any,
        ) -> Any:
            opts = Options(
                backend=backend,
                state_dir=factory.resolve_state_dir(state_dir),
                namespace=namespace,
                output=kwargs.pop("output", "table"),
                kubeconfig=kubeconfig,
                context=context,
                store_mode=store,
            )
            with user_errors():
                try:
                    return func(*args, opts=opts, **kwargs)
                finally:
                    opts.close()

        for option in reversed(_STATE_OPTIONS):  # decorators apply bottom-up
            wrapper = option(wrapper)
        if output:
            wrapper = _OUTPUT_OPTION(wrapper)
        return wrapper  # type: ignore[return-value]

    return decorate


# --- who and when -------------------------------------------------------------------------


def service_and_release(opts: Options, name: str) -> tuple[service.Service, release.Release | None]:
    """The Service `name` (exit 1 when there is none) and its current Release (None when
    it has none, or it is gone)."""
    try:
        svc = opts.store.get("Service", opts.namespace, name)
    except errors.NotFound:
        fail(f"service {name!r} not found in namespace {opts.namespace}")
    assert isinstance(svc, service.Service)
    rel = None
    if svc.status.current_release is not None:
        try:
            found = opts.store.get("Release", opts.namespace, svc.status.current_release)
        except errors.NotFound:
            found = None
        rel = found if isinstance(found, release.Release) else None
    return svc, rel


def requester() -> str:
    """Who issues a command: $ROLLOUT_USER, else the login name."""
    try:
        return os.environ.get("ROLLOUT_USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def save_clock(state_dir: pathlib.Path, clock: clocks.ScaledClock) -> None:
    """Write the rehearsal's clock anchor (the state dir 0700, the file 0600)."""
    data = {
        "speed": clock.speed,
        "anchor": clock.anchor.isoformat(),
        "start": clock.start.isoformat(),
    }
    try:
        files.secure_dir(state_dir)
        files.write_private(state_dir / CLOCK_FILE, json.dumps(data))
    except OSError as exc:
        raise sqlite.unusable_dir(state_dir, exc) from exc


def load_clock(state_dir: pathlib.Path) -> clocks.Clock:
    """The clock of this state dir: a rehearsal's scaled clock, else the wall clock
    (also when the state dir is missing or unusable: opening the store says why)."""
    path = state_dir / CLOCK_FILE
    try:
        data = json.loads(path.read_text())
        return clocks.ScaledClock(
            float(data["speed"]),
            anchor=datetime.fromisoformat(data["anchor"]),
            start=datetime.fromisoformat(data["start"]),
        )
    except (FileNotFoundError, NotADirectoryError):
        return clocks.WallClock()
    except OSError as exc:
        if exc.errno == errno.EISDIR:
            fail(f"{path}: not a valid clock file (a directory); delete it", code=2)
        fail(message_of(exc), code=2)
    except (ValueError, KeyError, TypeError) as exc:
        fail(f"{path}: not a valid clock file ({exc}); delete it", code=2)
