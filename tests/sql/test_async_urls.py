"""Database URLs under the async flavour: its default drivers, and a driver of the wrong flavour named as the fix."""

from __future__ import annotations

import asyncio
import importlib.util
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.services import MARIADB_URL, POSTGRES_URL, require
from upload_tickets import (
    AsyncBackend,
    ConfigurationError,
    IdempotencyClaim,
    RatePolicy,
    async_backend_from_url,
    backend_from_url,
)
from upload_tickets_sql import ASYNC_DRIVERS, DRIVERS, AsyncSqlBackend, async_open_backend, open_backend

_SERVERS = {"postgresql": POSTGRES_URL, "mariadb": MARIADB_URL}


def _server_url(server: str, scheme: str, *, username: str | None = None, database: str | None = None) -> str:
    """The URL of a local test server under another scheme (its driver dropped or replaced), user or database."""
    parsed = sa.make_url(require(_SERVERS[server], server))
    if username is not None:
        parsed = parsed.set(username=username)
    if database is not None:
        parsed = parsed.set(database=database)
    return f"{scheme}://{parsed.render_as_string(hide_password=False).partition('://')[2]}"


@pytest.mark.parametrize(
    ("url", "use_instead"),
    [
        # Not installed here.
        ("postgresql+psycopg2://app:secret@db.example/tickets", "postgresql+asyncpg://app:***@db.example/tickets"),
        ("mysql+mysqldb://root@db.example/tickets", "mysql+aiomysql://root@db.example/tickets"),
        ("POSTGRESQL+PG8000://db.example/tickets", "postgresql+asyncpg://db.example/tickets"),
        # Installed, but sync only.
        ("mysql+pymysql://app:secret@db.example/tickets", "mysql+aiomysql://app:***@db.example/tickets"),
        ("mariadb+pymysql://root@db.example/tickets", "mariadb+aiomysql://root@db.example/tickets"),
    ],
)
def test_a_sync_only_driver_under_the_async_backend_names_the_async_url(url: str, use_instead: str) -> None:
    assert importlib.util.find_spec("psycopg2") is None, "psycopg2 is installed: pick a driver that is not"
    assert importlib.util.find_spec("pg8000") is None, "pg8000 is installed: pick a driver that is not"
    for opening in (async_open_backend, async_backend_from_url):
        with pytest.raises(ConfigurationError) as caught:
            opening(url)
        assert use_instead in caught.value.message
        assert "secret" not in caught.value.message


@pytest.mark.parametrize(
    ("url", "use_instead"),
    [
        ("postgresql+asyncpg://app:secret@db.example/tickets", "postgresql+psycopg://app:***@db.example/tickets"),
        ("Postgres+AsyncPG://db.example/tickets", "postgresql+psycopg://db.example/tickets"),
        ("mysql+aiomysql://root@db.example/tickets", "mysql+pymysql://root@db.example/tickets"),
        ("mariadb+asyncmy://app:secret@db.example/tickets", "mariadb+pymysql://app:***@db.example/tickets"),
    ],
)
def test_an_asyncio_driver_under_the_sync_backend_names_the_sync_url(url: str, use_instead: str) -> None:
    for opening in (open_backend, backend_from_url):
        with pytest.raises(ConfigurationError) as caught:
            opening(url)
        assert use_instead in caught.value.message
        assert "asyncio driver" in caught.value.message
        assert "secret" not in caught.value.message


def test_aiosqlite_under_the_sync_backend_names_plain_sqlite(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        open_backend(f"sqlite+aiosqlite:///{tmp_path / 'tickets.db'}")
    assert f"use sqlite:///{tmp_path / 'tickets.db'}" in caught.value.message


def test_each_database_has_a_default_driver_in_each_flavour() -> None:
    assert set(ASYNC_DRIVERS) == set(DRIVERS) == {"postgresql", "mysql", "mariadb", "sqlite"}
    # The async flavour's server drivers are asyncio ones; SQLite's may be sqlite3 on a thread of its own.
    assert {ASYNC_DRIVERS[name] for name in ("postgresql", "mysql", "mariadb")} == {"asyncpg", "aiomysql"}


@pytest.mark.parametrize(
    ("server", "scheme", "database"),
    [
        ("sqlite", "sqlite", "sqlite"),
        ("sqlite", "SQLite", "sqlite"),
        ("postgresql", "postgres", "postgresql"),
        ("postgresql", "PostgreSQL", "postgresql"),
        ("mariadb", "mysql", "mysql"),
        ("mariadb", "MySQL", "mysql"),
        ("mariadb", "mariadb", "mariadb"),
    ],
)
def test_schemes_without_a_driver_open_the_async_default_and_work_on_the_callers_loop(
    server: str, scheme: str, database: str, tmp_path: Path
) -> None:
    url = f"{scheme}:///{tmp_path / 'tickets.db'}" if server == "sqlite" else _server_url(server, scheme)

    async def main() -> None:
        # Called inside a running loop: the migration runs on a loop of its own and leaves no connection
        # to it behind; the calls after it connect on this one.
        backend = async_backend_from_url(url, create=True)
        store = backend.store
        assert isinstance(backend, AsyncBackend)
        assert isinstance(store, AsyncSqlBackend)
        assert backend.limiter is store
        try:
            assert store.engine.url.drivername == f"{database}+{ASYNC_DRIVERS[database]}"
            policy = RatePolicy("urls", limit=1, period=60, burst=2)
            assert (await store.acquire(f"urls:{uuid.uuid4()}", policy)).remaining == 1
            claim = IdempotencyClaim("consume", str(uuid.uuid4()), "h", "chr_1", 2**62)
            assert await store.claim_idempotency_key("urls", claim, 0) == claim
        finally:
            await store.aclose()

    asyncio.run(main())


@pytest.mark.parametrize("create", [False, True])
def test_a_sqlite_file_in_a_missing_folder_names_the_folder(tmp_path: Path, create: bool) -> None:
    missing = tmp_path / "no" / "such" / "folder"
    for url in (f"sqlite:///{missing / 'tickets.db'}", f"sqlite+aiosqlite:///{missing / 'tickets.db'}"):
        with pytest.raises(ConfigurationError) as caught:
            async_open_backend(url, create=create)
        assert str(missing) in caught.value.message
        assert "create the folder" in caught.value.message
    assert not missing.exists()


@pytest.mark.parametrize(
    ("server", "username"), [("postgresql", "no_such_role"), ("mariadb", "no_such_user")], ids=["postgresql", "mariadb"]
)
def test_credentials_the_server_refuses_are_a_configuration_error(server: str, username: str) -> None:
    scheme = "postgresql" if server == "postgresql" else "mysql"
    with pytest.raises(ConfigurationError) as caught:
        async_open_backend(_server_url(server, scheme, username=username), create=True)
    assert "fix the user or password" in caught.value.message


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_a_database_that_does_not_exist_is_a_configuration_error(server: str) -> None:
    scheme = "postgresql" if server == "postgresql" else "mysql"
    with pytest.raises(ConfigurationError) as caught:
        async_open_backend(_server_url(server, scheme, database="no_such_database"), create=True)
    assert "no_such_database" in caught.value.message
    assert "create it" in caught.value.message
