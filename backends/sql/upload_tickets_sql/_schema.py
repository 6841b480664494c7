"""The tables at the newest migration, as a ``MetaData`` (for Alembic's autogenerate too).

The shipped migrations (:mod:`upload_tickets_sql._migrations`) create exactly these
tables; a test compares the two, so this module and the newest revision move together.
"""

from __future__ import annotations

from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import CreateTable

from upload_tickets import Character, Classification, State, SweepBeat, UploadTicket
from upload_tickets.backend_kit import encode_character

metadata = sa.MetaData()


def key_string(length: int) -> sa.types.TypeEngine[str]:
    """A string compared byte for byte on every dialect (ids, teams, keys).

    MariaDB compares strings case-insensitively by default; ids and keys must not.
    """
    return sa.String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"
    )


tickets = sa.Table(
    "upload_tickets",
    metadata,
    sa.Column("id", key_string(30), primary_key=True),
    sa.Column("team", key_string(128), nullable=False),
    sa.Column(
        "filename",
        sa.String(120).with_variant(mysql.VARCHAR(120, charset="utf8mb4"), "mysql", "mariadb"),
        nullable=False,
    ),
    sa.Column("extension", sa.String(8), nullable=False),
    sa.Column("content_type", sa.String(32), nullable=False),
    sa.Column("api_version", sa.String(10), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("url_expires_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    sa.Column("max_bytes", sa.BigInteger, nullable=False),
    sa.Column("blob_key", key_string(255), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("size", sa.BigInteger),
    sa.Column("uploaded_at", sa.BigInteger),
    sa.Column("detected_type", sa.String(32)),
    sa.Column("width", sa.Integer),
    sa.Column("height", sa.Integer),
    sa.Column("pose", sa.String(64)),
    sa.Column("character_id", key_string(30)),
    sa.Column("idempotency_key", key_string(255)),
    sa.Column("request_hash", sa.String(64)),
    sa.Column("etag", sa.String(200)),
    # Partial where the database allows it: most tickets carry no idempotency key, and an
    # index entry per ticket would be one more page written by every mint.
    sa.Index(
        "uq_upload_tickets_idempotency",
        "team",
        "idempotency_key",
        unique=True,
        sqlite_where=sa.text("idempotency_key IS NOT NULL"),
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    ),
    sa.Index("ix_upload_tickets_expires_at", "expires_at"),
    mysql_charset="utf8mb4",
    # SQLite: the id is the clustered key, so an insert writes one b-tree, not a table plus its key index.
    sqlite_with_rowid=False,
)

buckets = sa.Table(
    "upload_ticket_buckets",
    metadata,
    sa.Column("key", key_string(255), primary_key=True),
    sa.Column("tat", sa.BigInteger, nullable=False),
    sa.Column("allowed", sa.Boolean, nullable=False),
    sa.Column("checked_at", sa.BigInteger, nullable=False),
    mysql_charset="utf8mb4",
    sqlite_with_rowid=False,
    # Token buckets are soft state: losing them in a crash only refills them (at most one
    # extra burst per team). On PostgreSQL the table is UNLOGGED, which keeps the charge
    # out of the WAL and takes most of the limiter's cost off every mint.
    info={"unlogged": True},
)

#: The rows :meth:`SqlBackend.unsettled_characters` reads. A literal, not a bound
#: parameter: SQLite (and PostgreSQL's generic plans) use a partial index only for a
#: query that repeats its predicate verbatim.
UNSETTLED = sa.text("state <> 'ready'")

characters = sa.Table(
    "upload_ticket_characters",
    metadata,
    sa.Column("id", key_string(30), primary_key=True),
    sa.Column("team", key_string(128), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    # The whole record (upload_tickets.records); the columns above exist to be queried.
    sa.Column("body", sa.Text, nullable=False),
    sa.Index("ix_upload_ticket_characters_team_id", "team", "id"),
    # Almost every character is ready: where the database allows it the index holds only
    # the few the sweep must finish, so it costs nothing to keep and nothing to scan.
    sa.Index(
        "ix_upload_ticket_characters_unsettled",
        "state",
        sqlite_where=UNSETTLED,
        postgresql_where=UNSETTLED,
    ),
    mysql_charset="utf8mb4",
)

#: Idempotency keys of operations other than mint (whose key lives on the ticket it made).
idempotency_claims = sa.Table(
    "upload_ticket_idempotency_claims",
    metadata,
    sa.Column("team", key_string(128), primary_key=True),
    sa.Column("operation", key_string(32), primary_key=True),
    sa.Column("key", key_string(255), primary_key=True),
    # Compared byte for byte when a claim is released, so no case-insensitive collation.
    sa.Column("request_hash", key_string(64), nullable=False),
    sa.Column("resource_id", key_string(64), nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    sa.Index("ix_upload_ticket_idempotency_claims_expires_at", "expires_at"),
    mysql_charset="utf8mb4",
    sqlite_with_rowid=False,
)


#: The row :data:`sweep_ledger` keeps its one entry in.
SWEEP_ROW = "sweep"

#: Sweepers' coordination, one row (``name`` :data:`SWEEP_ROW`): the lease (``holder`` until
#: ``lease_until_us``; a released lease has neither) and the last finished sweep's heartbeat.
sweep_ledger = sa.Table(
    "upload_ticket_sweep_ledger",
    metadata,
    sa.Column("name", key_string(32), primary_key=True),
    sa.Column("holder", key_string(255)),
    sa.Column("lease_until_us", sa.BigInteger, nullable=False),
    sa.Column("beat_holder", key_string(255)),
    sa.Column("beat_finished_at_us", sa.BigInteger),
    sa.Column("beat_tickets", sa.BigInteger),
    sa.Column("beat_blobs", sa.BigInteger),
    sa.Column("beat_characters", sa.BigInteger),
    mysql_charset="utf8mb4",
    sqlite_with_rowid=False,
)


@compiles(CreateTable, "postgresql")
def _create_unlogged(create: CreateTable, compiler: Any, **options: Any) -> str:
    sql: str = compiler.visit_create_table(create, **options)
    if create.element.info.get("unlogged"):
        sql = sql.replace("CREATE TABLE", "CREATE UNLOGGED TABLE", 1)
    return sql


#: A classification is kept flat, one column per field.
_CLASSIFICATION_COLUMNS = tuple(field.name for field in attrs.fields(Classification))
#: The ticket's fields in column form; a new field of UploadTicket without its column (and
#: its migration) fails the test that compares this with ``tickets.columns``.
TICKET_FIELD_COLUMNS = tuple(
    column
    for field in attrs.fields(UploadTicket)
    for column in (_CLASSIFICATION_COLUMNS if field.name == "classification" else (field.name,))
)


def ticket_to_row(ticket: UploadTicket) -> dict[str, Any]:
    """Flatten a ticket into column values."""
    row = attrs.asdict(ticket, recurse=False)
    classification = row.pop("classification")
    row["state"] = ticket.state.value
    for name in _CLASSIFICATION_COLUMNS:
        row[name] = None if classification is None else getattr(classification, name)
    return row


def ticket_from_row(row: sa.Row[Any]) -> UploadTicket:
    """Rebuild a ticket from a ``tickets`` row."""
    values = dict(row._mapping)
    flat = {name: values.pop(name) for name in _CLASSIFICATION_COLUMNS}
    classification = None if flat["detected_type"] is None else Classification(**flat)
    values["state"] = State(values["state"])
    return UploadTicket(**values, classification=classification)


def character_to_row(character: Character) -> dict[str, Any]:
    """The ``characters`` row of ``character``: its record plus the columns queries filter on."""
    return {
        "id": character.id,
        "team": character.team,
        "state": character.state.value,
        "version": character.version,
        "created_at": character.created_at,
        "body": encode_character(character),
    }


#: :class:`SweepBeat`'s fields, each in its ``beat_`` column of :data:`sweep_ledger`.
_BEAT_FIELDS = tuple(field.name for field in attrs.fields(SweepBeat))


def beat_to_row(beat: SweepBeat) -> dict[str, Any]:
    """The :data:`sweep_ledger` columns holding ``beat``."""
    return {f"beat_{name}": getattr(beat, name) for name in _BEAT_FIELDS}


def beat_from_row(row: sa.Row[Any]) -> SweepBeat | None:
    """The heartbeat in a :data:`sweep_ledger` row, or ``None`` if no sweep has been recorded there."""
    values = row._mapping
    if values["beat_finished_at_us"] is None:
        return None
    return SweepBeat(**{name: values[f"beat_{name}"] for name in _BEAT_FIELDS})
