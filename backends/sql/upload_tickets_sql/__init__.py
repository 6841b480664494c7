"""SQL ticket store and rate limiter for upload-tickets (SQLite, PostgreSQL, MariaDB), sync and async.

``AsyncSqlBackend`` (on SQLAlchemy's asyncio extension) is the one source of the logic;
the sync ``SqlBackend`` is generated from it (``scripts/unasync.py``).
"""

from upload_tickets_sql._async._backend import AsyncSqlBackend
from upload_tickets_sql._async._factory import async_backend_from_url, async_open_backend
from upload_tickets_sql._engines import AsyncDriver, open_engine
from upload_tickets_sql._migrations import VERSION_TABLE, create_tables, upgrade
from upload_tickets_sql._schema import buckets, characters, idempotency_claims, metadata, tickets
from upload_tickets_sql._sync._backend import SqlBackend
from upload_tickets_sql._sync._factory import backend_from_url, open_backend
from upload_tickets_sql._urls import ASYNC_DRIVERS, DRIVERS

__all__ = [
    "ASYNC_DRIVERS",
    "DRIVERS",
    "AsyncDriver",
    "VERSION_TABLE",
    "AsyncSqlBackend",
    "SqlBackend",
    "async_backend_from_url",
    "async_open_backend",
    "backend_from_url",
    "buckets",
    "characters",
    "create_tables",
    "idempotency_claims",
    "metadata",
    "open_backend",
    "open_engine",
    "tickets",
    "upgrade",
]
