"""Several OS processes racing on one database: one consume winner, no over-admission."""

from __future__ import annotations

import functools

from upload_tickets.testing.races import bucket_hammer, consume_race
from upload_tickets_sql import open_backend


def test_processes_racing_to_consume_six_tickets_have_one_winner(sql_url: str) -> None:
    consume_race(functools.partial(open_backend, sql_url))


def test_processes_hammering_one_bucket_never_over_admit(sql_url: str) -> None:
    bucket_hammer(functools.partial(open_backend, sql_url))
