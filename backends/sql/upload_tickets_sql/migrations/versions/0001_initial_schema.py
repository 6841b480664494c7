"""The tables of upload-tickets-sql 0.1: tickets and token buckets.

Databases made by 0.1's ``create_tables()`` (before versioning) hold exactly this
schema; :func:`upload_tickets_sql.upgrade` stamps them at this revision.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

# A type recipe, not a table: sharing it keeps this revision's schema as it was.
from upload_tickets_sql._schema import key_string

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "upload_tickets",
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
        sa.Column("blob_key", key_string(64), nullable=False),
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
        mysql_charset="utf8mb4",
        sqlite_with_rowid=False,
    )
    op.create_index(
        "uq_upload_tickets_idempotency",
        "upload_tickets",
        ["team", "idempotency_key"],
        unique=True,
        sqlite_where=sa.text("idempotency_key IS NOT NULL"),
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )
    op.create_index("ix_upload_tickets_expires_at", "upload_tickets", ["expires_at"])
    op.create_table(
        "upload_ticket_buckets",
        sa.Column("key", key_string(255), primary_key=True),
        sa.Column("tat", sa.BigInteger, nullable=False),
        sa.Column("allowed", sa.Boolean, nullable=False),
        sa.Column("checked_at", sa.BigInteger, nullable=False),
        mysql_charset="utf8mb4",
        sqlite_with_rowid=False,
        # Soft state (see the README): kept out of PostgreSQL's WAL.
        prefixes=["UNLOGGED"] if op.get_bind().dialect.name == "postgresql" else [],
    )


def downgrade() -> None:
    op.drop_table("upload_ticket_buckets")
    op.drop_table("upload_tickets")
