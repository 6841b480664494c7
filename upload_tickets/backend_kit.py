"""The backend kit: what an adapter may import from the core, besides the ``upload_tickets`` root.

An adapter (a ticket store, rate limiter, signer or blob store shipped as its own
distribution, such as ``upload-tickets-sql``) imports from ``upload_tickets`` and from
this module, and from nothing else in the core: every other module may change in any
release.

Stability: within one minor series of ``upload-tickets`` (0.1.x, 0.2.x, ...) every name in
``__all__`` here keeps its signature and meaning. Names may be added in any release; one
is changed or removed only in a new minor release whose notes say so. An adapter
therefore pins the series it was built against, e.g. ``upload-tickets>=0.1,<0.2``.

Besides re-exports of the core (GCRA arithmetic, byte caps, time units, the stored form
of characters, HMAC-SHA256), it holds the two helpers every adapter needs at its edge:
:func:`map_errors` turns a driver's exceptions into ``StoreUnavailable`` (503), and
:class:`RetryPolicy` says which failures earn another attempt and how long to wait first.

For an adapter's async flavour: :func:`offload` (a blocking call on a worker thread),
:func:`shielded` (a multi-step change that a cancelled caller cannot stop halfway) and
:func:`async_read_capped`.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from types import TracebackType

import attrs

from upload_tickets._async._primitives import offload, shielded
from upload_tickets._errors import ConfigurationError, StoreUnavailable, UploadTicketsError
from upload_tickets._io import async_read_capped, read_capped
from upload_tickets._policy import HOUR_US, MINUTE_US, SECOND_US
from upload_tickets._ratelimit import decision_after_charge, gcra, replay_decision
from upload_tickets.protocols import Clock
from upload_tickets.records import decode_character, encode_character
from upload_tickets.signing import _HmacSha256

#: HMAC-SHA256 (RFC 2104) with the key's pads hashed once: ``HmacSha256(key).digest(message)``.
HmacSha256 = _HmacSha256

_Families = type[Exception] | tuple[type[Exception], ...]


class ErrorMapping(contextlib.ContextDecorator):
    """Driver errors of some families raised as ``StoreUnavailable``; made by :func:`map_errors`.

    A context manager (``with mapping:``) and a decorator (``@mapping``); it keeps no
    state between uses, so one module-level instance serves every call and thread.
    """

    def __init__(self, families: _Families, message: str) -> None:
        self.families = families
        self.message = message

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        # The core's own errors (NotFound, UploadChanged...) already say what happened.
        if isinstance(error, self.families) and not isinstance(error, UploadTicketsError):
            raise self.unavailable(error) from error

    def unavailable(self, error: BaseException) -> StoreUnavailable:
        """The ``StoreUnavailable`` standing for ``error``: ``"<message>: <error>"`` (raise it ``from`` the error)."""
        return StoreUnavailable(f"{self.message}: {error}")


def map_errors(families: _Families, message: str) -> ErrorMapping:
    """Raise ``StoreUnavailable("<message>: <error>")`` from any error of ``families`` (a with-block or a decorator)."""
    return ErrorMapping(families, message)


def _at_least_one(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ConfigurationError(f"{attribute.name} must be at least 1, got {value}")


@attrs.frozen
class RetryPolicy:
    """Which failures earn another attempt, and how long to wait before it; the caller does the waiting.

    ``transient(error)`` says whether an error concerns only this attempt (a deadlock, a
    lock timeout, a failover) rather than the data. The policy only decides: a sync
    caller passes the delay to ``time.sleep``, an async one awaits ``asyncio.sleep``::

        attempt = 0
        while True:
            attempt += 1
            try:
                return work()
            except DriverError as error:
                delay = policy.delay(error, attempt)
                if delay is None:
                    raise mapping.unavailable(error) from error
            time.sleep(delay)

    Retry only work that is safe to run twice: an attempt may have committed before
    its answer was lost.
    """

    transient: Callable[[BaseException], bool]
    attempts: int = attrs.field(default=5, validator=_at_least_one)
    backoff_s: float = 0.005

    def delay(self, error: BaseException, attempt: int, *, disconnected: bool = False) -> float | None:
        """Seconds to wait after ``error`` ended attempt ``attempt`` (from 1), or ``None``: give up.

        ``disconnected`` says the caller saw the connection drop, worth another attempt
        whatever the error itself says.
        """
        if attempt >= self.attempts or not (disconnected or self.transient(error)):
            return None
        # Full jitter: racing retries spread out instead of colliding again in lockstep.
        return random.uniform(0, self.backoff_s * 2**attempt)  # noqa: S311


__all__ = [
    "replay_decision",
    "HOUR_US",
    "MINUTE_US",
    "SECOND_US",
    "Clock",
    "async_read_capped",
    "ErrorMapping",
    "HmacSha256",
    "RetryPolicy",
    "decision_after_charge",
    "decode_character",
    "encode_character",
    "gcra",
    "map_errors",
    "offload",
    "read_capped",
    "shielded",
]
