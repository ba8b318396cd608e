"""What reaches an HTTP request: URLs, headers and the credentials they carry.

The metric providers (`prometheus`, `web`) and the webhooks of a policy name URLs and
headers; everything a request is built from is checked here, so that a policy that
validates never fails every measurement of a release: URLs are http(s) with a host,
no space (outside `{{ }}`) and no control character, at most 8 KiB; header names are
HTTP tokens (RFC 9110), once each whatever their case, and never the framing headers
the client sets; a literal header value has no control character but tab (no CR, LF
or NUL), at most 8 KiB. A credential is better written
`{valueFrom: {env | file | secretKeyRef}}` (`ValueFrom`): `url_warning` and
`is_credential_name` spot literal credentials for `policyspec.policy_warnings`, and
`redact_url` hides them when a URL is shown.

Pure field types and rules; no I/O. Used by `metricspec`, `policyspec` and the metric
providers (through the `policyspec` names).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from rollout.api import base, problems, templates

__all__ = [
    "LITERAL_CREDENTIAL",
    "MAX_HEADER_BYTES",
    "MAX_URL_BYTES",
    "HeaderEntry",
    "HeaderName",
    "HeaderValue",
    "HttpUrl",
    "SecretKeyRef",
    "Template",
    "TemplatedUrl",
    "ValueFrom",
    "is_credential_name",
    "redact_url",
    "url_warning",
]

MAX_URL_BYTES = 8192  # RFC 9110 asks every party to support request lines of 8000 octets
MAX_HEADER_BYTES = 8192  # common servers' limit on one header line (nginx: 8k)
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 §5.6.2
_SET_BY_CLIENT = frozenset({"content-length", "transfer-encoding"})  # framing: a GET has no body
_ENV_VAR = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})
_CREDENTIAL_WORDS = ("token", "secret", "key", "password", "passwd", "auth", "credential")


def _url_problem(value: str, *, templated: bool) -> str | None:
    """Why `value` is not an http(s) URL a request can be made to, or None."""
    if not value.startswith(("http://", "https://")):
        return "must be an http:// or https:// URL"
    problem = base.text_problem(value, base.CONTROLS)
    if problem is not None:
        return problem
    size = base.utf8_size(value)
    if size > MAX_URL_BYTES:
        return base.too_large(size, MAX_URL_BYTES)
    # Spaces are allowed inside `{{ service }}` placeholders only.
    outside = templates.PLACEHOLDER.sub("x", value) if templated else value
    if " " in outside:
        return "must not contain a space (write it %20)"
    try:
        parts = urllib.parse.urlsplit(outside)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError as exc:
        return f"is not a valid URL: {exc}"
    if not parts.hostname:
        return "must name a host: http://HOST[:PORT]/PATH"
    return None


def http_url_problem(value: str) -> str | None:
    """What is wrong with `value` as an http(s) URL (None: nothing)."""
    return _url_problem(value, templated=False)


def _check_http_url(value: str) -> str:
    problem = _url_problem(value, templated=False)
    if problem is not None:
        raise PydanticCustomError("url", "{message}", {"message": problem})
    return value


def _check_templated_url(value: str) -> str:
    problem = _url_problem(value, templated=True)
    if problem is not None:
        raise PydanticCustomError("url", "{message}", {"message": problem})
    return value


def _check_template(value: str) -> str:
    errors = templates.template_errors(value)
    if errors:
        raise PydanticCustomError("template", "{message}", {"message": "; ".join(errors)})
    return value


HttpUrl = Annotated[str, AfterValidator(_check_http_url)]
Template = Annotated[str, AfterValidator(_check_template)]
TemplatedUrl = Annotated[str, AfterValidator(_check_templated_url), AfterValidator(_check_template)]


def _check_env_var(value: str) -> str:
    if not _ENV_VAR.fullmatch(value):
        raise PydanticCustomError(
            "env_var",
            "{value} is not an environment variable name: letters, digits and '_', not"
            " starting with a digit",
            {"value": repr(value)},
        )
    return value


def _check_absolute(value: str) -> str:
    if not value.startswith("/"):
        raise PydanticCustomError(
            "absolute", "must be an absolute path (got {value})", {"value": repr(value)}
        )
    return value


def _check_secret_key(value: str) -> str:
    if len(value) > 253 or not _SECRET_KEY.fullmatch(value):
        raise PydanticCustomError(
            "secret_key",
            "{value} is not a Secret key: at most 253 letters, digits, '-', '_' or '.'",
            {"value": repr(value)},
        )
    return value


def _check_header_name(value: str) -> str:
    if not _TOKEN.fullmatch(value):
        raise PydanticCustomError(
            "header_name",
            "{value} is not an HTTP header name: letters, digits and !#$%&'*+-.^_`|~ only"
            " (RFC 9110)",
            {"value": repr(value)},
        )
    if value.lower() in _SET_BY_CLIENT:
        raise PydanticCustomError(
            "header_name",
            "{value} frames the request body and is set by the HTTP client; remove it",
            {"value": repr(value)},
        )
    return value


class SecretKeyRef(base.ApiModel):
    """A key of a Kubernetes Secret in the release's namespace (kubernetes platform)."""

    name: base.Subdomain
    """The Secret's name, in the release's namespace."""
    key: Annotated[str, AfterValidator(_check_secret_key)]
    """The key in the Secret."""


