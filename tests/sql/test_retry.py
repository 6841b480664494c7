"""The SQL adapter's retries: which driver errors earn another attempt, and what giving up raises."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pymysql  # type: ignore[import-untyped]  # PyMySQL ships no type hints
import pytest
import sqlalchemy as sa

from upload_tickets import StoreUnavailable
from upload_tickets_sql._retry import transient
from upload_tickets_sql._sync._runner import Runner


@pytest.mark.parametrize(
    "error",
    [
        psycopg.errors.SerializationFailure("could not serialize access"),
        psycopg.errors.DeadlockDetected("deadlock detected"),
        psycopg.errors.LockNotAvailable("could not obtain lock"),
        pymysql.err.OperationalError(1213, "Deadlock found when trying to get lock"),
        pymysql.err.OperationalError(1205, "Lock wait timeout exceeded"),
        pymysql.err.OperationalError(2013, "Lost connection to MySQL server during query"),
        sqlite3.OperationalError("database is locked"),
        sa.exc.OperationalError("SELECT 1", {}, sqlite3.OperationalError("database is locked")),
    ],
    ids=repr,
)
def test_errors_about_the_attempt_are_transient(error: Exception) -> None:
    assert transient(error)


@pytest.mark.parametrize(
    "error",
    [
        psycopg.errors.UniqueViolation("duplicate key"),
        psycopg.errors.UndefinedTable("no such table"),
        pymysql.err.IntegrityError(1062, "Duplicate entry"),
        pymysql.err.ProgrammingError(1146, "Table doesn't exist"),
        sqlite3.OperationalError("no such table: upload_tickets"),
        sa.exc.OperationalError("SELECT 1", {}, sqlite3.OperationalError("no such table: t")),
    ],
    ids=repr,
)
def test_errors_about_the_data_or_the_schema_are_not(error: Exception) -> None:
    assert not transient(error)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'retry.db'}")
    yield engine
    engine.dispose()


def _failing(failures: int, error: Exception) -> tuple[list[int], Any]:
    calls: list[int] = []

    def work(_: Any) -> str:
        calls.append(1)
        if len(calls) <= failures:
            raise error
        return "done"

    return calls, work


def test_a_transient_failure_is_retried_until_the_work_succeeds(engine: sa.Engine) -> None:
    runner = Runner(engine, engine, attempts=3)
    locked = sa.exc.OperationalError("UPDATE", {}, sqlite3.OperationalError("database is locked"))
    calls, work = _failing(2, locked)
    assert runner.run(work) == "done"
    assert len(calls) == 3
    calls, work = _failing(2, sqlite3.OperationalError("database is locked"))
    assert runner.raw(work, transaction=False) == "done"
    assert len(calls) == 3


def test_the_last_attempt_gives_up_with_store_unavailable_caused_by_the_error(engine: sa.Engine) -> None:
    runner = Runner(engine, engine, attempts=3)
    driver_error = sqlite3.OperationalError("database is locked")
    calls, work = _failing(5, driver_error)
    with pytest.raises(StoreUnavailable) as caught:
        runner.raw(work, transaction=False)
    assert len(calls) == 3
    assert caught.value.__cause__ is driver_error
    assert caught.value.message == "the sqlite ticket store failed: database is locked"
    calls, work = _failing(5, driver_error)
    with pytest.raises(StoreUnavailable):
        runner.raw(work, transaction=False, attempts=1)
    assert len(calls) == 1


def test_a_non_transient_failure_is_not_retried(engine: sa.Engine) -> None:
    runner = Runner(engine, engine, attempts=3)
    wrapped = sa.exc.OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: t"))
    calls, work = _failing(1, wrapped)
    with pytest.raises(StoreUnavailable) as caught:
        runner.run(work)
    assert len(calls) == 1
    assert caught.value.__cause__ is wrapped


def test_integrity_errors_are_the_callers(engine: sa.Engine) -> None:
    runner = Runner(engine, engine, attempts=3)
    duplicate = sqlite3.IntegrityError("UNIQUE constraint failed: t.id")
    calls, work = _failing(1, duplicate)
    with pytest.raises(sqlite3.IntegrityError):
        runner.raw(work, transaction=False)
    assert len(calls) == 1
    wrapped = sa.exc.IntegrityError("INSERT", {}, duplicate)
    calls, work = _failing(1, wrapped)
    with pytest.raises(sa.exc.IntegrityError):
        runner.run(work)
    assert len(calls) == 1
