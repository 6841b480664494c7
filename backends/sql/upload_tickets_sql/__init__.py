"""SQL ticket store and rate limiter for upload-tickets (SQLite, PostgreSQL, MariaDB)."""

from typing import Any

from upload_tickets import Backend
from upload_tickets_sql._backend import SqlBackend, open_backend
from upload_tickets_sql._migrations import VERSION_TABLE, create_tables, upgrade
from upload_tickets_sql._schema import buckets, characters, idempotency_claims, metadata, tickets


def backend_from_url(url: str, **options: Any) -> Backend:
    """Entry point for ``upload_tickets.backend_from_url``: one object is store and limiter.

    Takes the options of :func:`open_backend`. ``clock=`` is accepted and ignored: rate
    limits are timed by the database clock, so app servers with skewed clocks agree.
    """
    backend = open_backend(url, **options)
    return Backend(store=backend, limiter=backend)


__all__ = [
    "VERSION_TABLE",
    "SqlBackend",
    "backend_from_url",
    "buckets",
    "characters",
    "create_tables",
    "idempotency_claims",
    "metadata",
    "open_backend",
    "tickets",
    "upgrade",
]
