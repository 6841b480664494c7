"""Database URLs as users write them, and each way opening one fails: a 503 or a fix to make, never a driver error."""

from __future__ import annotations

import importlib.util
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.services import MARIADB_URL, POSTGRES_URL, require
from upload_tickets import IdempotencyClaim, ManualClock, RatePolicy, StoreUnavailable, backend_from_url
from upload_tickets._errors import ConfigurationError
from upload_tickets_sql import SqlBackend, open_backend

_SERVERS = {"postgresql": POSTGRES_URL, "mariadb": MARIADB_URL}


def _server_url(
    server: str,
    scheme: str | None = None,
    *,
    username: str | None = None,
    password: str | None = None,
    database: str | None = None,
) -> str:
    """The URL of a local test server, with another scheme or other user, password or database."""
    parsed = sa.make_url(require(_SERVERS[server], server))
    url = parsed.set(username=username, password=password, database=database).render_as_string(hide_password=False)
    return url if scheme is None else f"{scheme}://{url.partition('://')[2]}"


def _down(server: str) -> str:
    # Port 1: nothing listens there, so the connection is refused at once.
    return sa.make_url(_SERVERS[server]).set(host="127.0.0.1", port=1).render_as_string(hide_password=False)


@pytest.mark.parametrize(
    ("server", "scheme", "drivername"),
    [
        ("sqlite", "sqlite", "sqlite+pysqlite"),
        ("sqlite", "SQLITE", "sqlite+pysqlite"),
        ("postgresql", "postgres", "postgresql+psycopg"),
        ("postgresql", "postgresql", "postgresql+psycopg"),
        ("postgresql", "PostgreSQL", "postgresql+psycopg"),
        ("postgresql", "Postgres+Psycopg", "postgresql+psycopg"),
        ("mariadb", "mysql", "mysql+pymysql"),
        ("mariadb", "MySQL", "mysql+pymysql"),
        ("mariadb", "mariadb", "mariadb+pymysql"),
    ],
)
def test_schemes_as_users_write_them_open_the_installed_driver(
    server: str, scheme: str, drivername: str, tmp_path: Path
) -> None:
    url = f"{scheme}:///{tmp_path / 'tickets.db'}" if server == "sqlite" else _server_url(server, scheme)
    backend = backend_from_url(url, create=True)
    store = backend.store
    assert isinstance(store, SqlBackend)
    assert backend.limiter is store
    try:
        assert store.engine.url.drivername == drivername
        policy = RatePolicy("urls", limit=1, period=60, burst=2)
        assert store.acquire(f"urls:{uuid.uuid4()}", policy).remaining == 1
        claim = IdempotencyClaim("consume", str(uuid.uuid4()), "h", "chr_1", 2**62)
        assert store.claim_idempotency_key("urls", claim, 0) == claim
    finally:
        store.dispose()


def test_a_clock_is_accepted_and_buckets_keep_the_database_time(tmp_path: Path) -> None:
    stopped = ManualClock(0)
    backend = backend_from_url(f"sqlite:///{tmp_path / 'tickets.db'}", create=True, clock=stopped)
    policy = RatePolicy("clock", limit=20, period=1, burst=1)  # a token every 50 ms
    try:
        assert backend.limiter.acquire("k", policy).allowed
        assert not backend.limiter.acquire("k", policy).allowed
        time.sleep(0.1)
        # The given clock never moved; the database's did, and refilled the bucket.
        assert backend.limiter.acquire("k", policy).allowed
    finally:
        assert isinstance(backend.store, SqlBackend)
        backend.store.dispose()


@pytest.mark.parametrize(
    ("url", "use_instead"),
    [
        ("postgresql+psycopg2://app:secret@db.example/tickets", "postgresql+psycopg://app:***@db.example/tickets"),
        ("POSTGRESQL+PSYCOPG2://db.example/tickets", "postgresql+psycopg://db.example/tickets"),
        ("mysql+mysqldb://root@db.example/tickets", "mysql+pymysql://root@db.example/tickets"),
        ("postgresql+nosuchdriver://db.example/tickets", "postgresql+psycopg://db.example/tickets"),
    ],
)
def test_a_driver_that_is_not_installed_names_the_url_to_use_instead(url: str, use_instead: str) -> None:
    assert importlib.util.find_spec("psycopg2") is None, "psycopg2 is installed: pick a driver that is not"
    with pytest.raises(ConfigurationError) as caught:
        backend_from_url(url)
    assert use_instead in caught.value.message
    assert "secret" not in caught.value.message


@pytest.mark.parametrize("url", ["oracle://db.example/tickets", "postgresql://db.example:port/tickets", "tickets.db"])
def test_a_url_that_cannot_name_a_supported_database_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError):
        open_backend(url)


@pytest.mark.parametrize("create", [False, True])
def test_a_sqlite_file_in_a_missing_folder_names_the_folder(tmp_path: Path, create: bool) -> None:
    missing = tmp_path / "no" / "such" / "folder"
    with pytest.raises(ConfigurationError) as caught:
        open_backend(f"sqlite:///{missing / 'tickets.db'}", create=create)
    assert str(missing) in caught.value.message
    assert "create the folder" in caught.value.message
    assert not missing.exists()


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_creating_tables_on_a_server_that_is_down_is_store_unavailable(server: str) -> None:
    with pytest.raises(StoreUnavailable) as caught:
        open_backend(_down(server), create=True)
    assert caught.value.http_status == 503
    assert "127.0.0.1:1" in caught.value.message
    assert "start it" in caught.value.message


@pytest.mark.parametrize(
    ("server", "parts"),
    [
        ("postgresql", {"username": "no_such_role"}),
        ("mariadb", {"password": "wrong-password"}),
        ("mariadb", {"username": "no_such_user"}),
    ],
)
def test_credentials_the_server_refuses_are_a_configuration_error(server: str, parts: dict[str, str]) -> None:
    url = _server_url(server, username=parts.get("username"), password=parts.get("password"))
    with pytest.raises(ConfigurationError) as caught:
        open_backend(url, create=True)
    assert "fix the user or password" in caught.value.message
    assert "wrong-password" not in caught.value.message


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_a_database_that_does_not_exist_is_a_configuration_error(server: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        open_backend(_server_url(server, database="no_such_database"), create=True)
    assert "no_such_database" in caught.value.message
    assert "create it" in caught.value.message
