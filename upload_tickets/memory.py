"""In-process adapters in both flavours: ticket store, rate limiter, blob store and team directory.

They are thread-safe (one lock each) and bounded: expired buckets are pruned as they
go, and tickets leave through ``expired`` + ``delete`` (the sweep). Use them for tests,
single-process apps and as the reference the contract suite compares every other
backend with. The source is ``upload_tickets/_async/memory.py``; the sync classes are
generated from it.
"""

from upload_tickets._async.memory import (
    AsyncMemoryBlobStore,
    AsyncMemoryRateLimiter,
    AsyncMemoryTeamDirectory,
    AsyncMemoryTicketStore,
)
from upload_tickets._sync.memory import MemoryBlobStore, MemoryRateLimiter, MemoryTeamDirectory, MemoryTicketStore

__all__ = [
    "AsyncMemoryBlobStore",
    "AsyncMemoryRateLimiter",
    "AsyncMemoryTeamDirectory",
    "AsyncMemoryTicketStore",
    "MemoryBlobStore",
    "MemoryRateLimiter",
    "MemoryTeamDirectory",
    "MemoryTicketStore",
]
