"""Credentials for metric providers, read when a measurement is taken.

A policy names where a credential lives (`policyspec.ValueFrom`: an environment
variable of the controller, a file, or a Kubernetes Secret's key); the value is read
here, at measurement time, and never written to a policy, a release or a log.

`SecretReader` is the port a platform offers for `secretKeyRef` (the kubernetes
platform reads Secrets in the release's namespace; the others have none, and a
`secretKeyRef` there resolves to a `SecretError` saying so). `resolve` turns a
`ValueFrom` into the value or raises `SecretError` with one clear line that names the
source but never the value:

- `env`: the controller's environment variable; unset is an error (set but empty is
  an empty value);
- `file`: the file's text (UTF-8, at most `MAX_FILE` bytes);
- `secretKeyRef`: `reader.read(namespace, name, key)`; a reader's own `SecretError`
  is passed on, anything else it raises becomes one naming only the exception's type
  (its message might quote what it read).

Every value loses one trailing line break (`echo token > file`, `kubectl create
secret --from-file` and mounted Secrets all end with one); any other control
character is refused (it would split a header).

A value that would not survive as an HTTP header (CR, LF, NUL or another control
character) is refused here too, naming the source.

I/O: environment and files (and the reader). Called by the web provider.
"""

from __future__ import annotations

import os
import pathlib
import re
from collections.abc import Mapping
from typing import Protocol

from rollout.api import policyspec

__all__ = ["MAX_FILE", "SecretError", "SecretReader", "describe", "headers", "resolve"]

MAX_FILE = 64 * 1024


class SecretError(Exception):
    """A credential could not be read; the message names its source, never its value."""


class SecretReader(Protocol):
    def read(self, namespace: str, name: str, key: str) -> str:
        """The value of `key` in Secret `namespace/name`; `SecretError` when missing."""
        ...


def describe(source: policyspec.ValueFrom) -> str:
    """The source, as errors name it: `env TOKEN`, `file /run/token`, `secret s key k`."""
    if source.env is not None:
        return f"env {source.env}"
    if source.file is not None:
        return f"file {source.file}"
    ref = source.secret_key_ref
    assert ref is not None, "ValueFrom holds exactly one source"
    return f"secretKeyRef {ref.name}/{ref.key}"


def resolve(
    source: policyspec.ValueFrom,
    *,
    namespace: str,
    reader: SecretReader | None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """The value `source` names, read now; `SecretError` naming the source otherwise."""
    value = _one_line(_read(source, namespace=namespace, reader=reader, environ=environ))
    if _has_control(value):
        raise SecretError(
            f"the value of {describe(source)} contains a line break or another control"
            " character (not allowed in a header)"
        )
    return value


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP header name (RFC 9110)


def headers(
    given: Mapping[str, str | policyspec.HeaderValue],
    *,
    namespace: str,
    reader: SecretReader | None,
    hidden: list[str],
) -> dict[str, str]:
    """The headers to send, each credential read now (its value added to `hidden`, for
    masking); `SecretError` naming the header for a bad name, an unreadable source or
    a value that would split the request."""
    found: dict[str, str] = {}
    for name, entry in given.items():
        if not _TOKEN.fullmatch(name):
            raise SecretError(f"header {name!r}: not a valid header name")
        if isinstance(entry, str):
            value = entry
        else:
            try:
                value = resolve(entry.value_from, namespace=namespace, reader=reader)
            except SecretError as exc:
                raise SecretError(f"header {name}: {exc}") from None
            if value:
                hidden.append(value)
        if _has_control(value):
            raise SecretError(
                f"header {name}: the value contains a line break, NUL or another control character"
            )
        found[name] = value
    return found


def _has_control(value: str) -> bool:
    return any((ord(ch) < 0x20 and ch != "\t") or ord(ch) == 0x7F for ch in value)


def _read(
    source: policyspec.ValueFrom,
    *,
    namespace: str,
    reader: SecretReader | None,
    environ: Mapping[str, str] | None,
) -> str:
    if source.env is not None:
        value = (os.environ if environ is None else environ).get(source.env)
        if value is None:
            raise SecretError(f"environment variable {source.env} is not set in the controller")
        return value
    if source.file is not None:
        return _read_file(pathlib.Path(source.file))
    ref = source.secret_key_ref
    assert ref is not None, "ValueFrom holds exactly one source"
    if reader is None:
        raise SecretError("secretKeyRef needs the kubernetes platform")
    try:
        return reader.read(namespace, ref.name, ref.key)
    except SecretError:
        raise
    except Exception as exc:  # its message might quote the Secret: name the type only
        raise SecretError(
            f"secret {namespace}/{ref.name} key {ref.key} could not be read ({type(exc).__name__})"
        ) from None


def _read_file(path: pathlib.Path) -> str:
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE + 1)
    except OSError as exc:
        raise SecretError(
            f"cannot read file {path}: {exc.strerror or type(exc).__name__}"
        ) from None
    if len(data) > MAX_FILE:
        raise SecretError(f"file {path} is larger than {MAX_FILE} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretError(f"file {path} is not UTF-8 text") from None
    return text


def _one_line(text: str) -> str:
    """Without one trailing line break: `echo token > file`, `kubectl create secret
    --from-file` and a mounted Secret all end their value with one."""
    if text.endswith("\r\n"):
        return text[:-2]
    return text.removesuffix("\n")
