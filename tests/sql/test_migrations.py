"""The shipped Alembic revisions: head equals ``metadata``, and old databases upgrade in place."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from tests.sql.conftest import DIALECTS, dialect_url, drop_schema, file_blobs, sql_service
from upload_tickets import CharacterState, IdempotencyClaim, ManualClock, State, SweepBeat, Team
from upload_tickets.testing import START_US, image_bytes, make_character, make_ticket
from upload_tickets_sql import VERSION_TABLE, SqlBackend, idempotency_claims, metadata, open_backend, upgrade
from upload_tickets_sql._migrations import alembic_config, context_options
from upload_tickets_sql._schema import TICKET_FIELD_COLUMNS, sweep_ledger, tickets


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


def _revisions(engine: sa.Engine) -> list[str]:
    """Every shipped revision, oldest first."""
    with engine.connect() as connection:
        script = ScriptDirectory.from_config(alembic_config(connection))
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


def _schema(engine: sa.Engine) -> dict[str, Any]:
    """Our tables as the database reports them: columns, keys and indexes."""
    inspector = sa.inspect(engine)
    indexes = inspector.get_indexes
    return {
        table: (
            [(column["name"], str(column["type"]), column["nullable"]) for column in inspector.get_columns(table)],
            inspector.get_pk_constraint(table)["constrained_columns"],
            sorted((index["name"] or "", index["column_names"], index["unique"]) for index in indexes(table)),
        )
        for table in sorted(_tables(engine) - {VERSION_TABLE})
    }


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
    image = image_bytes(ticket.content_type)
    with empty.engine.begin() as connection:
        # Exactly the columns 0.1 wrote, with the key layout it used.
        connection.execute(
            sa.text(
                "INSERT INTO upload_tickets (id, team, filename, extension, content_type, api_version, created_at,"
                " url_expires_at, expires_at, max_bytes, blob_key, state, version, size, uploaded_at, detected_type,"
                " width, height, pose, character_id, idempotency_key, request_hash) VALUES (:id, :team, :filename,"
                " :extension, :content_type, :api_version, :created_at, :url_expires_at, :expires_at, :max_bytes,"
                " :blob_key, 'uploaded', 1, :size, :created_at, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"
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
                "size": len(image),
            },
        )
    upgrade(empty.engine)

    stored = empty.get("old", ticket.id)
    assert stored is not None
    assert (stored.state, stored.version, stored.size, stored.etag) == (State.UPLOADED, 1, len(image), None)
    assert stored.blob_key == f"{ticket.id}.0a1b2c3d4e5f"
    service = sql_service(empty, ManualClock(START_US + 1), file_blobs(tmp_path / "blobs"))
    service.blobs.put(stored.blob_key, [image], max_bytes=len(image), content_type=stored.content_type)
    character = service.consume(Team("old"), [ticket.id]).character
    assert character.state is CharacterState.READY
    assert service.get(Team("old"), ticket.id).state is State.CONSUMED
    with service.blobs.open(character.refs[0].blob_key) as stream:
        assert stream.read() == image


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


def test_every_revision_upgrades_from_the_one_before_and_downgrades_back_to_it(empty: SqlBackend) -> None:
    revisions = _revisions(empty.engine)
    assert revisions[:4] == ["0001", "0002", "0003", "0004"]
    for before, after in itertools.pairwise(revisions):
        upgrade(empty.engine, before)
        schema = _schema(empty.engine)
        upgrade(empty.engine, after)
        assert _schema(empty.engine) != schema, f"{after} changed nothing"
        with empty.engine.begin() as connection:
            command.downgrade(alembic_config(connection), before)
        assert _schema(empty.engine) == schema, f"{after}'s downgrade does not undo its upgrade"


def test_a_database_at_0002_gains_idempotency_claims_and_keeps_its_rows(empty: SqlBackend) -> None:
    upgrade(empty.engine, "0002")
    assert idempotency_claims.name not in _tables(empty.engine)
    # 0003 leaves tickets and characters as 0002 made them, so today's backend writes them.
    ticket = make_ticket(team="old")
    character = make_character([ticket])
    empty.create(ticket)
    consumed = attrs.evolve(ticket, state=State.CONSUMED, version=ticket.version + 1, character_id=character.id)
    assert empty.consume([consumed], character)

    upgrade(empty.engine)

    assert _at_head(empty.engine)
    assert empty.get("old", ticket.id) == consumed
    assert empty.get_character("old", character.id) == character
    claim = IdempotencyClaim("consume", "k" * 255, "h" * 64, character.id, START_US + 10)
    assert empty.claim_idempotency_key("old", claim, START_US) == claim
    assert empty.purge_idempotency_claims(START_US + 10, limit=10) == 1


def test_a_database_at_0003_gains_the_sweep_ledger_on_open_and_keeps_its_rows(empty: SqlBackend) -> None:
    upgrade(empty.engine, "0003")
    assert sweep_ledger.name not in _tables(empty.engine)
    ticket = make_ticket(team="old")
    empty.create(ticket)
    claim = IdempotencyClaim("consume", "k", "h" * 64, "chr_1", START_US + 10)
    assert empty.claim_idempotency_key("old", claim, START_US) == claim

    # What every process start does: open_backend(url, create=True) migrates to head.
    reopened = open_backend(empty.engine.url.render_as_string(hide_password=False), create=True)
    try:
        assert _at_head(reopened.engine)
        assert _differences(reopened.engine) == []
        assert reopened.get("old", ticket.id) == ticket
        assert reopened.claim_idempotency_key("old", claim, START_US + 1) == claim
        assert reopened.last_sweep() is None
        assert reopened.claim_sweep("worker-1", START_US, 60_000_000)
        assert not reopened.claim_sweep("worker-2", START_US + 1, 60_000_000)
        beat = SweepBeat(holder="worker-1", finished_at_us=START_US + 2, tickets=1, blobs=1, characters=0)
        reopened.record_sweep(beat)
        assert reopened.last_sweep() == beat
    finally:
        reopened.dispose()


def test_every_ticket_field_has_its_column() -> None:
    # A field added to UploadTicket needs its column and a migration; nothing drops it silently.
    assert set(TICKET_FIELD_COLUMNS) == {column.name for column in tickets.columns}
