"""What the state-touching commands share: the `--backend/--state-dir/-n/-o` options,
opening the store, the clock, who is asking, and failing with the right exit code.

The clock: a rehearsal controller (`--platform sim --speed N`) runs its own time N
times faster and writes its anchor to `<state-dir>/clock.json`; every command on that
state dir reads time from the same anchor, so a command's `requestedAt` is in the
controller's time. Without the file, time is the wall clock.

Exit codes: 0 ok, 1 the command does not apply or a release ended badly, 2 usage or
validation error (DESIGN §7).
"""

from __future__ import annotations

import dataclasses
import functools
import getpass
import json
import os
import pathlib
from collections.abc import Callable
from datetime import datetime
from typing import Any, NoReturn, TypeVar

import click

from rollout import clock as clocks
from rollout.store import factory, port, sqlite

__all__ = [
    "CLOCK_FILE",
    "Options",
    "fail",
    "kubernetes_store",
    "load_clock",
    "requester",
    "save_clock",
    "state_options",
]

CLOCK_FILE = "clock.json"
F = TypeVar("F", bound=Callable[..., Any])


@dataclasses.dataclass
class Options:
    backend: str
    state_dir: pathlib.Path
    namespace: str
    output: str = "table"
    kubeconfig: str | None = None
    context: str | None = None
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
                    self.state_dir / factory.DB_FILE, now=self.clock.now
                )
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def kubernetes_store(kubeconfig: str | None, context: str | None) -> port.Store:
    """The store on the cluster the kubeconfig names (exit 2 when there is none)."""
    from rollout.platforms.kubernetes import connect, store  # only with --backend kubernetes

    try:
        api = connect.api_client(kubeconfig, context=context, user_agent="rollout-cli")
    except connect.ConnectError as exc:
        fail(str(exc), code=2)
    return store.KubernetesStore(api)


def state_options(*, output: bool = False) -> Callable[[F], F]:
    """Add --backend, --state-dir, -n (and -o) and pass an `Options` as `opts`."""

    def decorate(func: F) -> F:
        @click.option(
            "--backend",
            type=click.Choice(["local", "kubernetes"]),
            default="local",
            envvar="ROLLOUT_BACKEND",
            show_default=True,
            help="Where resources live: local (SQLite in the state dir) or kubernetes.",
        )
        @click.option(
            "--state-dir",
            type=click.Path(file_okay=False, path_type=str),
            help="Local state directory (default $ROLLOUT_STATE_DIR or ./.rollout).",
        )
        @click.option(
            "--kubeconfig",
            type=click.Path(dir_okay=False, path_type=str),
            help="kubernetes: the kubeconfig (default $KUBECONFIG, ~/.kube/config, in-cluster).",
        )
        @click.option("--context", help="kubernetes: the kubeconfig context to use.")
        @click.option("-n", "--namespace", default="default", show_default=True)
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
            )
            try:
                return func(*args, opts=opts, **kwargs)
            finally:
                opts.close()

        if output:
            wrapper = click.option(
                "-o",
                "--output",
                type=click.Choice(["table", "json", "yaml"]),
                default="table",
                show_default=True,
            )(wrapper)
        return wrapper  # type: ignore[return-value]

    return decorate


def fail(message: str, *, code: int = 1) -> NoReturn:
    """Print `message` on stderr as one line and exit with `code`."""
    click.echo(f"error: {message}", err=True)
    raise SystemExit(code)


def requester() -> str:
    """Who issues a command: $ROLLOUT_USER, else the login name."""
    try:
        return os.environ.get("ROLLOUT_USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def save_clock(state_dir: pathlib.Path, clock: clocks.ScaledClock) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    data = {
        "speed": clock.speed,
        "anchor": clock.anchor.isoformat(),
        "start": clock.start.isoformat(),
    }
    tmp = state_dir / (CLOCK_FILE + ".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(state_dir / CLOCK_FILE)


def load_clock(state_dir: pathlib.Path) -> clocks.Clock:
    """The clock of this state dir: a rehearsal's scaled clock, else the wall clock."""
    try:
        data = json.loads((state_dir / CLOCK_FILE).read_text())
        return clocks.ScaledClock(
            float(data["speed"]),
            anchor=datetime.fromisoformat(data["anchor"]),
            start=datetime.fromisoformat(data["start"]),
        )
    except FileNotFoundError:
        return clocks.WallClock()
    except (ValueError, KeyError, TypeError) as exc:
        fail(f"{state_dir / CLOCK_FILE}: not a valid clock file ({exc}); delete it", code=2)
