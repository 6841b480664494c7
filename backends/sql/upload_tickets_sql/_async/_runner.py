"""Work on the database, tried again when a failure says nothing about the data (a deadlock, a lost connection)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from upload_tickets.backend_kit import RetryPolicy, map_errors
from upload_tickets_sql._async._primitives import Driver, sleep
from upload_tickets_sql._retry import original, transient

_T = TypeVar("_T")


class _AttemptFailed(Exception):
    """A driver error of one raw attempt, and whether it cost the connection."""

    def __init__(self, error: Exception, disconnected: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.disconnected = disconnected


class AsyncRunner:
    """Runs work in a transaction or in autocommit, retrying transient failures after a jittered pause.

    ``engine`` runs transactions, ``single`` self-contained statements (it may be
    ``engine``); both are sync engines, over an async driver in the async flavour. The
    work itself is sync code, run by :class:`Driver`. A failure that is not transient, or
    the last attempt's, is ``StoreUnavailable``; an integrity error (a duplicate key) is
    the caller's to handle and passes unchanged.
    """

    def __init__(self, engine: Engine, single: Engine, attempts: int) -> None:
        self.engine = engine
        self.single = single
        self.dialect = engine.dialect.name
        self.retry = RetryPolicy(transient, attempts=attempts)
        self.errors = map_errors(sa.exc.SQLAlchemyError, f"the {self.dialect} ticket store failed")
        dbapi = engine.dialect.loaded_dbapi
        self.driver_error: type[Exception] = dbapi.Error
        self.integrity_error: type[Exception] = dbapi.IntegrityError
        # Both engines share a database and a driver: one way of running code serves both.
        self.driver = Driver(engine)

    async def run(self, work: Callable[[Connection], _T], *, transaction: bool = True) -> _T:
        """Run ``work`` in a transaction (or autocommit), retrying transient failures."""
        engine = self.engine if transaction else self.single
        attempt = 0
        while True:
            attempt += 1
            try:
                result: _T = await self.driver(_in_transaction, engine, work)
                return result
            except sa.exc.IntegrityError:
                raise
            except sa.exc.DBAPIError as error:
                pause = self._pause(error, attempt, error.connection_invalidated, self.retry)
            except OSError as error:
                # asyncpg fails to connect with the socket's own error, which SQLAlchemy passes unwrapped.
                pause = self._pause(error, attempt, True, self.retry)
            except sa.exc.SQLAlchemyError as error:
                raise self.errors.unavailable(error) from error
            await sleep(pause)

    async def raw(self, work: Callable[[Any], _T], *, transaction: bool, attempts: int | None = None) -> _T:
        """Run ``work(cursor)`` on a pooled driver connection, retrying transient failures.

        The hot paths (mint, rate limit) use it: SQLAlchemy's execution layer costs more
        than these statements' own server time. Without ``transaction`` the statement
        runs in autocommit (it is atomic by itself); with it, SQLite takes the write lock
        up front (``BEGIN IMMEDIATE``) and other drivers open their implicit transaction.
        """
        engine = self.engine if transaction else self.single
        retry = self.retry if attempts is None else attrs.evolve(self.retry, attempts=attempts)
        attempt = 0
        while True:
            attempt += 1
            try:
                done: _T = await self.driver(self._raw_attempt, engine, work, transaction)
                return done
            except _AttemptFailed as failed:
                pause = self._pause(failed.error, attempt, failed.disconnected, retry)
            await sleep(pause)

    def _raw_attempt(self, engine: Engine, work: Callable[[Any], _T], transaction: bool) -> _T:
        try:
            connection = engine.raw_connection()
        except (sa.exc.DBAPIError, self.driver_error, OSError) as error:
            # The pool hands out driver errors unwrapped when it cannot connect (asyncpg: the socket's OSError).
            raise _AttemptFailed(error, disconnected=True) from error
        cursor = None
        try:
            cursor = connection.cursor()
            if transaction and self.dialect == "sqlite":
                cursor.execute("BEGIN IMMEDIATE")
            try:
                result = work(cursor)
            except BaseException:
                if transaction:
                    self._end(connection, cursor, commit=False)
                raise
            if transaction:
                self._end(connection, cursor, commit=True)
            cursor.close()
            return result
        except self.integrity_error:
            raise
        except self.driver_error as error:
            disconnected = self.engine.dialect.is_disconnect(error, connection.dbapi_connection, cursor)  # type: ignore[arg-type]  # SQLAlchemy types the raw cursor as optional
            if disconnected:
                connection.invalidate(error)
            raise _AttemptFailed(error, disconnected) from error
        finally:
            connection.close()

    def _end(self, connection: Any, cursor: Any, *, commit: bool) -> None:
        # pysqlite runs in autocommit mode here (we issued BEGIN ourselves), so end it in SQL.
        if self.dialect == "sqlite":
            cursor.execute("COMMIT" if commit else "ROLLBACK")
        elif commit:
            connection.commit()
        else:
            connection.rollback()

    def _pause(self, error: Exception, attempt: int, disconnected: bool, retry: RetryPolicy) -> float:
        """Seconds to wait before the next attempt; raises when ``error`` ends the work."""
        driver_error = original(error)
        if isinstance(driver_error, self.integrity_error):
            raise error
        delay = retry.delay(error, attempt, disconnected=disconnected)
        if delay is None:
            raise self.errors.unavailable(driver_error) from error
        return delay


def _in_transaction(engine: Engine, work: Callable[[Connection], _T]) -> _T:
    with engine.begin() as connection:
        return work(connection)
