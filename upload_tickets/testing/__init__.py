"""The contract suite every upload-tickets backend runs (needs pytest and hypothesis).

- :class:`TicketStoreContract`, :class:`RateLimiterContract`, :class:`SignerContract`,
  :class:`VerifyingSignerContract`, :class:`BlobStoreContract`, :class:`SweepLedgerContract`:
  subclass, give the fixture.
- :func:`service_state_machine`: a Hypothesis state machine over the whole service.
- :class:`ServiceOwnershipContract`: characters keep their bytes through sweeps; expired
  uploads lose theirs. :func:`sweep_consume_race`: a consume against a sweep, real clock.
- :class:`ServiceRulesContract`: refused requests change and cost nothing; charges,
  idempotent replays and team policies hold on every store.
- :func:`consume_race`, :func:`bucket_hammer`: races between OS processes
  (:func:`async_consume_race`, :func:`async_bucket_hammer`: each process runs many tasks
  on the async facade).
- :func:`blocking`, :func:`event_loop_thread`: run every suite above on an async
  component (``AsyncTicketStore``, ``AsyncUploadTickets``, ...) through one long-lived
  event loop, so a backend's async flavour passes the very same contract.
"""

from upload_tickets.testing._fixtures import START_US, image_bytes, make_character, make_ticket, new_ticket_id
from upload_tickets.testing.blocking import blocking, event_loop_thread
from upload_tickets.testing.contracts import (
    BlobStoreContract,
    RateLimiterContract,
    SignerContract,
    SweepLedgerContract,
    TicketStoreContract,
    VerifyingSignerContract,
)
from upload_tickets.testing.ownership import RaceOutcome, ServiceOwnershipContract, sweep_consume_race
from upload_tickets.testing.races import async_bucket_hammer, async_consume_race, bucket_hammer, consume_race
from upload_tickets.testing.rules import ServiceRulesContract
from upload_tickets.testing.state_machine import service_state_machine

__all__ = [
    "START_US",
    "async_bucket_hammer",
    "async_consume_race",
    "BlobStoreContract",
    "RaceOutcome",
    "RateLimiterContract",
    "ServiceOwnershipContract",
    "ServiceRulesContract",
    "SignerContract",
    "SweepLedgerContract",
    "TicketStoreContract",
    "VerifyingSignerContract",
    "blocking",
    "bucket_hammer",
    "consume_race",
    "event_loop_thread",
    "image_bytes",
    "make_character",
    "make_ticket",
    "new_ticket_id",
    "service_state_machine",
    "sweep_consume_race",
]
