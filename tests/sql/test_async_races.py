"""OS processes of async workers racing on PostgreSQL: one consume winner, no over-admission.

The races of ``test_races.py``, with each process running an event loop of several
tasks on ``AsyncUploadTickets`` over ``async_backend_from_url``: the SQL adapter has no
async flavour, so that is its sync backend run on worker threads (``upload_tickets.threaded``).
"""

from __future__ import annotations

import functools
from typing import cast

import pytest

from upload_tickets import async_backend_from_url
from upload_tickets.testing.races import async_bucket_hammer, async_consume_race
from upload_tickets.threaded import ThreadedTicketStore
from upload_tickets_sql import SqlBackend

# This module's own fresh schema (the sql_url fixture), on PostgreSQL only.
pytestmark = pytest.mark.parametrize("sql_url", ["postgresql"], indirect=True)


def test_the_async_backend_is_the_threaded_wrapper(sql_url: str) -> None:
    backend = async_backend_from_url(sql_url)
    store = backend.store
    assert isinstance(store, ThreadedTicketStore)
    # One object, store and limiter: a mint stays one transaction.
    assert cast(object, backend.limiter) is store
    inner = store.inner
    assert isinstance(inner, SqlBackend)
    inner.dispose()


def test_async_workers_racing_to_consume_six_tickets_have_one_winner(sql_url: str) -> None:
    async_consume_race(functools.partial(async_backend_from_url, sql_url), processes=2, tasks=4, rounds=8)


def test_async_workers_hammering_one_bucket_never_over_admit(sql_url: str) -> None:
    # 2 processes x 6 tasks x 8 calls: more than the burst of 60.
    async_bucket_hammer(functools.partial(async_backend_from_url, sql_url), skews_us=(0, 0), tasks=6, calls=8)
