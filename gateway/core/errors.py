"""Domain errors: every refusal the gateway can give, with its HTTP meaning.

Edges turn these into responses in one place; nothing else builds error bodies.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


class GatewayError(Exception):
    """A refusal with an HTTP status and an OpenAI-style error code."""

    status: int = 500
    code: str = "internal_error"
    type: str = "server_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        rule: str | None = None,
        headers: Mapping[str, str] = _NO_HEADERS,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.rule = rule
        self.headers = headers


class BadRequest(GatewayError):
    status = 400
    code = "invalid_request"
    type = "invalid_request_error"


class RequestHeadTimeout(GatewayError):
    """The request line and headers did not arrive in time."""

    status = 408
    code = "request_timeout"
    type = "invalid_request_error"


class RequestHeadTooLarge(GatewayError):
    status = 431
    code = "request_head_too_large"
    type = "invalid_request_error"


class VideoNotReady(GatewayError):
    """Content asked of a job that has not completed (the model API's own answer shape)."""

    status = 400
    code = "video_not_ready"
    type = "invalid_request_error"


class VideoFailed(GatewayError):
    """Content asked of a job that failed: it has none (the model API's own answer shape)."""

    status = 400
    code = "video_generation_failed"
    type = "invalid_request_error"


class NotFound(GatewayError):
    status = 404
    code = "not_found"
    type = "invalid_request_error"


class UnknownRoute(NotFound):
    """Neither a documented route nor one the policy lists: never forwarded."""

    code = "unknown_route"


class MethodNotAllowed(GatewayError):
    """A documented path asked with a method it does not take (RFC 9110 §15.5.6)."""

    status = 405
    code = "method_not_allowed"
    type = "invalid_request_error"

    def __init__(self, method: str, path: str, allowed: frozenset[str]) -> None:
        super().__init__(
            f"{path} does not take {method} (it takes {', '.join(sorted(allowed))}).",
            headers={"Allow": ", ".join(sorted(allowed))},
        )


class BodyTooLarge(GatewayError):
    status = 413
    code = "body_too_large"
    type = "invalid_request_error"


class RequestTimeout(GatewayError):
    """The request body did not arrive in time. The connection is closed after the
    answer: the rest of the body may still be on its way, and would read as a request."""

    status = 408
    code = "request_timeout"
    type = "invalid_request_error"

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"Connection": "close"})


class UnsupportedMediaType(GatewayError):
    status = 415
    code = "unsupported_media_type"
    type = "invalid_request_error"


class UpstreamUnavailable(GatewayError):
    status = 502
    code = "upstream_unavailable"
    type = "upstream_error"


class UpstreamTimeout(GatewayError):
    status = 504
    code = "upstream_timeout"
    type = "upstream_error"


class InternalError(GatewayError):
    """Stands in for an unexpected failure: its message never carries the cause."""


class MissingToken(GatewayError):
    """No credentials at all: RFC 6750 section 3.1 says the challenge carries no error code."""

    status = 401
    code = "missing_token"
    type = "authentication_error"

    def __init__(self, message: str = "This route needs a Bearer access token.") -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class InvalidToken(GatewayError):
    status = 401
    code = "invalid_token"
    type = "authentication_error"

    def __init__(self, message: str) -> None:
        super().__init__(
            message,
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )


class DependencyUnavailable(GatewayError):
    """A dependency the request needs (store, limits, audit sink) is down: fail closed."""

    status = 503
    code = "dependency_unavailable"
    type = "server_error"


class Forbidden(GatewayError):
    status = 403
    code = "forbidden"
    type = "permission_error"


class TierNotInPhase(Forbidden):
    code = "tier_not_in_phase"


class Waitlisted(Forbidden):
    code = "waitlisted"


class ModelNotAllowed(Forbidden):
    code = "model_not_allowed"


class PolicyViolation(Forbidden):
    code = "policy_violation"


class RateLimited(GatewayError):
    status = 429
    code = "rate_limited"
    type = "rate_limit_error"


class LimitsUnavailable(DependencyUnavailable):
    code = "limits_unavailable"


class AuditUnavailableError(DependencyUnavailable):
    """The audit sink cannot take the write-ahead record: the request is not forwarded."""

    code = "audit_unavailable"
