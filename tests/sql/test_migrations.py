"""The shipped Alembic revisions: head equals ``metadata``, and old databases upgrade in place."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from tests.sql.conftest import DIALECTS, dialect_url, drop_schema, file_blobs, sql_service
from upload_tickets import CharacterState, ManualClock, State, Team
from upload_tickets.testing import START_US, make_ticket
from upload_tickets_sql import VERSION_TABLE, SqlBackend, metadata, open_backend, upgrade
from upload_tickets_sql._migrations import alembic_config, context_options


@pytest.fixture(params=DIALECTS)
def empty(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlBackend]:
    """A backend on a database holding none of our tables and no migration history."""
    backend = open_backend(dialect_url(request.param, tmp_path))
    drop_schema(backend.engine)
    yield backend
    # Leave the database at head for whoever uses it next.
    upgrade(backend.engine)
    backend.dispose()


def _differences(engine: sa.Engine) -> list[object]:
    with engine.connect() as connection:
        return list(compare_metadata(MigrationContext.configure(connection, opts=context_options()), metadata))


def _at_head(engine: sa.Engine) -> bool:
    with engine.connect() as connection:
        head = ScriptDirectory.from_config(alembic_config(connection)).get_current_head()
        return MigrationContext.configure(connection, opts=context_options()).get_current_revision() == head


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names()) & {*metadata.tables, VERSION_TABLE}


def test_head_is_exactly_the_metadata(empty: SqlBackend) -> None:
    upgrade(empty.engine)
    assert _differences(empty.engine) == []
    assert _at_head(empty.engine)
    upgrade(empty.engine)  # at head already: nothing to do, nothing fails
    assert _at_head(empty.engine)


def test_a_ticket_written_by_0_1_is_read_and_consumed_after_the_upgrade(empty: SqlBackend, tmp_path: Path) -> None:
    upgrade(empty.engine, "0001")
    ticket = make_ticket(team="old", now_us=START_US)
    with empty.engine.begin() as connection:
        # Exactly the columns 0.1 wrote, with the key layout it used.
        connection.execute(
            sa.text(
                "INSERT INTO upload_tickets (id, team, filename, extension, content_type, api_version, created_at,"
                " url_expires_at, expires_at, max_bytes, blob_key, state, version, size, uploaded_at, detected_type,"
                " width, height, pose, character_id, idempotency_key, request_hash) VALUES (:id, :team, :filename,"
                " :extension, :content_type, :api_version, :created_at, :url_expires_at, :expires_at, :max_bytes,"
                " :blob_key, 'uploaded', 1, 3, :created_at, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"
            ),
            {
                "id": ticket.id,
                "team": ticket.team,
                "filename": ticket.filename,
                "extension": ticket.extension,
                "content_type": ticket.content_type,
                "api_version": ticket.api_version,
                "created_at": ticket.created_at,
                "url_expires_at": ticket.url_expires_at,
                "expires_at": ticket.expires_at,
                "max_bytes": ticket.max_bytes,
                "blob_key": f"{ticket.id}.0a1b2c3d4e5f",
            },
        )
    upgrade(empty.engine)

    stored = empty.get("old", ticket.id)
    assert stored is not None
    assert (stored.state, stored.version, stored.size, stored.etag) == (State.UPLOADED, 1, 3, None)
    assert stored.blob_key == f"{ticket.id}.0a1b2c3d4e5f"
    service = sql_service(empty, ManualClock(START_US + 1), file_blobs(tmp_path / "blobs"))
    service.blobs.put(stored.blob_key, [b"old"], max_bytes=3, content_type=stored.content_type)
    character = service.consume(Team("old"), [ticket.id])
    assert character.state is CharacterState.READY
    assert service.get(Team("old"), ticket.id).state is State.CONSUMED
    with service.blobs.open(character.refs[0].blob_key) as stream:
        assert stream.read() == b"old"


def test_tables_made_before_versioning_are_adopted(empty: SqlBackend) -> None:
    upgrade(empty.engine, "0001")
    # 0.1's create_tables() made these very tables, with no version table.
    sa.Table(VERSION_TABLE, sa.MetaData()).drop(empty.engine)
    empty.create_tables()
    assert _at_head(empty.engine)
    assert _differences(empty.engine) == []


def test_tables_dropped_behind_the_version_table_are_made_again(empty: SqlBackend) -> None:
    upgrade(empty.engine)
    metadata.drop_all(empty.engine)  # what a test or benchmark reset does
    upgrade(empty.engine)
    assert _differences(empty.engine) == []


def test_processes_starting_together_migrate_once(empty: SqlBackend) -> None:
    errors: list[BaseException] = []

    def start() -> None:
        try:
            upgrade(empty.engine)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert _differences(empty.engine) == []


def test_downgrade_to_nothing_and_back(empty: SqlBackend) -> None:
    upgrade(empty.engine)
    with empty.engine.begin() as connection:
        command.downgrade(alembic_config(connection), "base")
    assert _tables(empty.engine) == {VERSION_TABLE}
    upgrade(empty.engine)
    assert _differences(empty.engine) == []