# An absolute path the controller reads (a mounted Secret, a CA bundle).
AbsolutePath = Annotated[str, base.checked_text(base.NUL), AfterValidator(_check_absolute)]


def header_problems(headers: Mapping[str, object]) -> list[problems.Problem]:
    """Two names for one header (HTTP names ignore case)."""
    found = []
    seen: dict[str, str] = {}
    for name in headers:
        first = seen.setdefault(name.lower(), name)
        if first != name:
            found.append(
                problems.Problem(
                    ("headers", name),
                    f"duplicate header: {first!r} is the same name (HTTP names ignore case)",
                )
            )
    return found


class ValueFrom(base.ApiModel):
    """Where a credential is read from when a measurement is taken — never stored in the
    policy nor copied into releases: exactly one of `env` (a variable of the
    controller's environment), `file` (an absolute path the controller can read, e.g. a
    mounted Secret) or `secretKeyRef` (a Secret's key, on the kubernetes platform)."""

    env: Annotated[str, AfterValidator(_check_env_var)] | None = None
    """A variable of the controller's environment."""
    file: Annotated[str, base.checked_text(base.NUL), AfterValidator(_check_absolute)] | None = None
    """An absolute path the controller can read, e.g. a mounted Secret."""
    secret_key_ref: SecretKeyRef | None = None
    """A key of a Secret (Kubernetes platform)."""

    @model_validator(mode="after")
    def _exactly_one(self) -> ValueFrom:
        given = [f for f in ("env", "file", "secret_key_ref") if getattr(self, f) is not None]
        if len(given) != 1:
            raise PydanticCustomError(
                "value_from",
                "valueFrom needs exactly one of env, file, secretKeyRef (got {got})",
                {"got": ", ".join(to_camel(f) for f in given) or "none"},
            )
        return self

    def describe(self) -> str:
        """Where the value comes from, for `validate --explain` (never the value)."""
        if self.env is not None:
            return f"from env {self.env}"
        if self.file is not None:
            return f"from file {self.file}"
        assert self.secret_key_ref is not None
        ref = self.secret_key_ref
        return f"from secret {ref.name} key {ref.key}"


class HeaderValue(base.ApiModel):
    """A header whose value is a credential, read when the measurement is taken."""

    value_from: ValueFrom
    """Where the header's value is read from at measurement time."""


_check_literal_header = base.text_check(base.CONTROLS.replace("\t", ""), max_bytes=MAX_HEADER_BYTES)


def _header_value(value: Any, handler: ValidatorFunctionWrapHandler) -> str | HeaderValue:
    """A literal string or `{valueFrom: …}`, each checked at its own path.

    (The plain union would report a mistake twice, once per member, under the
    members' type names.)"""
    del handler  # both members are validated here, at the header's own path
    if isinstance(value, str):
        return _check_literal_header(value)
    if isinstance(value, dict | HeaderValue):
        return HeaderValue.model_validate(value)
    raise PydanticCustomError(
        "header_value", "must be a string or {valueFrom: {env | file | secretKeyRef}}"
    )


HeaderName = Annotated[str, AfterValidator(_check_header_name)]
HeaderEntry = Annotated[
    str | HeaderValue,
    WrapValidator(_header_value),
    WithJsonSchema(
        {
            "description": "a literal value, or {valueFrom: {env | file | secretKeyRef}}",
            "x-kubernetes-preserve-unknown-fields": True,
        }
    ),
]


def is_credential_name(name: str) -> bool:
    """True for a header or query parameter name that usually carries a credential."""
    lowered = name.lower()
    return lowered in _CREDENTIAL_HEADERS or any(w in lowered for w in _CREDENTIAL_WORDS)


LITERAL_CREDENTIAL = (
    "a literal credential is stored in the policy and copied into every release;"
    " use valueFrom (env, file or secretKeyRef)"
)


def _url_credentials(url: str) -> str | None:
    """What of a URL looks like a credential (`user:pass@`, `?token=…`), or None."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return None
    if "@" in parts.netloc:
        return "credentials before its host (user:pass@host)"
    names = [
        name
        for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        if value and is_credential_name(name) and not templates.variables_in(value)
    ]
    if names:
        return f"the query parameter {names[0]!r}"
    return None


def url_warning(url: str) -> str | None:
    """The warning for a URL that holds a literal credential, or None."""
    what = _url_credentials(url)
    if what is None:
        return None
    return (
        f"the URL holds {what}: a literal credential is stored in the policy and copied"
        " into every release; use a header with valueFrom (env, file or secretKeyRef)"
    )


def redact_url(url: str) -> str:
    """The URL with its user part and credential-like query values replaced by `***`."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    pieces = []
    for raw in parts.query.split("&") if parts.query else []:
        name, equals, value = raw.partition("=")
        credential = equals and value and is_credential_name(urllib.parse.unquote_plus(name))
        pieces.append(f"{name}=***" if credential else raw)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, query="&".join(pieces)))
