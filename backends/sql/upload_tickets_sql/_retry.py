"""Which database failures say nothing about the data, only about the attempt (shared by both flavours)."""

from __future__ import annotations

import sqlalchemy as sa

# Errors worth another try: they say nothing about the data, only about this attempt.
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "55P03", "57P01", "08000", "08003", "08006"})
# 2003: the server refused the connection (a restart): as retryable as a dropped one.
_RETRYABLE_MYSQL_CODES = frozenset({1205, 1213, 2003, 2006, 2013})


def original(error: BaseException) -> BaseException:
    """The driver's error inside SQLAlchemy's wrapper (or ``error`` itself)."""
    if isinstance(error, sa.exc.DBAPIError) and error.orig is not None:
        return error.orig
    return error


def transient(error: BaseException) -> bool:
    """Whether a driver error (bare or wrapped by SQLAlchemy) is a serialization failure, deadlock or lock wait."""
    driver_error = original(error)
    if getattr(driver_error, "sqlstate", None) in _RETRYABLE_SQLSTATES:
        return True
    args = getattr(driver_error, "args", ())
    if args and args[0] in _RETRYABLE_MYSQL_CODES:
        return True
    return "database is locked" in str(driver_error)
