"""Secrets and ConfigMaps for the local platform: plain files in the state dir, laid
out like a mounted Secret.

    <state-dir>/secrets/<namespace>/<name>/<key>       one file per key
    <state-dir>/configmaps/<namespace>/<name>/<key>

A directory is the object, each regular file in it a key, the file's bytes its value
exactly (no newline is added or taken away: write it with `printf`, not `echo`, as
`kubectl create secret --from-file` would keep one). Bytes that are not UTF-8 reach
the process as they are. Names Kubernetes would not accept as keys (`[-._a-zA-Z0-9]+`)
are skipped, and so are the `..data` links of a Secret volume copied from a pod;
symbolic links are followed. A value is at most 1 MiB (a Secret's limit).

Read when a revision's process is first started by this controller (not watched).
I/O only; what the values mean is `podenv`'s. Called by `runtime` through
`podenv.Sources`.
"""

from __future__ import annotations

import re
from pathlib import Path

from rollout.platforms.local import podenv

__all__ = ["MAX_VALUE_BYTES", "ConfigFiles"]

#: A Secret or ConfigMap holds at most 1 MiB in Kubernetes; so does one key here.
MAX_VALUE_BYTES = 1024 * 1024
_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_FOLDERS: dict[podenv.Kind, str] = {"Secret": "secrets", "ConfigMap": "configmaps"}


class ConfigFiles:
    """`podenv.Sources` on a state dir's `secrets/` and `configmaps/`."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)

    def folder(self, kind: podenv.Kind, namespace: str, name: str) -> Path:
        return self.state_dir / _FOLDERS[kind] / namespace / name

    def location(self, kind: podenv.Kind, namespace: str, name: str, key: str | None = None) -> str:
        folder = self.folder(kind, namespace, name)
        return f"the file {folder / key}" if key is not None else f"the directory {folder}"

    def data(self, kind: podenv.Kind, namespace: str, name: str) -> dict[str, str] | None:
        folder = self.folder(kind, namespace, name)
        try:
            entries = sorted(folder.iterdir())
        except FileNotFoundError:
            return None
        except OSError as e:
            raise podenv.ConfigError(
                f"cannot read {kind} {namespace}/{name} ({folder}): {e.strerror or e}"
            ) from e
        found: dict[str, str] = {}
        for entry in entries:
            key = entry.name
            if not _KEY.fullmatch(key) or key.startswith("..") or not entry.is_file():
                continue
            found[key] = _read(kind, namespace, name, entry)
        return found


def _read(kind: str, namespace: str, name: str, path: Path) -> str:
    try:
        with path.open("rb") as f:
            data = f.read(MAX_VALUE_BYTES + 1)
    except OSError as e:
        raise podenv.ConfigError(
            f"cannot read key {path.name} of {kind} {namespace}/{name} ({path}): {e.strerror or e}"
        ) from e
    if len(data) > MAX_VALUE_BYTES:
        raise podenv.ConfigError(
            f"key {path.name} of {kind} {namespace}/{name} ({path}) is larger than"
            f" {MAX_VALUE_BYTES} bytes (the limit of a {kind})"
        )
    return data.decode("utf-8", "surrogateescape")
