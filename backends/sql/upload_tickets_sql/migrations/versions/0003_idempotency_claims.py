"""Idempotency claims: the first request an ``Idempotency-Key`` came with, per team and operation.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# A type recipe, not a table: sharing it keeps this revision's schema as it was.
from upload_tickets_sql._schema import key_string

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "upload_ticket_idempotency_claims",
        sa.Column("team", key_string(128), primary_key=True),
        sa.Column("operation", key_string(32), primary_key=True),
        sa.Column("key", key_string(255), primary_key=True),
        sa.Column("request_hash", key_string(64), nullable=False),
        sa.Column("resource_id", key_string(64), nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        mysql_charset="utf8mb4",
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_upload_ticket_idempotency_claims_expires_at", "upload_ticket_idempotency_claims", ["expires_at"]
    )


def downgrade() -> None:
    op.drop_table("upload_ticket_idempotency_claims")
