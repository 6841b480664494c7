"""Engines on this package's drivers, for an application's own tables next to ours (e.g. API keys)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from upload_tickets_sql._async import _primitives as async_flavour
from upload_tickets_sql._sync import _primitives as sync_flavour
from upload_tickets_sql._urls import POOL_DEFAULTS, database_url, driver_error

#: Runs sync SQLAlchemy code where the async flavour's driver runs (see :func:`open_engine`).
AsyncDriver = async_flavour.Driver


def open_engine(url: str, *, async_driver: bool = False, **options: Any) -> sa.Engine:
    """A sync SQLAlchemy engine for ``url`` on the default driver of one flavour, pooled as the backend's are.

    With ``async_driver`` the engine runs over the async flavour's driver (asyncpg, aiomysql; on
    SQLite, sqlite3 still): call it only through an :class:`AsyncDriver`, as in
    ``await AsyncDriver(engine)(work, ...)``, where ``work`` is plain SQLAlchemy code.
    """
    parsed = database_url(url, async_driver=async_driver)
    if parsed.get_backend_name() != "sqlite":
        options = {**POOL_DEFAULTS, **options}
    try:
        if async_driver:
            return async_flavour.create_engine(parsed, **options)
        return sync_flavour.create_engine(parsed, **options)
    except (ImportError, sa.exc.NoSuchModuleError) as error:  # a driver, or greenlet, missing
        raise driver_error(parsed, error, async_driver=async_driver) from error
