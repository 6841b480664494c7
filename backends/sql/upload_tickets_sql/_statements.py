"""The hot statements, built once per dialect and compiled to driver SQL.

GCRA runs as one upsert timed by the database clock. The bucket row keeps the TAT
after the charge, whether the charge was allowed, and the database's ``now``;
:func:`upload_tickets.decision_after_charge` turns those into the decision. Every
``now`` in one statement is the same instant on all three dialects
(``statement_timestamp()``, ``NOW(6)`` and SQLite's per-step ``'now'``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection, CursorResult, Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement

from upload_tickets_sql._schema import SWEEP_ROW, buckets, idempotency_claims, sweep_ledger, tickets

KEY, INCREMENT, CAPACITY = (
    sa.bindparam("bucket_key", type_=buckets.c.key.type),
    sa.bindparam("increment", type_=sa.BigInteger),
    sa.bindparam("capacity", type_=sa.BigInteger),
)


class Prepared:
    """A statement compiled once; executing it skips SQLAlchemy's per-call compile and cache lookup."""

    def __init__(self, statement: sa.ClauseElement, dialect: Dialect) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        self.sql = compiled.string
        self._positions = compiled.positiontup if compiled.positional else None
        # Literals in the expression (e.g. 1_000_000) were compiled to parameters too.
        self._constants = {name: value for name, value in compiled.params.items() if value is not None}

    def bind(self, params: Mapping[str, Any]) -> dict[str, Any] | tuple[Any, ...]:
        """The driver's parameters for named ``params``."""
        values = {**self._constants, **params}
        if self._positions is None:
            return values
        return tuple(values[name] for name in self._positions)

    def execute(self, connection: Connection, params: Mapping[str, Any]) -> CursorResult[Any]:
        """Run inside a SQLAlchemy connection (and its transaction)."""
        return connection.exec_driver_sql(self.sql, self.bind(params))


def database_now_us(dialect: str) -> ColumnElement[int]:
    """The database clock in integer microseconds since the Unix epoch."""
    if dialect == "postgresql":
        return sa.cast(sa.func.extract("epoch", sa.func.statement_timestamp()) * 1_000_000, sa.BigInteger)
    if dialect in ("mysql", "mariadb"):
        return sa.cast(sa.func.unix_timestamp(sa.func.now(6)) * 1_000_000, sa.BigInteger)
    # SQLite: whole seconds plus the milliseconds of strftime('%f') ("SS.SSS").
    return sa.literal_column(
        "(CAST(strftime('%s','now') AS INTEGER) * 1000000 + CAST(substr(strftime('%f','now'), 4) AS INTEGER) * 1000)",
        sa.BigInteger,
    )


def _greatest(dialect: str, a: ColumnElement[int], b: ColumnElement[int]) -> ColumnElement[int]:
    # SQLite's two-argument max() is its scalar GREATEST.
    return sa.func.max(a, b) if dialect == "sqlite" else sa.func.greatest(a, b)


def charge_statement(dialect: str) -> Any:
    """An upsert charging ``increment`` µs to bucket ``bucket_key`` of ``capacity`` µs.

    On PostgreSQL and SQLite it returns ``(tat, allowed, checked_at)``; MariaDB has no
    RETURNING for upserts, so read the row back in the same transaction.
    """
    now = database_now_us(dialect)
    fresh_allowed = INCREMENT <= CAPACITY
    values = {
        "key": KEY,
        "tat": sa.case((fresh_allowed, now + INCREMENT), else_=now),
        "allowed": fresh_allowed,
        "checked_at": now,
    }
    start = _greatest(dialect, buckets.c.tat, now)
    allowed = start + INCREMENT - CAPACITY <= now
    # Only the old row is referenced on the right-hand sides, and ``allowed`` is set
    # before ``tat``: correct whether assignments see old values (PostgreSQL, SQLite)
    # or earlier assignments (MariaDB).
    updates = [
        ("allowed", allowed),
        ("tat", sa.case((allowed, start + INCREMENT), else_=buckets.c.tat)),
        ("checked_at", now),
    ]
    if dialect in ("mysql", "mariadb"):
        # A list keeps the assignment order (a dict is re-sorted into column order).
        return mysql.insert(buckets).values(values).on_duplicate_key_update(updates)
    insert = postgresql.insert(buckets) if dialect == "postgresql" else sqlite.insert(buckets)
    return (
        insert.values(values)
        .on_conflict_do_update(index_elements=[buckets.c.key], set_=dict(updates))
        .returning(buckets.c.tat, buckets.c.allowed, buckets.c.checked_at)
    )


def bucket_row_statement() -> Any:
    """Read a bucket back after a MariaDB upsert."""
    return sa.select(buckets.c.tat, buckets.c.allowed, buckets.c.checked_at).where(buckets.c.key == KEY)


def ticket_insert_statement() -> Any:
    """A plain insert of one ticket, parameters named after the columns."""
    return tickets.insert().values({c.name: sa.bindparam(c.name, type_=c.type) for c in tickets.columns})


def charge_and_insert_statement() -> Any:
    """PostgreSQL: charge the bucket and, if allowed, insert the ticket, in one statement.

    Data-modifying CTEs run exactly once; the insert reads the charge's RETURNING row,
    so the ticket exists only if the charge was allowed. Returns ``(tat, allowed,
    checked_at, inserted)``; ``inserted`` is 0 when an idempotency key already exists.
    """
    charge = charge_statement("postgresql").cte("charge")
    values = sa.select(*(sa.bindparam(c.name, type_=c.type) for c in tickets.columns)).where(charge.c.allowed)
    created = (
        postgresql.insert(tickets)
        .from_select([c.name for c in tickets.columns], values)
        .on_conflict_do_nothing()
        .returning(tickets.c.id)
        .cte("created")
    )
    return sa.select(
        charge.c.tat,
        charge.c.allowed,
        charge.c.checked_at,
        sa.select(sa.func.count()).select_from(created).scalar_subquery(),
    )


