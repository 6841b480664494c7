"""Database URLs as users write them, and the errors of opening one, in words that name the fix."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.util import CommandError

from upload_tickets import BackendNotInstalled, ConfigurationError, StoreUnavailable, UploadTicketsError

#: The driver each database runs on when the URL names none, and the one the package's ``[extra]`` installs.
DRIVERS = {"postgresql": "psycopg", "mysql": "pymysql", "mariadb": "pymysql", "sqlite": "pysqlite"}
#: The same for the async flavour, chosen by ``benchmarks/sql_drivers.py``: SQLite stays on sqlite3,
#: on a thread of its own, which beat aiosqlite (itself a thread per connection) 2-4x.
ASYNC_DRIVERS = {"postgresql": "asyncpg", "mysql": "aiomysql", "mariadb": "aiomysql", "sqlite": "pysqlite"}
#: How engines on a database server pool their connections, unless told otherwise.
#: - No ``pool_pre_ping``: it costs a round trip per call, and a connection that died in
#:   the pool fails fast and is retried anyway.
#: - LIFO: under light load one warm connection (its prepared statements, its cached
#:   plans) serves every call instead of cycling through the pool.
#: - Every connection opened is kept (15, SQLAlchemy's default maximum, no overflow):
#:   with overflow connections, a burst past the pool's size closes one at every return
#:   and opens another at the next call, a handshake, a login and fresh prepared
#:   statements each time; at 16 concurrent HTTP mints that churn cut the async server's
#:   throughput 5x. Beyond 15 concurrent calls a caller waits for a free connection.
POOL_DEFAULTS: dict[str, object] = {"pool_use_lifo": True, "pool_size": 15, "max_overflow": 0}
_EXTRAS = {
    "psycopg": "postgresql",
    "pymysql": "mysql",
    "asyncpg": "async-postgresql",
    "aiomysql": "async-mysql",
}
# SQLAlchemy dropped the "postgres" name, which Heroku-style URLs still carry.
_ALIASES = {"postgres": "postgresql"}

_CREDENTIALS_SQLSTATES = frozenset({"28000", "28P01"})
_UNKNOWN_DATABASE_SQLSTATE = "3D000"
_MYSQL_CREDENTIALS = frozenset({1044, 1045, 1698})
_MYSQL_UNKNOWN_DATABASE = 1049
_SQLITE_PATH_ERRORS = ("unable to open database file", "file is not a database", "readonly database")


def database_url(url: str, *, async_driver: bool = False) -> sa.URL:
    """``url`` with a lowercase scheme, ``postgres`` spelled ``postgresql``, and our driver where it names none.

    With ``async_driver`` the default driver is the async flavour's (:data:`ASYNC_DRIVERS`).
    """
    scheme, separator, rest = url.partition("://")
    if not separator:
        raise ConfigurationError(f"not a database URL (expected e.g. sqlite:///tickets.db): {url!r}")
    backend, _, driver = scheme.lower().partition("+")
    backend = _ALIASES.get(backend, backend)
    if backend not in DRIVERS:
        raise ConfigurationError(
            f"upload-tickets-sql runs on SQLite, PostgreSQL and MariaDB/MySQL, not {backend}://; "
            "use sqlite:///..., postgresql+psycopg://... or mysql+pymysql://..."
        )
    try:
        return sa.make_url(f"{backend}+{driver or (ASYNC_DRIVERS if async_driver else DRIVERS)[backend]}://{rest}")
    except (sa.exc.ArgumentError, ValueError) as error:
        raise ConfigurationError(f"cannot read the database URL ({error}); check its host, port and path") from error


def suggested(parsed: sa.URL, *, async_driver: bool = False) -> str:
    """``parsed`` on the driver we support, password hidden: the URL to use instead."""
    backend = parsed.get_backend_name()
    # sqlite3 ships with Python: the bare scheme is the clearest way to name it.
    default = (ASYNC_DRIVERS if async_driver else DRIVERS)[backend]
    drivername = backend if backend == "sqlite" else f"{backend}+{default}"
    return parsed.set(drivername=drivername).render_as_string(hide_password=True)


def driver_error(parsed: sa.URL, error: Exception, *, async_driver: bool = False) -> ConfigurationError:
    """The error for a URL whose driver SQLAlchemy cannot load."""
    driver = parsed.get_driver_name()
    if driver == (ASYNC_DRIVERS if async_driver else DRIVERS)[parsed.get_backend_name()] and driver in _EXTRAS:
        return BackendNotInstalled(
            f"the database driver for {parsed.drivername}:// is not installed: "
            f'pip install "upload-tickets-sql[{_EXTRAS[driver]}]"'
        )
    return ConfigurationError(
        f"the {driver!r} driver of {parsed.drivername}:// is not available here ({error}); "
        f"use {suggested(parsed, async_driver=async_driver)}"
    )


def wrong_flavour(parsed: sa.URL, *, async_driver: bool) -> ConfigurationError:
    """The error for a URL whose driver is of the other flavour (a sync driver under the async backend)."""
    kind, other = ("a sync", "the async backend") if async_driver else ("an asyncio", "the sync backend")
    return ConfigurationError(
        f"{parsed.get_driver_name()!r} is {kind} driver, which {other} cannot run on; "
        f"use {suggested(parsed, async_driver=async_driver)}"
    )


def check_sqlite_path(parsed: sa.URL) -> None:
    """Refuse a SQLite file whose folder does not exist (SQLite makes the file, never its folder)."""
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:") or parsed.query.get("uri"):
        return
    folder = Path(database).parent
    if not folder.is_dir():
        raise ConfigurationError(
            f"the SQLite database {database} cannot be created: its folder {folder} does not exist; "
            "create the folder or fix the path in the URL"
        )


def setup_error(parsed: sa.URL, error: BaseException) -> UploadTicketsError:
    """What failing to open or migrate the database at ``parsed`` means: a wrong URL, or a server out of reach."""
    if isinstance(error, CommandError):
        return ConfigurationError(
            f"the upload-tickets tables cannot be migrated ({error}); if a newer upload-tickets-sql "
            "migrated this database, upgrade this one too"
        )
    original = error.orig if isinstance(error, sa.exc.DBAPIError) else error
    text = str(original)
    where = parsed.render_as_string(hide_password=True)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if any(fault in text for fault in _SQLITE_PATH_ERRORS):
            return ConfigurationError(
                f"cannot open the SQLite database {parsed.database} ({text}); fix the path in the URL "
                "or the file's permissions"
            )
        return StoreUnavailable(f"the SQLite database {parsed.database} failed: {text}")
    sqlstate = getattr(original, "sqlstate", None)
    code = original.args[0] if original is not None and original.args else None
    if backend == "postgresql":
        # psycopg reports a refused connection without a SQLSTATE: only the server's words tell.
        credentials = sqlstate in _CREDENTIALS_SQLSTATES or (
            "password authentication failed" in text
            or "no pg_hba.conf entry" in text
            or ('role "' in text and "does not exist" in text)
        )
        unknown_database = sqlstate == _UNKNOWN_DATABASE_SQLSTATE or ('database "' in text and "does not exist" in text)
    else:
        credentials = code in _MYSQL_CREDENTIALS
        unknown_database = code == _MYSQL_UNKNOWN_DATABASE
    if credentials:
        return ConfigurationError(
            f"the database at {where} refused the URL's credentials ({text}); fix the user or password in the URL"
        )
    if unknown_database:
        return ConfigurationError(
            f"the URL {where} names a database that does not exist ({text}); create it or fix its name in the URL"
        )
    if isinstance(error, sa.exc.ProgrammingError):
        return ConfigurationError(
            f"the upload-tickets tables cannot be created at {where} ({text}); "
            "grant the URL's user the right to create tables, or run upgrade() as one who has it"
        )
    # PEP 249 names the class of "the connection failed" the same in every driver.
    if isinstance(original, OSError) or type(original).__name__ in ("OperationalError", "InterfaceError"):
        return StoreUnavailable(
            f"cannot reach the database at {where} ({text}); start it, or fix the host and port in the URL"
        )
    return StoreUnavailable(f"opening the upload-tickets tables at {where} failed ({text})")
