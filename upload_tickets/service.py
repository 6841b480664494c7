"""The facade in both flavours: ``UploadTickets`` (sync) and ``AsyncUploadTickets``.

One source: ``upload_tickets/_async/service.py``; the sync class is generated from it by
``scripts/unasync.py`` (the test suite fails while the generated file is stale).
"""

from upload_tickets._async.service import AsyncUploadTickets
from upload_tickets._facade import character_key, staged_key
from upload_tickets._sync.service import UploadTickets

__all__ = ["AsyncUploadTickets", "UploadTickets", "character_key", "staged_key"]
