"""The seams of upload-tickets: what a store, limiter, signer, blob store or classifier is.

Each is a small :class:`typing.Protocol`; adapters satisfy them structurally and the
exported contract suite (:mod:`upload_tickets.testing`) checks that they behave. The
seams that do I/O come in two flavours, ``TicketStore`` and ``AsyncTicketStore`` and so
on: the async ones are the source (``upload_tickets/_async/protocols.py``), the sync
ones are generated from them. Signers, clocks and pose detectors never wait on I/O, so
both flavours share them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from upload_tickets._async.protocols import (
    AsyncBatchChargingTicketStore,
    AsyncBlobStore,
    AsyncChargingTicketStore,
    AsyncClassifier,
    AsyncPartialSweepStore,
    AsyncRateLimiter,
    AsyncSweepLedger,
    AsyncTeamDirectory,
    AsyncTicketStore,
)
from upload_tickets._models import SignedUpload, Team, UploadTicket, VerifiedPut
from upload_tickets._sync.protocols import (
    BatchChargingTicketStore,
    BlobStore,
    ChargingTicketStore,
    Classifier,
    PartialSweepStore,
    RateLimiter,
    SweepLedger,
    TeamDirectory,
    TicketStore,
)

if TYPE_CHECKING:
    from upload_tickets._identity import RequestContext


class Clock(Protocol):
    """Where the core gets time from; it never calls ``time.time()`` itself."""

    def now_us(self) -> int:
        """Microseconds since the Unix epoch."""
        ...


@runtime_checkable
class ClockFollower(Protocol):
    """A component that keeps time (an in-process limiter) and can take the service's clock.

    ``own_clock`` is the clock it was built with, or ``None``; the service hands its
    clock to every follower, so TTLs and refills move together, and refuses to start
    when two different clocks were given.
    """

    @property
    def own_clock(self) -> Clock | None:
        """The clock given at construction, or ``None``."""
        ...

    def follow_clock(self, clock: Clock) -> None:
        """Keep time by ``clock`` from now on."""
        ...


class Signer(Protocol):
    """Turns a ticket into a signed PUT the client can make without an API key."""

    def sign_put(self, ticket: UploadTicket) -> SignedUpload:
        """Sign a PUT for ``ticket``; the same ticket always gives the same URL."""
        ...


@runtime_checkable
class VerifyingSigner(Signer, Protocol):
    """A signer whose URLs our own upload host serves, so it also verifies them."""

    def verify_put(self, upload_id: str, query: str, now_us: int) -> VerifiedPut:
        """Check the raw query string of a PUT to ``upload_id``; raise ``SignatureInvalid``."""
        ...


class PoseDetector(Protocol):
    """Guesses the pose shown in a decoded reference image."""

    def detect(self, image: object) -> str:
        """A pose label such as ``"front"``, or ``"unknown"``."""
        ...


@runtime_checkable
class TeamResolver(Protocol):
    """Names the team making a request, from its head (see :mod:`upload_tickets.auth`)."""

    def resolve(self, request: RequestContext) -> Team:
        """The calling team, or raise ``Unauthenticated`` (with a ``code`` and ideally a ``challenge``)."""
        ...


@runtime_checkable
class AsyncTeamResolver(Protocol):
    """A :class:`TeamResolver` that awaits (a session store, a token introspection call)."""

    async def resolve(self, request: RequestContext) -> Team:
        """The calling team, or raise ``Unauthenticated``."""
        ...


__all__ = [
    "AsyncBatchChargingTicketStore",
    "AsyncBlobStore",
    "AsyncChargingTicketStore",
    "AsyncClassifier",
    "AsyncPartialSweepStore",
    "AsyncRateLimiter",
    "AsyncSweepLedger",
    "AsyncTeamDirectory",
    "AsyncTeamResolver",
    "AsyncTicketStore",
    "BatchChargingTicketStore",
    "BlobStore",
    "ChargingTicketStore",
    "Classifier",
    "Clock",
    "ClockFollower",
    "PartialSweepStore",
    "PoseDetector",
    "RateLimiter",
    "Signer",
    "SweepLedger",
    "TeamDirectory",
    "TeamResolver",
    "TicketStore",
    "VerifyingSigner",
]
