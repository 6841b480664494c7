"""A ready service for your own app's tests: memory backends, one manual clock, a fresh key.

    from upload_tickets.testing.kit import memory_service, upload

    service = memory_service()
    upload_id = upload(service, Team("t"))  # minted and PUT through the upload host
    service.clock.advance(timedelta(hours=24))  # ManualClock: TTLs and refills move together

The async facade has twins: :func:`async_memory_service`, :func:`async_memory_api`,
:func:`async_upload` and :func:`async_put` (async memory backends, the same defaults)::

    service = async_memory_service()
    upload_id = await async_upload(service, Team("t"))

Or let the opt-in pytest plugin hand you fixtures (``upload_tickets_service``,
``upload_tickets_clock``, ``upload_tickets_api``, and the async twins
``upload_tickets_async_service``, ``upload_tickets_async_api``): add
``pytest_plugins = ["upload_tickets.testing.plugin"]`` to your ``conftest.py``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit

from upload_tickets._async._primitives import TeamSource
from upload_tickets._models import MintRequest, Team, UploadTicket
from upload_tickets._policy import SPEC_RATES, RateTable, TTLPolicy
from upload_tickets.clock import ManualClock
from upload_tickets.http import AsyncHttpApi, HttpApi
from upload_tickets.memory import (
    AsyncMemoryBlobStore,
    AsyncMemoryRateLimiter,
    AsyncMemoryTeamDirectory,
    AsyncMemoryTicketStore,
    MemoryBlobStore,
    MemoryRateLimiter,
    MemoryTeamDirectory,
    MemoryTicketStore,
)
from upload_tickets.protocols import AsyncClassifier, Classifier, TeamDirectory, TeamResolver
from upload_tickets.service import AsyncUploadTickets, UploadTickets
from upload_tickets.signing import HmacSigner
from upload_tickets.testing._fixtures import START_US, image_bytes

UPLOAD_BASE_URL = "http://uploads.test/uploads"
_UPLOAD_PATH = urlsplit(UPLOAD_BASE_URL).path + "/"
_PNG = MintRequest("front.png", "png", "image/png")


def _fresh_signer() -> HmacSigner:
    return HmacSigner(UPLOAD_BASE_URL, {"test": os.urandom(32)}, "test")


class KitService(UploadTickets):
    """An :class:`UploadTickets` whose ``clock`` is a :class:`ManualClock` (so tests can move time)."""

    clock: ManualClock


def memory_service(
    *,
    clock: ManualClock | None = None,
    ttl: TTLPolicy | None = None,
    rates: RateTable = SPEC_RATES,
    classifier: Classifier | None = None,
) -> KitService:
    """A service on fresh memory backends, with a manual clock and a fresh HMAC key.

    The clock starts at a fixed instant and drives ticket TTLs and bucket refills alike;
    uploads go to the in-process upload host (:func:`upload` PUTs through it).
    """
    shared = clock or ManualClock(START_US)
    return KitService(
        store=MemoryTicketStore(),
        limiter=MemoryRateLimiter(),
        signer=_fresh_signer(),
        blobs=MemoryBlobStore(),
        classifier=classifier,
        clock=shared,
        ttl=ttl,
        rates=rates,
    )


def memory_api(
    service: UploadTickets | None = None,
    teams: TeamResolver | TeamDirectory | Mapping[str, Team] | None = None,
) -> HttpApi:
    """An :class:`HttpApi` over ``service`` (default: :func:`memory_service`).

    ``teams`` is a resolver, a directory, or a plain ``{api_key: Team}`` mapping.
    """
    if teams is None or isinstance(teams, Mapping):
        teams = MemoryTeamDirectory(teams or {})
    return HttpApi(service or memory_service(), teams, upload_path=_UPLOAD_PATH)


def upload(service: UploadTickets, team: Team, data: bytes | None = None, request: MintRequest = _PNG) -> str:
    """Mint a ticket for ``team`` and PUT ``data`` (default: a small valid image) to it; return the upload id."""
    minted = service.mint(team, request)
    body = image_bytes(request.content_type) if data is None else data
    put(service, minted.ticket.id, minted.upload.url, body, request.content_type)
    return minted.ticket.id


def put(service: UploadTickets, upload_id: str, upload_url: str, data: bytes, content_type: str) -> UploadTicket:
    """PUT ``data`` to a signed upload URL as a client would, through the service's upload host."""
    query = urlsplit(upload_url).query
    return service.receive(upload_id, query, content_type=content_type, content_length=len(data), body=data)


class AsyncKitService(AsyncUploadTickets):
    """An :class:`AsyncUploadTickets` whose ``clock`` is a :class:`ManualClock` (so tests can move time)."""

    clock: ManualClock


def async_memory_service(
    *,
    clock: ManualClock | None = None,
    ttl: TTLPolicy | None = None,
    rates: RateTable = SPEC_RATES,
    classifier: AsyncClassifier | None = None,
) -> AsyncKitService:
    """:func:`memory_service`, async flavour: async memory backends, a manual clock, a fresh HMAC key.

    Nothing it does waits on a thread but the classifier (image decoding) by default.
    """
    shared = clock or ManualClock(START_US)
    return AsyncKitService(
        store=AsyncMemoryTicketStore(),
        limiter=AsyncMemoryRateLimiter(),
        signer=_fresh_signer(),
        blobs=AsyncMemoryBlobStore(),
        classifier=classifier,
        clock=shared,
        ttl=ttl,
        rates=rates,
    )


def async_memory_api(
    service: AsyncUploadTickets | None = None,
    teams: TeamSource | Mapping[str, Team] | None = None,
) -> AsyncHttpApi:
    """An :class:`AsyncHttpApi` over ``service`` (default: :func:`async_memory_service`).

    ``teams`` is a resolver or a directory of either flavour (a sync one runs on a worker
    thread), or a plain ``{api_key: Team}`` mapping (an :class:`AsyncMemoryTeamDirectory`).
    """
    if teams is None or isinstance(teams, Mapping):
        teams = AsyncMemoryTeamDirectory(teams or {})
    return AsyncHttpApi(service or async_memory_service(), teams, upload_path=_UPLOAD_PATH)


async def async_upload(
    service: AsyncUploadTickets, team: Team, data: bytes | None = None, request: MintRequest = _PNG
) -> str:
    """:func:`upload`, async flavour: mint for ``team``, PUT ``data`` (default: a small image), return the id."""
    minted = await service.mint(team, request)
    body = image_bytes(request.content_type) if data is None else data
    await async_put(service, minted.ticket.id, minted.upload.url, body, request.content_type)
    return minted.ticket.id


async def async_put(
    service: AsyncUploadTickets, upload_id: str, upload_url: str, data: bytes, content_type: str
) -> UploadTicket:
    """:func:`put`, async flavour: PUT ``data`` to a signed upload URL through the service's upload host."""
    query = urlsplit(upload_url).query
    return await service.receive(upload_id, query, content_type=content_type, content_length=len(data), body=data)


__all__ = [
    "UPLOAD_BASE_URL",
    "AsyncKitService",
    "KitService",
    "async_memory_api",
    "async_memory_service",
    "async_put",
    "async_upload",
    "memory_api",
    "memory_service",
    "put",
    "upload",
]
