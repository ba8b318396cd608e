"""The proxy's admin token: who may change what the proxy routes.

`<state-dir>/proxy.token` holds one random token, readable by the state dir's owner
only (mode 0600). The proxy process creates it when it starts and finds none
(`load_or_create`; an existing token is kept, so clients keep working across proxy
restarts), and requires it on every write of its admin API as
`Authorization: Bearer <token>` (`authorized`). Clients read it with `read`.

A token file that is not a regular file of ours with mode 0600 is refused with a
`TokenError` naming the file (someone else may have read it): remove it and a new one
is made at the next proxy start.

Called by the proxy server (at start, on every admin write) and the admin client.
I/O: the token file only.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import pathlib
import secrets
import stat

__all__ = ["TOKEN_FILE", "TokenError", "authorized", "bearer", "load_or_create", "read"]

TOKEN_FILE = "proxy.token"


class TokenError(Exception):
    """The token file is missing, unsafe or empty (one clear line)."""


def load_or_create(state_dir: pathlib.Path) -> str:
    """The state dir's token; a new one (mode 0600) when there is none.

    Created atomically: written to a private temporary file, then hard-linked to its
    name, which fails when another process made one first (then that one is used)."""
    path = pathlib.Path(state_dir) / TOKEN_FILE
    if not path.exists():
        tmp = path.with_name(f".{TOKEN_FILE}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(secrets.token_urlsafe(32) + "\n")
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    return read(state_dir)


def read(state_dir: pathlib.Path) -> str:
    """The token; `TokenError` when the file is missing, unsafe or empty."""
    path = pathlib.Path(state_dir) / TOKEN_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise TokenError(f"{path}: no proxy token (the proxy creates it when it starts)") from None
    except OSError as exc:
        raise TokenError(f"{path}: cannot read the proxy token: {exc.strerror or exc}") from None
    with os.fdopen(fd, "r", encoding="ascii", errors="replace") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
            raise TokenError(
                f"{path}: the proxy token must be a file of yours with mode 0600"
                f" (it has mode {stat.S_IMODE(st.st_mode):o}); remove it and restart the proxy"
            )
        token = f.read(4096).strip()
    if not token:
        raise TokenError(f"{path}: the proxy token is empty; remove it and restart the proxy")
    return token


def bearer(token: str) -> str:
    """The Authorization header value for `token`."""
    return f"Bearer {token}"


def authorized(header: str | None, token: str) -> bool:
    """Whether an Authorization header carries `token` (compared in constant time)."""
    if header is None:
        return False
    return hmac.compare_digest(header.encode(errors="replace"), bearer(token).encode())
