"""API errors as the Kubernetes apiserver reports them: an HTTP code and a `Status` body.

Every failure a handler can produce is an `ApiError`; the server turns it into a
response whose body is a `meta/v1 Status` (`kind: Status, status: Failure, reason,
code, message, details`), which is what kubectl and the official client parse.
No I/O here; the handlers (`api.py`) raise these and `server.py` writes them.

    ApiError                       (any failure with a Status body)
    ├── BadRequest        400      malformed body, selector or query, name mismatch
    ├── Forbidden         403      RBAC refuses it (only under `enforce_rbac`)
    ├── NotFound          404      no such object, resource or namespace
    ├── MethodNotAllowed  405      verb not served for the resource/subresource
    ├── AlreadyExists     409      create of a taken name
    ├── Conflict          409      stale resourceVersion / failed precondition
    ├── Expired           410      watch resourceVersion older than the kept history
    ├── UnsupportedMedia  415      patch or body type the resource does not accept
    ├── Invalid           422      schema / metadata validation, with field causes
    ├── TooManyRequests   429      injected throttling (`details.retryAfterSeconds`)
    ├── InternalError     500      injected faults and handler bugs
    └── ServiceUnavailable 503     injected unavailability

An error with `retry_after_s` carries `details.retryAfterSeconds`; the server then
sends the same number in a `Retry-After` header, as the apiserver does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AlreadyExists",
    "ApiError",
    "BadRequest",
    "Cause",
    "Conflict",
    "Expired",
    "Forbidden",
    "InternalError",
    "Invalid",
    "MethodNotAllowed",
    "NotFound",
    "ServiceUnavailable",
    "TooManyRequests",
    "UnsupportedMedia",
    "status_body",
]


@dataclass(frozen=True)
class Cause:
    """One field-level reason of an `Invalid` error (`details.causes[]`)."""

    field: str
    message: str
    reason: str = "FieldValueInvalid"

    def to_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "field": self.field}


def status_body(
    *,
    code: int,
    reason: str,
    message: str,
    details: dict[str, Any] | None = None,
    success: bool = False,
) -> dict[str, Any]:
    """A `meta/v1 Status` object."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success" if success else "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    if success:
        del body["reason"]
        if not message:
            del body["message"]
    return body


@dataclass(eq=False)
class ApiError(Exception):
    """A failure with its HTTP code, Status reason and message."""

    message: str
    name: str = ""
    group: str = ""
    kind: str = ""
    causes: list[Cause] = field(default_factory=list)
    retry_after_s: int = 0

    code = 500
    reason = "InternalError"

    def __str__(self) -> str:
        return f"{self.code} {self.reason}: {self.message}"

    def status(self) -> dict[str, Any]:
        details: dict[str, Any] = {}
        if self.name:
            details["name"] = self.name
        if self.group:
            details["group"] = self.group
        if self.kind:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = [c.to_dict() for c in self.causes]
        if self.retry_after_s > 0:
            details["retryAfterSeconds"] = self.retry_after_s
        return status_body(
            code=self.code, reason=self.reason, message=self.message, details=details
        )


class BadRequest(ApiError):
    code = 400
    reason = "BadRequest"


class Forbidden(ApiError):
    code = 403
    reason = "Forbidden"


class NotFound(ApiError):
    code = 404
    reason = "NotFound"


class MethodNotAllowed(ApiError):
    code = 405
    reason = "MethodNotAllowed"


class AlreadyExists(ApiError):
    code = 409
    reason = "AlreadyExists"


class Conflict(ApiError):
    code = 409
    reason = "Conflict"


class Expired(ApiError):
    code = 410
    reason = "Expired"


class UnsupportedMedia(ApiError):
    code = 415
    reason = "UnsupportedMediaType"


class Invalid(ApiError):
    code = 422
    reason = "Invalid"


class InternalError(ApiError):
    code = 500
    reason = "InternalError"


class TooManyRequests(ApiError):
    code = 429
    reason = "TooManyRequests"


class ServiceUnavailable(ApiError):
    code = 503
    reason = "ServiceUnavailable"
