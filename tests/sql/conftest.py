"""One SQL backend per dialect, shared by a test module, emptied before each use."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import MARIADB_URL, POSTGRES_URL, require
from upload_tickets_sql import SqlBackend, metadata, open_backend

DIALECTS = ["sqlite", "postgresql", "mariadb"]


def dialect_url(dialect: str, tmp_dir: Path) -> str:
    """A URL for ``dialect``: a temporary SQLite file, or the local servers."""
    if dialect == "sqlite":
        return f"sqlite:///{tmp_dir / 'tickets.db'}"
    return require(POSTGRES_URL if dialect == "postgresql" else MARIADB_URL, dialect)


@pytest.fixture(scope="module", params=DIALECTS)
def sql_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    url = dialect_url(request.param, tmp_path_factory.mktemp(request.param))
    backend = open_backend(url)
    # A fresh schema per module, so a change to the tables is always picked up.
    metadata.drop_all(backend.engine)
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
