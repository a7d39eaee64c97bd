"""Errors the gateway raises, each mapped to an OpenAI-shaped HTTP response.

Hierarchy::

    GatewayError                    root; carries status, OpenAI error type, param and code
    ├── InvalidRequestError         400 the client's request is malformed or has a wrong type
    ├── AuthenticationError         401 no key, or a key that is unknown, revoked or expired
    ├── PermissionDeniedError       403 the key's role or model list does not allow this
    ├── RateLimitError              429 a key's or team's rate limit or budget is spent
    ├── ModelNotFoundError          404 no model group of that name (or not allowed to the caller)
    ├── RequestTooLargeError        413 the body exceeds the configured limit
    ├── ServiceUnavailableError     503 a store the request needs (database, Redis) is down
    ├── ConfigError                 a configuration value is invalid (raised at load, not served)
    └── UpstreamError               an attempt at a provider failed
        ├── UpstreamStatusError     the provider answered with an error status
        ├── UpstreamTimeoutError    504 the provider did not answer in time
        ├── UpstreamConnectionError 502 the provider could not be reached
        └── NoDeploymentAvailable   503 every deployment of the group is cooling down

The message of every error is written for the client: it never contains a provider secret,
a header value or a traceback.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthenticationError",
    "ConfigError",
    "GatewayError",
    "InvalidRequestError",
    "ModelNotFoundError",
    "NoDeploymentAvailable",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestTooLargeError",
    "ServiceUnavailableError",
    "UpstreamConnectionError",
    "UpstreamError",
    "UpstreamStatusError",
    "UpstreamTimeoutError",
]


class GatewayError(Exception):
    """Root of the gateway's errors; knows its HTTP status and OpenAI error fields."""

    status_code: int = 500
    error_type: str = "api_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.headers = headers or {}

    def to_dict(self) -> dict[str, Any]:
        """The body OpenAI's API would send: ``{"error": {message, type, param, code}}``."""
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.code,
            }
        }


class InvalidRequestError(GatewayError):
    status_code = 400
    error_type = "invalid_request_error"


class AuthenticationError(GatewayError):
    status_code = 401
    error_type = "invalid_request_error"
    code = "invalid_api_key"


class PermissionDeniedError(GatewayError):
    status_code = 403
    error_type = "permission_error"
    code = "permission_denied"


class RateLimitError(GatewayError):
    """Over a rate limit (``rate_limit_exceeded``) or a budget (``budget_exceeded``)."""

    status_code = 429
    error_type = "rate_limit_error"
    code = "rate_limit_exceeded"


class ModelNotFoundError(GatewayError):
    status_code = 404
    error_type = "invalid_request_error"
    code = "model_not_found"


class RequestTooLargeError(GatewayError):
    status_code = 413
    error_type = "invalid_request_error"
    code = "request_too_large"


class ServiceUnavailableError(GatewayError):
    """A store the request needs is unreachable: retry later (``Retry-After`` is set)."""

    status_code = 503
    error_type = "service_unavailable_error"
    code = "store_unavailable"


class ConfigError(GatewayError):
    """A configuration value is invalid; the message names the key."""

    error_type = "config_error"


class UpstreamError(GatewayError):
    """An attempt at a provider failed.

    ``retryable`` says whether another attempt (same or other deployment) may succeed;
    ``retry_after`` is the provider's Retry-After in seconds, when it sent one.
    """

    status_code = 502
    error_type = "upstream_error"
    retryable = True
    # This deployment cannot serve this request at all (e.g. it is at its shared rate
    # limit): the router tries the others rather than waiting to retry it.
    skip_deployment = False

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        retryable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
        if retryable is not None:
            self.retryable = retryable


class UpstreamStatusError(UpstreamError):
    """The provider answered with an error status; ``body`` is its OpenAI-shaped error."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        error_type: str | None = None,
        body: dict[str, Any] | None = None,
        context_window_exceeded: bool = False,
        content_policy_violation: bool = False,
        **kwargs: Any,
    ) -> None:
        retryable = status_code in (408, 409, 429) or status_code >= 500
        kwargs.setdefault("retryable", retryable)
        super().__init__(message, status_code=status_code, **kwargs)
        if error_type:
            self.error_type = error_type
        elif status_code == 429:
            self.error_type = "rate_limit_error"
        elif status_code in (401, 403):
            self.error_type = "authentication_error"
        elif 400 <= status_code < 500:
            self.error_type = "invalid_request_error"
        self.body = body
        self.context_window_exceeded = context_window_exceeded
        self.content_policy_violation = content_policy_violation


class UpstreamTimeoutError(UpstreamError):
    status_code = 504
    error_type = "timeout_error"
    code = "upstream_timeout"


class UpstreamConnectionError(UpstreamError):
    status_code = 502
    error_type = "upstream_error"
    code = "upstream_unreachable"


class NoDeploymentAvailable(UpstreamError):
    status_code = 503
    error_type = "service_unavailable_error"
    code = "no_deployment_available"
