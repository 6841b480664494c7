# Generated from the _async folder by scripts/unasync.py: edit that source, then run it.
"""Reading request bodies under a byte cap."""

from __future__ import annotations

from collections.abc import Iterable

from upload_tickets._errors import PayloadTooLarge


def read_capped(chunks: Iterable[bytes], max_bytes: int, what: str = "upload") -> bytes:
    """Join ``chunks``, refusing (before reading further) once they pass ``max_bytes``."""
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        if len(buffer) > max_bytes:
            raise PayloadTooLarge(f"{what} exceeds {max_bytes} bytes")
    return bytes(buffer)
