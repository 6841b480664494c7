"""Where the real services are, one set per pytest run, and the loud skip when one is not there.

Each pytest run works in services of its own, so two runs at once against the same
servers never see each other's tables or keys:

- a PostgreSQL database and a MariaDB database named after the run
  (``ut_run_<unix time>_<pid>_<host tag>``), created on the servers that ``DATABASE_URL``
  and ``MARIADB_URL`` name (default: the standard local ports), dropped at session end;
- a throwaway ``redis-server`` on a free loopback port (nothing on disk), stopped by its
  PID at session end, unless ``REDIS_URL`` names a Redis to use instead.

``POSTGRES_URL``, ``MARIADB_URL`` and ``REDIS_URL`` are this run's URLs. The first read
of one (or :func:`start_run`, from the session hook in ``tests/conftest.py``) sets the
run up and exports the URLs as ``DATABASE_URL``, ``MARIADB_URL`` and ``REDIS_URL``, so
every process the tests start (servers, benchmarks, spawned children) uses them too.
Run databases a killed run left behind are dropped by the next run.

A missing service skips its tests on a laptop; ``.ci/run`` sets
``UPLOAD_TICKETS_NO_SKIPS=1``, which turns any skip into a failed run (see
``tests/conftest.py``).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

import attrs
import pytest
import redis
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from upload_tickets.testing.processes import free_port, stop
from upload_tickets_redis.testing import redis_server_command

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_MARIADB_URL = "mysql+pymysql://root@127.0.0.1:3306/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

RUN_VARIABLE = "UPLOAD_TICKETS_TEST_RUN"
"""Set (to the run's name) in the environment of a run and of every process it starts."""

STALE_AFTER_S = 6 * 3600
"""A run database this old is dropped even when its PID is alive (PID reuse) or not ours to check."""

_RUN_NAME = re.compile(r"^ut_run_(\d+)_(\d+)_([0-9a-f]{8})$")

# Declared, never assigned here: reading one goes through ``__getattr__`` below, which
# sets the run up first, so a module imported before the session starts (an initial
# conftest) still gets this run's URLs.
POSTGRES_URL: str
MARIADB_URL: str
REDIS_URL: str


def reachable(url: str) -> bool:
    """True if something listens at the URL's host and port."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), timeout=1):
            return True
    except OSError:
        return False


def service_down(reason: str) -> NoReturn:
    """Skip loudly on a laptop; fail outright where skips are forbidden (``UPLOAD_TICKETS_NO_SKIPS=1``, as in CI)."""
    message = f"SERVICE DOWN: {reason}"
    if os.environ.get("UPLOAD_TICKETS_NO_SKIPS") == "1":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def require(url: str, name: str) -> str:
    """Return ``url``, or skip (loudly) when its service is down; in CI that fails instead."""
    if not reachable(url):
        service_down(f"{name} is not reachable at {url}; start it or set the URL variable")
    return url


def host_tag() -> str:
    """Eight hex digits naming this machine, so a run only judges the PIDs of its own machine."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def run_name(started_s: int, pid: int) -> str:
    """The database name of the run that started at ``started_s`` in process ``pid`` on this machine."""
    return f"ut_run_{started_s}_{pid}_{host_tag()}"


def per_run_url(server_url: str, database: str) -> str:
    """``server_url`` with its database replaced by ``database`` (user, host, port and options kept)."""
    return sa.make_url(server_url).set(database=database).render_as_string(hide_password=False)


def pid_alive(pid: int) -> bool:
    """True if a process ``pid`` exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(database: str, now_s: float, *, own: str) -> bool:
    """True if ``database`` is a run database whose run is over: its PID is gone here, or it is old."""
    match = _RUN_NAME.match(database)
    if match is None or database == own:
        return False
    started_s, pid, host = int(match[1]), int(match[2]), match[3]
    if now_s - started_s > STALE_AFTER_S:
        return True
    return host == host_tag() and not pid_alive(pid)


class _Dialect:
    """Create, list and drop whole databases on one kind of server."""

    driver = ""
    """The synchronous driver our tests install: the URL may spell its scheme as users do."""

    def admin_engine(self, server_url: str) -> sa.Engine:
        """An engine on ``server_url`` that runs each statement on its own."""
        url = sa.make_url(server_url).set(drivername=self.driver)
        # CREATE/DROP DATABASE cannot run inside a transaction on PostgreSQL.
        return sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)

    def create(self, connection: sa.Connection, database: str) -> None:
        raise NotImplementedError

    def names(self, connection: sa.Connection) -> list[str]:
        raise NotImplementedError

    def drop(self, connection: sa.Connection, database: str) -> None:
        raise NotImplementedError


class _Postgres(_Dialect):
    driver = "postgresql+psycopg"

    def create(self, connection: sa.Connection, database: str) -> None:
        # Same encoding and locale as the database the URL names; template0, because
        # CREATE DATABASE from template1 fails while anyone else is connected to it.
        encoding, collate, ctype = connection.execute(
            sa.text(
                "SELECT pg_encoding_to_char(encoding), datcollate, datctype"
                " FROM pg_database WHERE datname = current_database()"
            )
        ).one()
        connection.execute(
            sa.text(
                f'CREATE DATABASE "{database}" TEMPLATE template0'
                f" ENCODING '{encoding}' LC_COLLATE '{collate}' LC_CTYPE '{ctype}'"
            )
        )

    def names(self, connection: sa.Connection) -> list[str]:
        return list(connection.scalars(sa.text("SELECT datname FROM pg_database WHERE datname LIKE 'ut\\_run\\_%'")))

    def drop(self, connection: sa.Connection, database: str) -> None:
        # A connection a test leaked (or a killed run's) would make DROP DATABASE fail.
        connection.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": database},
        )
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}"'))


class _MariaDb(_Dialect):
    driver = "mysql+pymysql"

    def create(self, connection: sa.Connection, database: str) -> None:
        row = connection.execute(
            sa.text(
                "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA"
                " WHERE SCHEMA_NAME = DATABASE()"
            )
        ).first()
        charset = f" CHARACTER SET {row[0]} COLLATE {row[1]}" if row is not None else ""
        connection.execute(sa.text(f"CREATE DATABASE `{database}`{charset}"))

    def names(self, connection: sa.Connection) -> list[str]:
        return list(connection.scalars(sa.text("SHOW DATABASES LIKE 'ut\\_run\\_%'")))

    def drop(self, connection: sa.Connection, database: str) -> None:
        # A connection holding a lock on one of its tables would make DROP DATABASE wait forever.
        ids = connection.scalars(
            sa.text("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = :name AND ID <> CONNECTION_ID()"),
            {"name": database},
        )
        for connection_id in list(ids):
            # It may have ended on its own meanwhile.
            with contextlib.suppress(sa.exc.DBAPIError):
                connection.execute(sa.text(f"KILL CONNECTION {int(connection_id)}"))
        connection.execute(sa.text(f"DROP DATABASE IF EXISTS `{database}`"))


@attrs.define
class RunDatabase:
    """This run's database on one SQL server: made by :meth:`create`, dropped by :meth:`drop`."""

    server_url: str
    name: str
    dialect: _Dialect
    created: bool = False

    @property
    def url(self) -> str:
        return per_run_url(self.server_url, self.name)

    def create(self) -> None:
        """Drop what dead runs left on this server, then create this run's database (if the server is up)."""
        if not reachable(self.server_url):
            return  # the tests skip loudly through require(), as for any service that is down
        engine = self.dialect.admin_engine(self.server_url)
        try:
            with engine.connect() as connection:
                now_s = time.time()
                for leftover in self.dialect.names(connection):
                    if is_stale(leftover, now_s, own=self.name):
                        # Another run may be dropping it right now.
                        with contextlib.suppress(sa.exc.DBAPIError):
                            self.dialect.drop(connection, leftover)
                self.dialect.create(connection, self.name)
                self.created = True
        finally:
            engine.dispose()

    def drop(self) -> None:
        """Drop this run's database, if it was created."""
        if not self.created:
            return
        engine = self.dialect.admin_engine(self.server_url)
        try:
            with engine.connect() as connection:
                self.dialect.drop(connection, self.name)
            self.created = False
        finally:
            engine.dispose()


def _die_with_parent() -> Callable[[], None] | None:
    # Linux: the kernel sends SIGTERM to the child when the run dies, even by SIGKILL, so
    # a killed run never leaves its redis-server behind.
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before fork: no dlsym in the child
    pr_set_pdeathsig = 1

    def arm() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM)

    return arm


