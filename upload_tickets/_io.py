"""Reading request bodies under a byte cap, in both flavours (``read_capped`` is sync)."""

from upload_tickets._async._io import read_capped as async_read_capped
from upload_tickets._sync._io import read_capped

__all__ = ["async_read_capped", "read_capped"]
