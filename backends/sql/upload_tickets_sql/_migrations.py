"""Schema versions: the Alembic revisions shipped in the package, and :func:`upgrade`."""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from upload_tickets import StoreUnavailable
from upload_tickets_sql._schema import metadata, tickets

#: The folder of the revisions; found from the package, so no ``alembic.ini`` is needed.
SCRIPT_LOCATION = Path(__file__).with_name("migrations")
#: Our own version table: the application's Alembic history (``alembic_version``) is left alone.
VERSION_TABLE = "upload_tickets_alembic_version"
#: Where tables made before versioning (0.1's ``create_tables``) stand.
UNVERSIONED_REVISION = "0001"

_LOCK_NAME = "upload_tickets_migrations"
_LOCK_TIMEOUT_S = 60


def context_options() -> dict[str, Any]:
    """How Alembic sees the database: our version table, our tables, nobody else's."""
    return {"version_table": VERSION_TABLE, "target_metadata": metadata, "include_name": _ours, "compare_type": True}


def _ours(name: str | None, type_: str, _parents: object) -> bool:
    # The rest of the database belongs to the application: autogenerate must not touch it.
    return type_ != "table" or name in metadata.tables


def alembic_config(connection: sa.Connection) -> Config:
    """An Alembic ``Config`` for our revisions that runs them on ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Migrate the upload-tickets tables to ``revision`` (by default the newest).

    Safe to call whenever a process starts (``open_backend(url, create=True)`` does):
    processes that start together take turns on a database lock, and a database at
    ``revision`` already is left as it is. Tables created by version 0.1 (which had no
    version table) are recognised and migrated from there. The version is kept in
    ``upload_tickets_alembic_version``, apart from the application's own Alembic history.
    ``engine`` must run transactions (not ``isolation_level="AUTOCOMMIT"``): on
    PostgreSQL the upgrade and its lock last exactly one transaction.
    """
    with engine.begin() as connection, _migration_lock(connection):
        config = alembic_config(connection)
        inspector = sa.inspect(connection)
        if not inspector.has_table(tickets.name):
            # A version row without the tables means they were dropped: start afresh.
            command.stamp(config, "base")
        elif not inspector.has_table(VERSION_TABLE):
            command.stamp(config, UNVERSIONED_REVISION)
        command.upgrade(config, revision)


@contextlib.contextmanager
def _migration_lock(connection: sa.Connection) -> Iterator[None]:
    """Hold a database-wide lock so concurrent upgrades run one after the other."""
    dialect = connection.dialect.name
    if dialect == "postgresql":
        # Released by the commit. DDL is transactional there: the upgrade is all or nothing.
        key = zlib.crc32(_LOCK_NAME.encode())
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
        yield
    elif dialect in ("mysql", "mariadb"):
        # DDL commits implicitly there, so the lock belongs to the session, not the transaction.
        if connection.execute(sa.select(sa.func.get_lock(_LOCK_NAME, _LOCK_TIMEOUT_S))).scalar() != 1:
            raise StoreUnavailable(f"another process held the schema migration lock for {_LOCK_TIMEOUT_S} s")
        try:
            yield
        finally:
            connection.execute(sa.select(sa.func.release_lock(_LOCK_NAME)))
    else:
        # SQLite: open_backend's engine begins every transaction with BEGIN IMMEDIATE,
        # which already admits one writer at a time.
        yield


def create_tables(engine: sa.Engine) -> None:
    """Create or migrate the tables: :func:`upgrade` to the newest revision."""
    upgrade(engine)
