"""Reading request bodies under a byte cap."""

from __future__ import annotations

from collections.abc import AsyncIterable

from upload_tickets._errors import PayloadTooLarge


async def read_capped(chunks: AsyncIterable[bytes], max_bytes: int, what: str = "upload") -> bytes:
    """Join ``chunks``, refusing (before reading further) once they pass ``max_bytes``."""
    buffer = bytearray()
    async for chunk in chunks:
        buffer += chunk
        if len(buffer) > max_bytes:
            raise PayloadTooLarge(f"{what} exceeds {max_bytes} bytes")
    return bytes(buffer)
