# Generated from the _async folder by scripts/unasync.py: edit that source, then run it.
"""``SqlBackend``: ticket store, rate limiter and one-call mint on SQLAlchemy Core."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic.util import CommandError
from sqlalchemy.engine import Connection

from upload_tickets import (
    Character,
    IdempotencyClaim,
    RateDecision,
    RatePolicy,
    StoreUnavailable,
    SweepBeat,
    UploadTicket,
)
from upload_tickets.backend_kit import decision_after_charge, decode_character, replay_decision
from upload_tickets_sql._migrations import upgrade
from upload_tickets_sql._schema import (
    SWEEP_ROW,
    UNSETTLED,
    beat_from_row,
    beat_to_row,
    buckets,
    character_to_row,
    characters,
    idempotency_claims,
    sweep_ledger,
    ticket_from_row,
    ticket_to_row,
    tickets,
)
from upload_tickets_sql._statements import (
    Prepared,
    bucket_row_statement,
    charge_and_insert_statement,
    charge_statement,
    claim_row_statement,
    claim_statement,
    refund_statement,
    sweep_claim_statement,
    sweep_holder_statement,
    sweep_record_statement,
    ticket_insert_statement,
)
from upload_tickets_sql._sync._primitives import AnyEngine, as_sync_engine
from upload_tickets_sql._sync._runner import Runner
from upload_tickets_sql._urls import setup_error


def _in_lock_order(updated: Sequence[UploadTicket]) -> list[UploadTicket]:
    # Id order: racing transactions lock rows in the same order, so they cannot deadlock.
    return sorted(updated, key=lambda ticket: ticket.id)


def _all_but_id(row: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in row.items() if name != "id"}


class _Duplicate(Exception):
    """The ticket's idempotency key (or id) is taken; the transaction was rolled back."""


