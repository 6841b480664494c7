"""SQL ticket store and rate limiter for upload-tickets (SQLite, PostgreSQL, MariaDB)."""

from typing import Any

from upload_tickets import Backend
from upload_tickets_sql._backend import SqlBackend, open_backend
from upload_tickets_sql._migrations import VERSION_TABLE, create_tables, upgrade
from upload_tickets_sql._schema import buckets, characters, metadata, tickets


def backend_from_url(url: str, **options: Any) -> Backend:
    """Entry point for ``upload_tickets.backend_from_url``: one object is store and limiter."""
    options.pop("clock", None)  # the database clock decides; an app clock is not used
    backend = open_backend(url, **options)
    return Backend(store=backend, limiter=backend)


__all__ = [
    "VERSION_TABLE",
    "SqlBackend",
    "backend_from_url",
    "buckets",
    "characters",
    "create_tables",
    "metadata",
    "open_backend",
    "tickets",
    "upgrade",
]
