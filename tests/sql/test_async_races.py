"""OS processes of async workers racing on SQLite, PostgreSQL and MariaDB: one consume winner, no over-admission.

The races of ``test_races.py``, with each process running an event loop of several
tasks on ``AsyncUploadTickets`` over ``async_backend_from_url``: the SQL adapter's own
async flavour, ``AsyncSqlBackend``, on each dialect's async driver.
"""

from __future__ import annotations

import functools

from anyio.from_thread import BlockingPortal

from tests.sql.conftest import async_url
from upload_tickets import AsyncBackend, async_backend_from_url
from upload_tickets.testing.races import async_bucket_hammer, async_consume_race
from upload_tickets_sql import ASYNC_DRIVERS, AsyncSqlBackend


def test_the_registry_gives_the_native_async_backend(sql_url: str, portal: BlockingPortal) -> None:
    scheme, rest = async_url(sql_url).split("://", 1)
    # Any spelling of the scheme picks the adapter, and the async factory next to its sync one.
    backend = portal.call(lambda: async_backend_from_url(f"{scheme.upper()}://{rest}"))
    store = backend.store
    try:
        assert isinstance(backend, AsyncBackend)
        # Not the worker-thread wrapper, and one object, so a mint stays one call (one statement on PostgreSQL).
        assert type(store) is AsyncSqlBackend
        assert backend.limiter is store
        assert store.engine.url.get_driver_name() == ASYNC_DRIVERS[store.engine.url.get_backend_name()]
        assert portal.call(store.get, "team", "upl_01HXMQ7Z3K8Y2NABCDEFGHJKMR") is None
    finally:
        if isinstance(store, AsyncSqlBackend):
            portal.call(store.aclose)


def test_async_workers_racing_to_consume_six_tickets_have_one_winner(sql_url: str) -> None:
    async_consume_race(functools.partial(async_backend_from_url, async_url(sql_url)), processes=2, tasks=4, rounds=8)


def test_async_workers_hammering_one_bucket_never_over_admit(sql_url: str) -> None:
    # 2 processes x 6 tasks x 8 calls: more than the burst of 60.
    async_bucket_hammer(
        functools.partial(async_backend_from_url, async_url(sql_url)), skews_us=(0, 0), tasks=6, calls=8
    )
