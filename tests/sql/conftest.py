"""One SQL backend per dialect, shared by a test module, emptied before each use; the same for the async flavour.

The async backend lives on ONE event loop for the whole session (the ``portal``
fixture), as an app's long-lived loop would run it: its pooled connections belong to
that loop, so it is opened, cleared and closed there, and driven through
:func:`~upload_tickets.testing.blocking.blocking`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from anyio.from_thread import BlockingPortal

from tests.services import MARIADB_URL, POSTGRES_URL, require
from tests.support import make_signer
from upload_tickets import AsyncFileBlobStore, AsyncUploadTickets, FileBlobStore, UploadTickets
from upload_tickets.protocols import AsyncBlobStore, BlobStore, Clock
from upload_tickets.testing import event_loop_thread
from upload_tickets_sql import (
    VERSION_TABLE,
    AsyncSqlBackend,
    SqlBackend,
    async_open_backend,
    metadata,
    open_backend,
)

DIALECTS = ["sqlite", "postgresql", "mariadb"]


def dialect_url(dialect: str, tmp_dir: Path) -> str:
    """A URL for ``dialect``: a temporary SQLite file, or this run's own database on the server."""
    if dialect == "sqlite":
        return f"sqlite:///{tmp_dir / 'tickets.db'}"
    return require(POSTGRES_URL if dialect == "postgresql" else MARIADB_URL, dialect)


def drop_schema(engine: sa.Engine) -> None:
    """Drop our tables and their migration history: the next upgrade starts from nothing."""
    metadata.drop_all(engine)
    sa.Table(VERSION_TABLE, sa.MetaData()).drop(engine, checkfirst=True)


def sql_service(backend: SqlBackend, clock: Clock, blobs: BlobStore) -> UploadTickets:
    """A service on ``backend`` (store and limiter) with a local upload host."""
    return UploadTickets(store=backend, limiter=backend, signer=make_signer(), blobs=blobs, clock=clock)


def async_url(url: str) -> str:
    """``url`` without its driver: the async flavour runs it on its own default (``ASYNC_DRIVERS``).

    The run's server URLs name sync drivers (``mysql+pymysql`` would be refused, and
    ``postgresql+psycopg`` is not the default); ``postgresql://`` picks asyncpg, ``mysql://``
    aiomysql, ``sqlite://`` whatever ``ASYNC_DRIVERS`` names for SQLite.
    """
    parsed = sa.make_url(url)
    return parsed.set(drivername=parsed.get_backend_name()).render_as_string(hide_password=False)


def async_sql_service(
    backend: AsyncSqlBackend, clock: Clock, blobs: AsyncBlobStore, **options: Any
) -> AsyncUploadTickets:
    """An ``AsyncUploadTickets`` on ``backend`` (store and limiter: a mint is one call) with a local upload host."""
    return AsyncUploadTickets(store=backend, limiter=backend, signer=make_signer(), blobs=blobs, clock=clock, **options)


def async_file_blobs(root: Path) -> AsyncFileBlobStore:
    """Blobs as files under ``root``, async flavour."""
    return AsyncFileBlobStore(root, fsync=False)


def file_blobs(root: Path) -> FileBlobStore:
    """Blobs as files under ``root``."""
    # No fsync: the tests kill processes, not machines, and the page cache survives that.
    return FileBlobStore(root, fsync=False)


def blob_keys(root: Path) -> set[str]:
    """Every key a ``FileBlobStore`` at ``root`` holds (file paths without their shard folder)."""
    keys = set()
    for path in root.rglob("*"):
        if path.is_file() and not path.name.startswith(".incoming-"):
            *folders, _shard, name = path.relative_to(root).parts
            keys.add("/".join([*folders, name]))
    return keys


@pytest.fixture(scope="module", params=DIALECTS)
def sql_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    url = dialect_url(request.param, tmp_path_factory.mktemp(request.param))
    backend = open_backend(url)
    # A fresh schema per module, migrated from nothing, so a new revision is always run.
    drop_schema(backend.engine)
    backend.create_tables()
    backend.dispose()
    return url


@pytest.fixture(scope="module")
def shared_backend(sql_url: str) -> Iterator[SqlBackend]:
    backend = open_backend(sql_url)
    yield backend
    backend.dispose()


@pytest.fixture
def sql_backend(shared_backend: SqlBackend) -> SqlBackend:
    shared_backend.clear()
    return shared_backend


@pytest.fixture(scope="session")
def portal() -> Iterator[BlockingPortal]:
    """One event loop, in a thread, for every async SQL test of the session (as an app's loop)."""
    with event_loop_thread() as portal:
        yield portal


@contextmanager
def opened_async_backend(portal: BlockingPortal, url: str, **options: Any) -> Iterator[AsyncSqlBackend]:
    """An ``AsyncSqlBackend`` on ``url``'s async driver, opened and closed on ``portal``'s loop.

    Its connections belong to that loop, so every call to it must run there too
    (``portal.call``, or ``blocking(backend, portal)``).
    """
    backend = portal.call(lambda: async_open_backend(async_url(url), **options))
    try:
        yield backend
    finally:
        portal.call(backend.aclose)


@pytest.fixture(scope="module")
def shared_async_backend(sql_url: str, portal: BlockingPortal) -> Iterator[AsyncSqlBackend]:
    with opened_async_backend(portal, sql_url) as backend:
        yield backend


@pytest.fixture
def async_sql_backend(shared_async_backend: AsyncSqlBackend, portal: BlockingPortal) -> AsyncSqlBackend:
    """:func:`sql_backend`, async flavour: its calls must run on ``portal`` (``blocking(backend, portal)``)."""
    portal.call(shared_async_backend.clear)
    return shared_async_backend
