"""One SQL backend per dialect, shared by a test module, emptied before each use."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.services import MARIADB_URL, POSTGRES_URL, require
from tests.support import make_signer
from upload_tickets import FileBlobStore, UploadTickets
from upload_tickets.protocols import BlobStore, Clock
from upload_tickets_sql import VERSION_TABLE, SqlBackend, metadata, open_backend

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
