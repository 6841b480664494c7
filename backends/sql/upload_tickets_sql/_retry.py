"""Work on the database, tried again when a failure says nothing about the data (a deadlock, a lost connection)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from upload_tickets.backend_kit import RetryPolicy, map_errors

_T = TypeVar("_T")

# Errors worth another try: they say nothing about the data, only about this attempt.
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "55P03", "57P01", "08000", "08003", "08006"})
_RETRYABLE_MYSQL_CODES = frozenset({1205, 1213, 2006, 2013})


def _original(error: BaseException) -> BaseException:
    """The driver's error inside SQLAlchemy's wrapper (or ``error`` itself)."""
    if isinstance(error, sa.exc.DBAPIError) and error.orig is not None:
        return error.orig
    return error


def transient(error: BaseException) -> bool:
    """Whether a driver error (bare or wrapped by SQLAlchemy) is a serialization failure, deadlock or lock wait."""
    original = _original(error)
    if getattr(original, "sqlstate", None) in _RETRYABLE_SQLSTATES:
        return True
    args = getattr(original, "args", ())
    if args and args[0] in _RETRYABLE_MYSQL_CODES:
        return True
    return "database is locked" in str(original)


class Runner:
    """Runs work in a transaction or in autocommit, retrying transient failures after a jittered pause.

    ``engine`` runs transactions, ``single`` self-contained statements (it may be ``engine``).
    A failure that is not transient, or the last attempt's, is ``StoreUnavailable``;
    an integrity error (a duplicate key) is the caller's to handle and passes unchanged.
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

    def run(self, work: Callable[[Connection], _T], *, transaction: bool = True) -> _T:
        """Run ``work`` in a transaction (or autocommit), retrying transient failures."""
        engine = self.engine if transaction else self.single
        attempt = 0
        while True:
            attempt += 1
            try:
                with engine.begin() as connection:
                    return work(connection)
            except sa.exc.IntegrityError:
                raise
            except sa.exc.DBAPIError as error:
                pause = self._pause(error, attempt, error.connection_invalidated, self.retry)
            except sa.exc.SQLAlchemyError as error:
                raise self.errors.unavailable(error) from error
            time.sleep(pause)

    def raw(self, work: Callable[[Any], _T], *, transaction: bool, attempts: int | None = None) -> _T:
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
                connection = engine.raw_connection()
            except sa.exc.DBAPIError as error:
                time.sleep(self._pause(error, attempt, True, retry))
                continue
            except self.driver_error as error:
                # The pool hands out driver errors unwrapped when it cannot connect.
                time.sleep(self._pause(error, attempt, True, retry))
                continue
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
            except self.driver_error as error:
                disconnected = self.engine.dialect.is_disconnect(error, connection.dbapi_connection, cursor)  # type: ignore[arg-type]  # SQLAlchemy types the raw cursor as optional
                if disconnected:
                    connection.invalidate(error)
                pause = self._pause(error, attempt, disconnected, retry)
            finally:
                connection.close()
            time.sleep(pause)

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
        original = _original(error)
        if isinstance(original, self.integrity_error):
            raise error
        delay = retry.delay(error, attempt, disconnected=disconnected)
        if delay is None:
            raise self.errors.unavailable(original) from error
        return delay
