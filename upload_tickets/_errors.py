"""The one error tree of upload-tickets.

Every error carries a stable machine-readable ``code``, the ``http_status`` it maps to,
a human ``message`` and the request ``param`` at fault (or ``None``). Adapters map their
drivers' exceptions onto this tree at the edge, so callers only ever catch these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from upload_tickets._models import RateDecision
    from upload_tickets._policy import RatePolicy


class UploadTicketsError(Exception):
    """Base of every error raised by upload-tickets."""

    http_status: ClassVar[int] = 500
    type: ClassVar[str] = "api_error"
    default_code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.param = param

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, param={self.param!r}, message={self.message!r})"


class InvalidRequest(UploadTicketsError):
    """The request is malformed or breaks a validation rule (400)."""

    http_status = 400
    type = "invalid_request_error"
    default_code = "invalid_request"


class Unauthenticated(UploadTicketsError):
    """The caller could not be identified: e.g. the API key is missing, malformed or unknown (401).

    ``challenge`` is the ``WWW-Authenticate`` value the 401 carries (e.g. ``Bearer``).
    """

    http_status = 401
    type = "authentication_error"
    default_code = "invalid_api_key"

    def __init__(
        self, message: str, *, code: str | None = None, param: str | None = None, challenge: str | None = None
    ):
        super().__init__(message, code=code, param=param)
        self.challenge = challenge


class SignatureInvalid(UploadTicketsError):
    """The signed upload URL was tampered with, or signed by an unknown key (403)."""

    http_status = 403
    type = "authentication_error"
    default_code = "invalid_signature"


class UploadUrlExpired(SignatureInvalid):
    """The signed upload URL is past its expiry; mint a fresh one (403)."""

    default_code = "upload_url_expired"


class NotFound(UploadTicketsError):
    """No such upload (or character) for this team; another team's id is reported the same way (404)."""

    http_status = 404
    type = "invalid_request_error"
    default_code = "upload_not_found"


class MethodNotAllowed(UploadTicketsError):
    """The route exists but does not take this method; ``allow`` lists those it does (405)."""

    http_status = 405
    type = "invalid_request_error"
    default_code = "method_not_allowed"

    def __init__(self, message: str, *, allow: tuple[str, ...], code: str | None = None, param: str | None = None):
        super().__init__(message, code=code, param=param)
        self.allow = allow


class RequestTimeout(UploadTicketsError):
    """The request body stalled or arrived too slowly; nothing of it was kept (408)."""

    http_status = 408
    type = "invalid_request_error"
    default_code = "body_timeout"


class Conflict(UploadTicketsError):
    """The request conflicts with the current state of a resource (409)."""

    http_status = 409
    type = "invalid_request_error"
    default_code = "conflict"


class InvalidTransition(Conflict):
    """The lifecycle forbids this event in the ticket's current state (409)."""

    default_code = "invalid_transition"

    def __init__(self, message: str, *, state: str, event: str, code: str | None = None, param: str | None = None):
        super().__init__(message, code=code, param=param)
        self.state = state
        self.event = event


class NotUploaded(InvalidTransition):
    """No bytes have been uploaded for the ticket yet (409)."""

    default_code = "upload_not_uploaded"


class AlreadyConsumed(InvalidTransition):
    """The ticket was already consumed by a character (409)."""

    default_code = "upload_consumed"


class UploadChanged(Conflict):
    """The stored bytes were replaced after they were checked; upload and check them again (409)."""

    default_code = "upload_changed"


class IdempotencyConflict(Conflict):
    """The idempotency key was already used with a different request body (409)."""

    default_code = "idempotency_key_reused"


class TicketExpired(UploadTicketsError):
    """The ticket is past its TTL; its bytes are (or will be) evicted (410)."""

    http_status = 410
    type = "invalid_request_error"
    default_code = "upload_expired"


class PayloadTooLarge(UploadTicketsError):
    """The uploaded body exceeds the ticket's byte cap (413)."""

    http_status = 413
    type = "invalid_request_error"
    default_code = "payload_too_large"


class UnsupportedMediaType(UploadTicketsError):
    """The PUT's Content-Type differs from the one the URL was signed for (415)."""

    http_status = 415
    type = "invalid_request_error"
    default_code = "content_type_mismatch"


class UnprocessableImage(UploadTicketsError):
    """The stored bytes are not a readable image of the declared type (422)."""

    http_status = 422
    type = "invalid_request_error"
    default_code = "image_unreadable"


class RateLimited(UploadTicketsError):
    """The team's token bucket is empty; retry after ``decision.retry_after_us`` (429)."""

    http_status = 429
    type = "rate_limit_error"
    default_code = "rate_limited"

    def __init__(
        self, message: str, *, decision: RateDecision, policy: RatePolicy | None = None, param: str | None = None
    ):
        super().__init__(message, param=param)
        self.decision = decision
        self.policy = policy


class StoreUnavailable(UploadTicketsError):
    """A backing service (database, Redis, object storage) could not be reached (503)."""

    http_status = 503
    type = "api_error"
    default_code = "store_unavailable"


class NotSupported(UploadTicketsError):
    """The request asks for a feature this deployment does not provide (400).

    A 400 rather than 501: the client can fix it (drop the option), and a 5xx would
    read as our failure.
    """

    http_status = 400
    type = "invalid_request_error"
    default_code = "not_supported"


class ConfigurationError(UploadTicketsError):
    """The library was set up wrongly (a bad URL, secret, policy or clock); the message names the fix."""

    default_code = "configuration_error"


class BackendNotInstalled(ConfigurationError):
    """A store URL names a scheme whose adapter package is not installed."""

    default_code = "backend_not_installed"
