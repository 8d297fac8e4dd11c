"""One error hierarchy for the api; each error carries its HTTP status.

A single exception handler (in the app factory) turns any ``ServiceError`` into a
JSON body ``{"error": {"type", "message", "status"}}`` plus the ``X-Job-Id`` header.
"""

from __future__ import annotations


class ServiceError(Exception):
    """An error the api answers with ``status_code`` and a message saying what was wrong."""

    status_code: int = 500

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code


class MalformedRequestError(ServiceError):
    """The body is not valid JSON."""

    status_code = 400


class ModelNotFoundError(ServiceError):
    """No model or model version by that name is served."""

    status_code = 404


class PayloadTooLargeError(ServiceError):
    """The body is larger than the configured limit."""

    status_code = 413


class UnsupportedMediaTypeError(ServiceError):
    """The body is not ``application/json``."""

    status_code = 415


class InvalidInputError(ServiceError):
    """The body parsed but does not fit the model's input (shape, type, finiteness, rows)."""

    status_code = 422


class ConflictError(ServiceError):
    """The change does not fit the registry as it is (a version that exists, too many online)."""

    status_code = 409


class ModelNotReadyError(ServiceError):
    """The model exists but is not loaded yet (or is being unloaded)."""

    status_code = 503


class ShuttingDownError(ServiceError):
    """The worker drains before it stops (SIGTERM): it answers, but takes no new work."""

    status_code = 503


class UpstreamError(ServiceError):
    """A remote version's upstream is down, refused the call or answered an error."""

    status_code = 502


class UpstreamTimeoutError(ServiceError):
    """A remote version's upstream did not answer within the timeout."""

    status_code = 504


class BundleError(Exception):
    """A model bundle on disk is incomplete, corrupt or inconsistent (raised at load time)."""