class SqlBackend:
    """Tickets and token buckets in a SQL database.

    ``engine`` runs transactions; on PostgreSQL and MariaDB a second engine in
    autocommit mode runs single statements, which are atomic by themselves and so
    need no BEGIN/COMMIT round trips.
    """

    def __init__(self, engine: AnyEngine, *, autocommit_engine: AnyEngine | None = None, attempts: int = 5) -> None:
        self.engine = as_sync_engine(engine)
        self.dialect = self.engine.dialect.name
        self._single = self.engine if autocommit_engine is None else as_sync_engine(autocommit_engine)
        self._mariadb = self.dialect in ("mysql", "mariadb")
        runner = Runner(self.engine, self._single, attempts)
        self._driver = runner.driver
        self._run, self._raw = runner.run, runner.raw
        self._driver_error, self._integrity_error = runner.driver_error, runner.integrity_error
        self._charge_sql = Prepared(charge_statement(self.dialect), engine.dialect)
        self._bucket_sql = Prepared(bucket_row_statement(), engine.dialect)
        self._insert_sql = Prepared(ticket_insert_statement(), engine.dialect)
        self._mint_sql = (
            Prepared(charge_and_insert_statement(), engine.dialect) if self.dialect == "postgresql" else None
        )
        self._refund_sql = Prepared(refund_statement(), engine.dialect)
        self._claim_sql = Prepared(claim_statement(self.dialect), engine.dialect)
        self._claim_row_sql = Prepared(claim_row_statement(), engine.dialect)
        self._sweep_claim_sql = Prepared(sweep_claim_statement(self.dialect), engine.dialect)
        self._sweep_holder_sql = Prepared(sweep_holder_statement(), engine.dialect)
        self._sweep_record = sweep_record_statement(self.dialect)

    # -- plumbing ---------------------------------------------------------------

    def _fetch_one(self, statement: Prepared, params: dict[str, Any]) -> Any:
        """Run one self-contained statement (autocommit) and return its row."""
        bound = statement.bind(params)

        def work(cursor: Any) -> Any:
            cursor.execute(statement.sql, bound)
            return cursor.fetchone()

        return self._raw(work, transaction=False)

    # -- TicketStore ------------------------------------------------------------

    def create(self, ticket: UploadTicket) -> UploadTicket:
        """Insert ``ticket``, or return the ticket its idempotency key already names."""
        row = ticket_to_row(ticket)
        try:
            self._run(lambda c: self._insert_sql.execute(c, row))
        except sa.exc.IntegrityError as error:
            return self._existing(ticket, error)
        return ticket

    def _existing(self, ticket: UploadTicket, error: Exception) -> UploadTicket:
        if ticket.idempotency_key is not None:
            found = self.find_by_idempotency_key(ticket.team, ticket.idempotency_key)
            if found is not None:
                return found
        # A retried insert whose first attempt committed before the connection dropped.
        found = self.get(ticket.team, ticket.id)
        if found is not None and found.created_at == ticket.created_at:
            return found
        raise StoreUnavailable(f"cannot store ticket {ticket.id}: {error}") from error

    def get(self, team: str, ticket_id: str) -> UploadTicket | None:
        """``team``'s ticket with this id, or ``None``."""
        query = tickets.select().where(tickets.c.id == ticket_id, tickets.c.team == team)
        row = self._run(lambda c: c.execute(query).first(), transaction=False)
        return None if row is None else ticket_from_row(row)

    def get_many(self, team: str, ticket_ids: Sequence[str]) -> list[UploadTicket | None]:
        """``team``'s tickets with these ids, in order."""
        ids = list(ticket_ids)
        query = tickets.select().where(tickets.c.id.in_(ids), tickets.c.team == team)
        rows = self._run(lambda c: c.execute(query).all(), transaction=False)
        found = {ticket.id: ticket for ticket in map(ticket_from_row, rows)}
        return [found.get(ticket_id) for ticket_id in ids]

    def find_by_idempotency_key(self, team: str, key: str) -> UploadTicket | None:
        """The ticket ``team`` minted with ``key``, or ``None``."""
        query = tickets.select().where(tickets.c.team == team, tickets.c.idempotency_key == key)
        row = self._run(lambda c: c.execute(query).first(), transaction=False)
        return None if row is None else ticket_from_row(row)

    def replace(self, updated: Sequence[UploadTicket]) -> bool:
        """All-or-nothing version-checked update, in one transaction."""
        ordered = _in_lock_order(updated)
        return self._run(lambda connection: self._swap(connection, ordered))

    def _swap(self, connection: Connection, ordered: Sequence[UploadTicket]) -> bool:
        """Version-checked UPDATEs; on the first miss roll the whole transaction back."""
        for ticket in ordered:
            result = connection.execute(
                tickets.update()
                .where(tickets.c.id == ticket.id, tickets.c.version == ticket.version - 1)
                .values(_all_but_id(ticket_to_row(ticket)))
            )
            if result.rowcount != 1:
                transaction = connection.get_transaction()
                assert transaction is not None
                transaction.rollback()
                return False
        return True

    def expired(self, now_us: int, limit: int) -> list[UploadTicket]:
        """Up to ``limit`` tickets at or past their TTL, oldest first (uses the expiry index)."""
        query = tickets.select().where(tickets.c.expires_at <= now_us).order_by(tickets.c.expires_at).limit(limit)
        rows = self._run(lambda c: c.execute(query).all(), transaction=False)
        return [ticket_from_row(row) for row in rows]

    def delete(self, gone: Sequence[UploadTicket]) -> int:
        """Delete the tickets still at the given versions."""
        if not gone:
            return 0

        def work(connection: Connection) -> int:
            return sum(
                connection.execute(
                    tickets.delete().where(tickets.c.id == ticket.id, tickets.c.version == ticket.version)
                ).rowcount
                for ticket in gone
            )

        return self._run(work)

    # -- Characters -------------------------------------------------------------

    def consume(self, updated: Sequence[UploadTicket], character: Character) -> bool:
        """The version-checked ticket UPDATEs and the character's INSERT, in one transaction."""
        ordered = _in_lock_order(updated)
        row = character_to_row(character)

        def work(connection: Connection) -> bool:
            if not self._swap(connection, ordered):
                return False
            connection.execute(characters.insert().values(row))
            return True

        try:
            return self._run(work)
        except sa.exc.IntegrityError:
            return False  # the character id is taken; the tickets rolled back with the insert

    def get_character(self, team: str, character_id: str) -> Character | None:
        """``team``'s character with this id, or ``None``."""
        query = sa.select(characters.c.body).where(characters.c.id == character_id, characters.c.team == team)
        body = self._run(lambda c: c.execute(query).scalar(), transaction=False)
        return None if body is None else decode_character(body)

    def list_characters(self, team: str, after: str | None, limit: int) -> list[Character]:
        """Up to ``limit`` of ``team``'s characters with ids above ``after``, in id order (team, id index)."""
        query = sa.select(characters.c.body).where(characters.c.team == team)
        if after is not None:
            query = query.where(characters.c.id > after)
        query = query.order_by(characters.c.id).limit(limit)
        return self._characters(query)

    def replace_character(self, updated: Character) -> bool:
        """Store ``updated`` if the stored character is exactly one version behind it."""
        statement = (
            characters.update()
            .where(characters.c.id == updated.id, characters.c.version == updated.version - 1)
            .values(_all_but_id(character_to_row(updated)))
        )
        return self._run(lambda c: c.execute(statement).rowcount == 1, transaction=False)

    def delete_character(self, character: Character) -> bool:
        """Delete the character if still at its version."""
        statement = characters.delete().where(
            characters.c.id == character.id, characters.c.version == character.version
        )
        return self._run(lambda c: c.execute(statement).rowcount == 1, transaction=False)

    def unsettled_characters(self, limit: int) -> list[Character]:
        """Up to ``limit`` characters not ``ready`` (a partial index holds just those where possible)."""
        return self._characters(sa.select(characters.c.body).where(UNSETTLED).limit(limit))

    def _characters(self, query: sa.Select[str]) -> list[Character]:
        bodies = self._run(lambda c: c.execute(query).scalars().all(), transaction=False)
        return [decode_character(body) for body in bodies]

    # -- Idempotency claims -----------------------------------------------------

    def claim_idempotency_key(self, team: str, claim: IdempotencyClaim, now_us: int) -> IdempotencyClaim:
        """Store ``claim`` unless ``team`` holds a live claim on its operation and key; return the holder."""
        params = {
            "team": team,
            "operation": claim.operation,
            "key": claim.key,
            "request_hash": claim.request_hash,
            "resource_id": claim.resource_id,
            "expires_at": claim.expires_at,
            "now": now_us,
        }
        # Retrying is safe: an attempt that committed before its answer was lost left
        # this very claim in place, and the retry gets it back.
        if self._mariadb:

            def work(cursor: Any) -> Any:
                cursor.execute(self._claim_sql.sql, self._claim_sql.bind(params))
                cursor.execute(self._claim_row_sql.sql, self._claim_row_sql.bind(params))
                return cursor.fetchone()

            request_hash, resource_id, expires_at = self._raw(work, transaction=True)
        else:
            request_hash, resource_id, expires_at = self._fetch_one(self._claim_sql, params)
        return IdempotencyClaim(claim.operation, claim.key, request_hash, resource_id, expires_at)

    def release_idempotency_key(self, team: str, claim: IdempotencyClaim) -> bool:
        """Delete ``claim`` if the stored claim on its operation and key is still exactly it."""
        columns = idempotency_claims.c
        statement = idempotency_claims.delete().where(
            columns.team == team,
            columns.operation == claim.operation,
            columns.key == claim.key,
            columns.request_hash == claim.request_hash,
            columns.resource_id == claim.resource_id,
            columns.expires_at == claim.expires_at,
        )
        return self._run(lambda c: c.execute(statement).rowcount == 1, transaction=False)

    def purge_idempotency_claims(self, now_us: int, limit: int) -> int:
        """Delete up to ``limit`` claims expired at ``now_us`` (uses the expiry index)."""
        if limit <= 0:
            return 0
        columns = idempotency_claims.c
        expired = columns.expires_at <= now_us
        if self._mariadb:
            # MariaDB cannot delete from a table its own subquery reads, but takes a LIMIT.
            statement = idempotency_claims.delete().where(expired).with_dialect_options(mysql_limit=limit)
        else:
            due = sa.select(columns.team, columns.operation, columns.key).where(expired).limit(limit)
            # ``expired`` again on the outer DELETE: PostgreSQL rechecks it against a row
            # replaced by a live claim since the subquery read it, and then spares it.
            statement = idempotency_claims.delete().where(
                sa.tuple_(columns.team, columns.operation, columns.key).in_(due), expired
            )
        return self._run(lambda c: c.execute(statement).rowcount, transaction=False)

    # -- SweepLedger ------------------------------------------------------------

    def claim_sweep(self, holder: str, now_us: int, lease_us: int) -> bool:
        """Take or renew the sweep lease until ``now_us + lease_us`` unless another holder's runs (one upsert)."""
        params = {"holder": holder, "until": now_us + lease_us, "now": now_us}
        # Retrying is safe: an attempt that committed before its answer was lost left
        # ``holder`` with the lease, and the retry renews it.
        if self._mariadb:

            def work(cursor: Any) -> Any:
                cursor.execute(self._sweep_claim_sql.sql, self._sweep_claim_sql.bind(params))
                cursor.execute(self._sweep_holder_sql.sql, self._sweep_holder_sql.bind(params))
                return cursor.fetchone()

            row = self._raw(work, transaction=True)
            return row is not None and row[0] == holder
        return self._fetch_one(self._sweep_claim_sql, params) is not None

    def release_sweep(self, holder: str) -> None:
        """End ``holder``'s lease early; another holder's is left alone."""
        columns = sweep_ledger.c
        statement = (
            sweep_ledger.update()
            .where(columns.name == SWEEP_ROW, columns.holder == holder)
            .values(holder=None, lease_until_us=0)
        )
        self._run(lambda c: c.execute(statement), transaction=False)

    def record_sweep(self, beat: SweepBeat) -> None:
        """Keep ``beat`` as the last finished sweep, replacing the previous one (one upsert)."""
        row = beat_to_row(beat)
        self._run(lambda c: c.execute(self._sweep_record, row), transaction=False)

    def last_sweep(self) -> SweepBeat | None:
        """The last finished sweep, or ``None`` if none was ever recorded."""
        query = sweep_ledger.select().where(sweep_ledger.c.name == SWEEP_ROW)
        row = self._run(lambda c: c.execute(query).first(), transaction=False)
        return None if row is None else beat_from_row(row)

    # -- RateLimiter ------------------------------------------------------------

    def _charge(self, cursor: Any, key: str, policy: RatePolicy, cost: int) -> RateDecision:
        params = {"bucket_key": key, "increment": cost * policy.emission_interval_us, "capacity": policy.capacity_us}
        cursor.execute(self._charge_sql.sql, self._charge_sql.bind(params))
        if self._mariadb:
            # No RETURNING on upserts: the row is ours (locked) until commit, so read it back.
            cursor.execute(self._bucket_sql.sql, self._bucket_sql.bind(params))
        tat, allowed, now = cursor.fetchone()
        return decision_after_charge(tat, bool(allowed), now, policy, cost)

    def acquire(self, key: str, policy: RatePolicy, cost: int = 1) -> RateDecision:
        """Charge ``cost`` tokens from ``key``'s bucket, timed by the database clock."""
        # One statement on PostgreSQL and SQLite; MariaDB reads the row back in a transaction.
        return self._raw(lambda cursor: self._charge(cursor, key, policy, cost), transaction=self._mariadb)

    # -- ChargingTicketStore ----------------------------------------------------

    def create_if_allowed(
        self, ticket: UploadTicket, bucket: str, policy: RatePolicy
    ) -> tuple[RateDecision, UploadTicket | None]:
        """Charge ``bucket`` and insert ``ticket`` atomically (one statement on PostgreSQL)."""
        if self._mint_sql is not None:
            return self._create_if_allowed_in_one_statement(self._mint_sql, ticket, bucket, policy)

        row = self._insert_sql.bind(ticket_to_row(ticket))

        def work(cursor: Any) -> RateDecision:
            decision = self._charge(cursor, bucket, policy, 1)
            if decision.allowed:
                try:
                    cursor.execute(self._insert_sql.sql, row)
                except self._integrity_error as error:
                    # The charge rolls back with the insert: a replay costs nothing.
                    raise _Duplicate from error
            return decision

        try:
            decision = self._raw(work, transaction=True)
        except _Duplicate as duplicate:
            return self._replay_decision(policy), self._existing(ticket, duplicate)
        return decision, ticket if decision.allowed else None

    def _create_if_allowed_in_one_statement(
        self, statement: Prepared, ticket: UploadTicket, bucket: str, policy: RatePolicy
    ) -> tuple[RateDecision, UploadTicket | None]:
        params = {
            **ticket_to_row(ticket),
            "bucket_key": bucket,
            "increment": policy.emission_interval_us,
            "capacity": policy.capacity_us,
        }
        try:
            tat, allowed, now, inserted = self._fetch_one(statement, params)
        except self._integrity_error as error:
            return self._replay_decision(policy), self._existing(ticket, error)
        decision = decision_after_charge(tat, bool(allowed), now, policy)
        if not allowed:
            return decision, None
        if inserted:
            return decision, ticket
        # The insert found the key taken by a racing mint, or the id by this statement's
        # own first attempt (committed, its answer lost): the charge bought nothing, so
        # give the token back. Only this case pays the extra round trip.
        self._refund(bucket, policy)
        return self._replay_decision(policy), self._existing(ticket, StoreUnavailable("insert skipped"))

    def _refund(self, bucket: str, policy: RatePolicy) -> None:
        params = {"bucket_key": bucket, "increment": policy.emission_interval_us}

        def work(cursor: Any) -> None:
            cursor.execute(self._refund_sql.sql, self._refund_sql.bind(params))

        # One attempt: a retry after a refund that committed unseen would refund twice
        # (over-admission). A lost refund only leaves the team one token short until it refills.
        with contextlib.suppress(StoreUnavailable):
            self._raw(work, transaction=False, attempts=1)

    def _replay_decision(self, policy: RatePolicy) -> RateDecision:
        return replay_decision(policy)

    # -- housekeeping -----------------------------------------------------------

    def create_tables(self) -> None:
        """Create the tables, or migrate them to the newest revision (:func:`upgrade`).

        A wrong URL (credentials, database name, SQLite path) raises ``ConfigurationError``;
        a server out of reach ``StoreUnavailable``; both name the fix.
        """
        try:
            self._driver(upgrade, self.engine)
        except (sa.exc.SQLAlchemyError, self._driver_error, CommandError, OSError) as error:
            raise setup_error(self.engine.url, error) from error

    def clear(self) -> None:
        """Delete every ticket, character, bucket, idempotency claim and the sweep ledger (for tests)."""
        everything = (tickets, characters, buckets, idempotency_claims, sweep_ledger)
        self._run(lambda c: [c.execute(table.delete()) for table in everything])

    def dispose(self) -> None:
        """Close pooled connections."""
        self._driver(self.engine.dispose)
        if self._single is not self.engine:
            self._driver(self._single.dispose)
        self._driver.close()

    def close(self) -> None:
        """Close pooled connections (:meth:`dispose`)."""
        self.dispose()
