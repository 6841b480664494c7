"""The Alembic environment of the upload-tickets tables.

:func:`upload_tickets_sql.upgrade` runs it with its own connection (in
``config.attributes["connection"]``). Maintainers writing the next revision can run the
``alembic`` command with ``script_location`` set to this folder and ``sqlalchemy.url``
to a database at head, e.g. ``alembic revision --autogenerate``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from upload_tickets_sql._migrations import context_options


def _run(connection: sa.Connection) -> None:
    context.configure(connection=connection, **context_options())
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url") or "", poolclass=sa.NullPool)
    with engine.connect() as own:
        _run(own)


if context.is_offline_mode():
    raise SystemExit("the upload-tickets migrations run online only (upload_tickets_sql.upgrade)")
_main()
