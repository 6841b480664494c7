"""The sweep ledger: one row with the sweepers' lease and the last sweep's heartbeat.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# A type recipe, not a table: sharing it keeps this revision's schema as it was.
from upload_tickets_sql._schema import key_string

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "upload_ticket_sweep_ledger",
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


def downgrade() -> None:
    op.drop_table("upload_ticket_sweep_ledger")
