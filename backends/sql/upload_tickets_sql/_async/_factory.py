"""Open an :class:`AsyncSqlBackend` from a database URL (async source of ``open_backend``)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection

from upload_tickets import AsyncBackend, ConfigurationError
from upload_tickets.backend_kit import Clock
from upload_tickets_sql._async._backend import AsyncSqlBackend
from upload_tickets_sql._async._primitives import ASYNC_FLAVOUR, create_engine, run_setup
from upload_tickets_sql._urls import POOL_DEFAULTS, check_sqlite_path, database_url, driver_error, wrong_flavour


def _sqlite_engine(url: sa.URL, busy_timeout_ms: int, **options: Any) -> sa.Engine:
    engine = create_engine(url, **options)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's BEGIN below be the only transaction control the driver sees.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # Take the write lock up front: a deferred transaction that later needs to write
        # can fail with SQLITE_BUSY at once instead of waiting out busy_timeout.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _backend(parsed: sa.URL, attempts: int, busy_timeout_ms: int, engine_options: dict[str, Any]) -> AsyncSqlBackend:
    if parsed.get_backend_name() == "sqlite":
        return AsyncSqlBackend(_sqlite_engine(parsed, busy_timeout_ms, **engine_options), attempts=attempts)
    options = {**POOL_DEFAULTS, **engine_options}
    return AsyncSqlBackend(
        create_engine(parsed, **options),
        autocommit_engine=create_engine(parsed, isolation_level="AUTOCOMMIT", **options),
        attempts=attempts,
    )


def async_open_backend(
    url: str,
    *,
    create: bool = False,
    attempts: int = 5,
    busy_timeout_ms: int = 10_000,
    clock: Clock | None = None,
    **engine_options: Any,
) -> AsyncSqlBackend:
    """Open an :class:`AsyncSqlBackend` from a database URL; ``engine_options`` go to the engine.

    Schemes are case-insensitive; a URL that names no driver runs on this flavour's
    default one (:data:`upload_tickets_sql.ASYNC_DRIVERS`, :data:`upload_tickets_sql.DRIVERS`).
    A URL that cannot work (a driver that is not installed or is of the other flavour, a
    SQLite folder that does not exist) raises ``ConfigurationError`` naming the fix. With
    ``create`` the tables are created or migrated to the newest revision (:func:`upgrade`)
    before this returns, which blocks (call it at startup, or the backend's own
    ``create_tables()`` instead); a server out of reach is then ``StoreUnavailable``.
    ``clock`` is accepted and ignored: token buckets are timed by the database clock,
    which every app server shares.
    """
    parsed = database_url(url, async_driver=ASYNC_FLAVOUR)
    if parsed.get_backend_name() == "sqlite":
        check_sqlite_path(parsed)
    try:
        backend = _backend(parsed, attempts, busy_timeout_ms, engine_options)
    except (ImportError, sa.exc.NoSuchModuleError) as error:  # a driver, or greenlet, missing
        raise driver_error(parsed, error, async_driver=ASYNC_FLAVOUR) from error
    except sa.exc.InvalidRequestError as error:
        # SQLAlchemy's async extension refuses a sync driver with this error.
        raise wrong_flavour(parsed, async_driver=ASYNC_FLAVOUR) from error
    except (sa.exc.ArgumentError, TypeError, ValueError) as error:
        raise ConfigurationError(f"cannot open {parsed.render_as_string(hide_password=True)}: {error}") from error
    try:
        if backend.engine.dialect.is_async and not ASYNC_FLAVOUR:
            raise wrong_flavour(parsed, async_driver=ASYNC_FLAVOUR)
        if create:
            run_setup(_created, backend)
    except BaseException:
        run_setup(backend.dispose)
        raise
    return backend


async def _created(backend: AsyncSqlBackend) -> None:
    try:
        await backend.create_tables()
    finally:
        # Async connections belong to the loop that opened them: none may outlive the setup's.
        await backend.dispose()


def async_backend_from_url(url: str, **options: Any) -> AsyncBackend:
    """Entry point for ``upload_tickets.async_backend_from_url``: one object is store and limiter.

    Takes the options of :func:`async_open_backend`. ``clock=`` is accepted and ignored: rate
    limits are timed by the database clock, so app servers with skewed clocks agree.
    """
    backend = async_open_backend(url, **options)
    return AsyncBackend(store=backend, limiter=backend)
