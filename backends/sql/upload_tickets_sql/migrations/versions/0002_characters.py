"""Characters own their bytes: the characters table, tickets' ETag, longer staged keys.

``blob_key`` grows to 255: staged keys now carry the team (``staged/<team>/<id>.<n>``).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# A type recipe, not a table: sharing it keeps this revision's schema as it was.
from upload_tickets_sql._schema import key_string

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_UNSETTLED = sa.text("state <> 'ready'")


def upgrade() -> None:
    # Batch: SQLite cannot change a column's type in place, so it copies the table there;
    # elsewhere these are plain ALTER TABLE statements.
    with op.batch_alter_table("upload_tickets") as tickets:
        tickets.add_column(sa.Column("etag", sa.String(200)))
        tickets.alter_column("blob_key", existing_type=key_string(64), type_=key_string(255), existing_nullable=False)
    op.create_table(
        "upload_ticket_characters",
        sa.Column("id", key_string(30), primary_key=True),
        sa.Column("team", key_string(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        mysql_charset="utf8mb4",
    )
    op.create_index("ix_upload_ticket_characters_team_id", "upload_ticket_characters", ["team", "id"])
    op.create_index(
        "ix_upload_ticket_characters_unsettled",
        "upload_ticket_characters",
        ["state"],
        sqlite_where=_UNSETTLED,
        postgresql_where=_UNSETTLED,
    )


def downgrade() -> None:
    op.drop_table("upload_ticket_characters")
    with op.batch_alter_table("upload_tickets") as tickets:
        tickets.alter_column("blob_key", existing_type=key_string(255), type_=key_string(64), existing_nullable=False)
        tickets.drop_column("etag")
