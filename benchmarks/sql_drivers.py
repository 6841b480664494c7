"""Which async driver each database runs on: async mint per driver, side by side in one run.

Each candidate runs ``AsyncUploadTickets.mint`` (one ``create_if_allowed`` per mint) from
1 and 16 tasks on one event loop, in alternating rounds against the same database:

- PostgreSQL: asyncpg against psycopg 3's async mode (the default is the baseline);
- MariaDB: aiomysql against asyncmy;
- SQLite: aiosqlite (which runs every statement on a thread per connection) against
  sqlite3 on a thread of the engine's own, each call run there whole (the default).

The baseline of each pair is the driver that ``ASYNC_DRIVERS`` names (costs per mint, so a
ratio below 1 says the other candidate is faster).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from benchmarks._harness import Figure, bench_async_service, throughput_figure
from benchmarks.mint_sql import POSTGRES_URL
from upload_tickets import AsyncUploadTickets, MintRequest, Team
from upload_tickets_sql import AsyncSqlBackend, async_open_backend

_TEAM = Team("bench-drivers")
_REQUEST = MintRequest(filename="front-portrait.jpg", extension="jpg", content_type="image/jpeg")
_PG = POSTGRES_URL.partition("://")[2]
MARIADB_URL = "root@127.0.0.1:3306/test"


async def _rate(service: AsyncUploadTickets, tasks: int, seconds: float) -> float:
    counts: list[int] = []
    start = time.perf_counter()
    deadline = start + seconds

    async def work() -> None:
        done = 0
        while done == 0 or time.perf_counter() < deadline:
            await service.mint(_TEAM, _REQUEST)
            done += 1
        counts.append(done)

    async with anyio.create_task_group() as group:
        for _ in range(tasks):
            group.start_soon(work)
    return sum(counts) / (time.perf_counter() - start)


def _pair(
    runner: asyncio.Runner, name: str, subject: Any, baseline: Any, *, seconds: float, rounds: int, tasks: int
) -> Figure:
    subject_service, baseline_service = (bench_async_service(s, s) for s in (subject[1], baseline[1]))
    for service in (subject_service, baseline_service):
        runner.run(_rate(service, tasks, min(seconds, 0.2)))
    subject_rps: list[float] = []
    baseline_rps: list[float] = []
    for _ in range(rounds):
        subject_rps.append(runner.run(_rate(subject_service, tasks, seconds)))
        baseline_rps.append(runner.run(_rate(baseline_service, tasks, seconds)))
    plural = "s" if tasks > 1 else ""
    return throughput_figure(
        f"async mint, {tasks} task{plural}, {subject[0]} ({name})",
        f"{baseline[0]}",
        subject_rps,
        baseline_rps,
        target="< 1 would favour the candidate",
    )


async def _opened(url: str) -> AsyncSqlBackend:
    return async_open_backend(url, create=True)


def run(*, seconds: float, rounds: int, concurrency: tuple[int, ...] = (1, 16)) -> list[Figure]:
    """Figures: each database's candidate driver next to its default, at each concurrency."""
    figures: list[Figure] = []
    with asyncio.Runner() as runner, tempfile.TemporaryDirectory() as folder:
        sqlite_file = Path(folder) / "drivers.db"
        pairs: list[tuple[str, tuple[str, Any], tuple[str, Any]]] = []
        opened: list[Any] = []

        def backend(url: str) -> AsyncSqlBackend:
            made = runner.run(_opened(url))
            opened.append(made)
            return made

        pairs.append(
            (
                "PostgreSQL",
                ("psycopg (async)", backend(f"postgresql+psycopg://{_PG}")),
                ("asyncpg", backend(f"postgresql+asyncpg://{_PG}")),
            )
        )
        pairs.append(
            (
                "MariaDB",
                ("asyncmy", backend(f"mysql+asyncmy://{MARIADB_URL}")),
                ("aiomysql", backend(f"mysql+aiomysql://{MARIADB_URL}")),
            )
        )
        pairs.append(
            (
                "SQLite",
                ("aiosqlite", backend(f"sqlite+aiosqlite:///{sqlite_file}")),
                ("sqlite3 on its own thread", backend(f"sqlite:///{sqlite_file}")),
            )
        )
        try:
            for tasks in concurrency:
                for name, subject, baseline in pairs:
                    figures.append(_pair(runner, name, subject, baseline, seconds=seconds, rounds=rounds, tasks=tasks))
        finally:
            for made in opened:
                runner.run(made.aclose())
    return figures


if __name__ == "__main__":
    for figure in run(seconds=1.5, rounds=3):
        print(figure.row())
