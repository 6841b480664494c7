"""Mint on SQLite and PostgreSQL next to one raw INSERT + COMMIT of a ticket row.

The baseline is the cheapest honest write of the same row through the bare driver: an
autocommitted INSERT on PostgreSQL (one round trip, one commit) and INSERT + commit()
on SQLite with the same pragmas (WAL, synchronous=NORMAL).
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path

import psycopg
import sqlalchemy as sa

from benchmarks._harness import Figure, bench_service, side_by_side
from upload_tickets import MintRequest, Team, UploadTickets
from upload_tickets.testing import make_ticket
from upload_tickets_sql import metadata, open_backend
from upload_tickets_sql._schema import ticket_to_row

POSTGRES_URL = os.environ.get("DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
_REQUEST = MintRequest(filename="front-portrait.jpg", extension="jpg", content_type="image/jpeg")
_COLUMNS = tuple(ticket_to_row(make_ticket()))
_INSERT = f"INSERT INTO upload_tickets ({', '.join(_COLUMNS)}) VALUES ({', '.join(['%s'] * len(_COLUMNS))})"


def _service(url: str) -> tuple[UploadTickets, Callable[[], None]]:
    backend = open_backend(url)
    metadata.drop_all(backend.engine)
    backend.create_tables()
    service = bench_service(backend, backend)
    return service, backend.dispose


def _raw_row() -> tuple[object, ...]:
    row = ticket_to_row(make_ticket())
    return tuple(row[c] for c in _COLUMNS)


def run(*, calls: int, rounds: int) -> list[Figure]:
    """Measure mint on SQLite and PostgreSQL against raw inserts."""
    teams = (Team(f"bench-{n}") for n in itertools.count())
    figures = []
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        service, close = _service(url)
        raw = sqlite3.connect(Path(folder) / "bench.db")
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute("PRAGMA synchronous=NORMAL")
        insert = _INSERT.replace("%s", "?")

        def sqlite_insert() -> None:
            raw.execute(insert, _raw_row())
            raw.commit()

        team = next(teams)
        figures.append(
            side_by_side(
                "mint (SQLite)",
                lambda: service.mint(team, _REQUEST),
                "raw sqlite3 INSERT+COMMIT",
                sqlite_insert,
                calls=calls,
                rounds=rounds,
                target="(no target)",
            )
        )
        raw.close()
        close()

    service, close = _service(POSTGRES_URL)
    dsn = sa.make_url(POSTGRES_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as autocommit, psycopg.connect(dsn) as transactional:

        def insert_commit() -> None:
            transactional.execute(_INSERT, _raw_row())
            transactional.commit()

        team = next(teams)
        for baseline_name, baseline in (
            # The strictest floor: one round trip that inserts and commits.
            ("raw psycopg INSERT (autocommit)", lambda: autocommit.execute(_INSERT, _raw_row())),
            # INSERT then commit() as written with psycopg's default transactions.
            ("raw psycopg INSERT + commit()", insert_commit),
        ):
            figures.append(
                side_by_side(
                    "mint (PostgreSQL)",
                    lambda: service.mint(team, _REQUEST),
                    baseline_name,
                    baseline,
                    calls=max(1, calls // 10),
                    rounds=rounds,
                    target="<= 1.3",
                )
            )
    close()
    return figures