def refund_statement() -> Any:
    """Give back ``increment`` µs charged to bucket ``bucket_key`` by a mint that created nothing."""
    return buckets.update().where(buckets.c.key == KEY).values(tat=buckets.c.tat - INCREMENT)


CLAIM_HOLDER = ("request_hash", "resource_id", "expires_at")


def claim_statement(dialect: str) -> Any:
    """An upsert storing a claim unless a live one (``expires_at`` after ``now``) holds its key.

    Either way the row afterwards is the claim that holds; PostgreSQL and SQLite return
    its :data:`CLAIM_HOLDER` columns, MariaDB reads them back (:func:`claim_row_statement`).
    """
    columns = idempotency_claims.c
    values = {column.name: sa.bindparam(column.name, type_=column.type) for column in idempotency_claims.columns}
    expired = columns.expires_at <= sa.bindparam("now", type_=sa.BigInteger)
    if dialect in ("mysql", "mariadb"):
        mysql_upsert = mysql.insert(idempotency_claims).values(values)
        # expires_at last: MariaDB's assignments see earlier ones, and the CASE must read the old expiry.
        return mysql_upsert.on_duplicate_key_update(
            [(name, sa.case((expired, mysql_upsert.inserted[name]), else_=columns[name])) for name in CLAIM_HOLDER]
        )
    upsert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(idempotency_claims).values(values)
    # A live holder is "updated" to itself, so RETURNING yields the holder either way: one
    # statement, with no window between a failed insert and a read for a release to slip into.
    return upsert.on_conflict_do_update(
        index_elements=list(idempotency_claims.primary_key),
        set_={name: sa.case((expired, upsert.excluded[name]), else_=columns[name]) for name in CLAIM_HOLDER},
    ).returning(*(columns[name] for name in CLAIM_HOLDER))


def claim_row_statement() -> Any:
    """Read a claim back after a MariaDB upsert (locked: it sees the row the upsert left)."""
    columns = idempotency_claims.c
    return (
        sa.select(*(columns[name] for name in CLAIM_HOLDER))
        .where(
            columns.team == sa.bindparam("team", type_=columns.team.type),
            columns.operation == sa.bindparam("operation", type_=columns.operation.type),
            columns.key == sa.bindparam("key", type_=columns.key.type),
        )
        .with_for_update()
    )


def sweep_claim_statement(dialect: str) -> Any:
    """An upsert giving the sweep lease to ``holder`` until ``until`` unless another's runs past ``now``.

    PostgreSQL and SQLite return the row only when ``holder`` got the lease (a refused
    claim updates nothing, so returns nothing); MariaDB reads the holder back
    (:func:`sweep_holder_statement`). The row is locked while the condition is checked,
    so of racing claimers exactly one wins.
    """
    columns = sweep_ledger.c
    values = {
        "name": SWEEP_ROW,
        "holder": sa.bindparam("holder", type_=columns.holder.type),
        "lease_until_us": sa.bindparam("until", type_=sa.BigInteger),
    }
    now = sa.bindparam("now", type_=sa.BigInteger)
    if dialect in ("mysql", "mariadb"):
        mysql_upsert = mysql.insert(sweep_ledger).values(values)
        ours = mysql_upsert.inserted.holder
        free = sa.or_(columns.lease_until_us <= now, columns.holder == ours)
        # MariaDB's second assignment sees the first: holder becomes ours exactly when the
        # lease was free, so the same condition over the new holder and the old lease_until_us
        # is still "was free". PostgreSQL and SQLite read the old row throughout.
        return mysql_upsert.on_duplicate_key_update(
            [
                ("holder", sa.case((free, ours), else_=columns.holder)),
                ("lease_until_us", sa.case((free, mysql_upsert.inserted.lease_until_us), else_=columns.lease_until_us)),
            ]
        )
    upsert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(sweep_ledger).values(values)
    return upsert.on_conflict_do_update(
        index_elements=[columns.name],
        set_={"holder": upsert.excluded.holder, "lease_until_us": upsert.excluded.lease_until_us},
        where=sa.or_(columns.lease_until_us <= now, columns.holder == upsert.excluded.holder),
    ).returning(columns.holder)


def sweep_holder_statement() -> Any:
    """Read the lease holder back after a MariaDB claim (locked: it sees the row the upsert left)."""
    return sa.select(sweep_ledger.c.holder).where(sweep_ledger.c.name == SWEEP_ROW).with_for_update()


def sweep_record_statement(dialect: str) -> Any:
    """An upsert of the last sweep's heartbeat (``beat_*`` parameters), the lease left as it is."""
    beat = [column.name for column in sweep_ledger.columns if column.name.startswith("beat_")]
    values = {
        "name": SWEEP_ROW,
        "holder": None,
        "lease_until_us": 0,
        **{name: sa.bindparam(name, type_=sweep_ledger.c[name].type) for name in beat},
    }
    if dialect in ("mysql", "mariadb"):
        mysql_upsert = mysql.insert(sweep_ledger).values(values)
        return mysql_upsert.on_duplicate_key_update([(name, mysql_upsert.inserted[name]) for name in beat])
    upsert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(sweep_ledger).values(values)
    return upsert.on_conflict_do_update(
        index_elements=[sweep_ledger.c.name], set_={name: upsert.excluded[name] for name in beat}
    )