@attrs.define
class RunRedis:
    """A throwaway ``redis-server`` for this run, on a free loopback port, stopped by its PID."""

    process: subprocess.Popen[bytes]
    port: int
    directory: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @classmethod
    def start(cls) -> RunRedis:
        """Start one, retrying on another port if a concurrent process took the one picked."""
        directory = Path(tempfile.mkdtemp(prefix="ut-run-redis-"))
        for _ in range(5):
            port = free_port()
            process = subprocess.Popen(
                redis_server_command(port, directory),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=_die_with_parent(),
            )
            server = cls(process, port, directory)
            if server._wait_ready():
                return server
            stop(server.process)
        log = "".join(path.read_text(errors="replace") for path in directory.glob("*.log"))[-2000:]
        shutil.rmtree(directory, ignore_errors=True)
        raise RuntimeError(f"this run's redis-server did not start:\n{log}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + 20
        while self.process.poll() is None and time.monotonic() < deadline:
            try:
                with redis.Redis(port=self.port, socket_timeout=1) as client:
                    if client.ping():
                        return True
            except redis.RedisError:
                pass
            time.sleep(0.02)
        return False

    def stop(self) -> None:
        """Stop the server (by its PID) and delete its folder."""
        stop(self.process)
        shutil.rmtree(self.directory, ignore_errors=True)


@attrs.define
class TestRun:
    """The services of one pytest run, and whether this process owns (and so tears down) them."""

    name: str
    postgres_url: str
    mariadb_url: str
    redis_url: str
    databases: list[RunDatabase] = attrs.Factory(list)
    redis_server: RunRedis | None = None
    saved_environment: dict[str, str | None] = attrs.Factory(dict)

    def stop(self) -> None:
        """Drop the run's databases, stop its Redis and restore the environment (idempotent)."""
        try:
            for database in self.databases:
                database.drop()
        finally:
            if self.redis_server is not None:
                self.redis_server.stop()
                self.redis_server = None
            for variable, value in self.saved_environment.items():
                if value is None:
                    os.environ.pop(variable, None)
                else:
                    os.environ[variable] = value
            self.saved_environment.clear()


_run: TestRun | None = None


def _begin() -> TestRun:
    inherited = os.environ.get(RUN_VARIABLE)
    if inherited is not None:
        # A process the run started (a spawned child, a server, a nested pytest): the
        # run's URLs are in its environment, and the run tears them down, not us.
        return TestRun(
            inherited,
            os.environ.get("DATABASE_URL", DEFAULT_POSTGRES_URL),
            os.environ.get("MARIADB_URL", DEFAULT_MARIADB_URL),
            os.environ.get("REDIS_URL", DEFAULT_REDIS_URL),
        )
    name = run_name(int(time.time()), os.getpid())
    postgres = RunDatabase(os.environ.get("DATABASE_URL", DEFAULT_POSTGRES_URL), name, _Postgres())
    mariadb = RunDatabase(os.environ.get("MARIADB_URL", DEFAULT_MARIADB_URL), name, _MariaDb())
    run = TestRun(name, postgres.url, mariadb.url, os.environ.get("REDIS_URL", DEFAULT_REDIS_URL))
    atexit.register(run.stop)  # a run that ends before its session does (a usage error) cleans up too
    try:
        for database in (postgres, mariadb):
            run.databases.append(database)
            database.create()
        # Without the binary, the standard local Redis is still used (per-test key prefixes).
        if "REDIS_URL" not in os.environ and shutil.which("redis-server") is not None:
            run.redis_server = RunRedis.start()
            run.redis_url = run.redis_server.url
    except BaseException:
        run.stop()
        raise
    exported = {
        RUN_VARIABLE: name,
        "DATABASE_URL": run.postgres_url,
        "MARIADB_URL": run.mariadb_url,
        "REDIS_URL": run.redis_url,
    }
    for variable, value in exported.items():
        run.saved_environment[variable] = os.environ.get(variable)
        os.environ[variable] = value
    return run


def start_run() -> TestRun:
    """This run's services, set up on the first call (later calls return the same)."""
    global _run
    if _run is None:
        _run = _begin()
    return _run


def stop_run() -> None:
    """Tear down what :func:`start_run` set up in this process (nothing in a process that inherited a run)."""
    if _run is not None:
        _run.stop()


def __getattr__(name: str) -> str:
    if name == "POSTGRES_URL":
        return start_run().postgres_url
    if name == "MARIADB_URL":
        return start_run().mariadb_url
    if name == "REDIS_URL":
        return start_run().redis_url
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
