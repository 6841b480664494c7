"""Killed mid-operation (``os._exit`` after each change), on a single Redis and a Cluster: nothing lost or orphaned."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from tests.redis.support import list_blob_keys, open_service
from upload_tickets.testing.crashes import OPERATIONS, crash_matrix
from upload_tickets_redis import open_backend


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_crash_after_any_change_loses_and_leaks_no_bytes(
    redis_url: str, prefix: str, tmp_path: Path, operation: str
) -> None:
    blob_root = tmp_path / "blobs"
    try:
        outcomes = crash_matrix(
            functools.partial(open_service, redis_url, prefix, blob_root),
            functools.partial(list_blob_keys, blob_root),
            operation=operation,
        )
    finally:
        backend = open_backend(redis_url, prefix=prefix)
        backend.clear()
        backend.close()
    assert outcomes[-1].completed
    assert len(outcomes) > 1, "the operation changed nothing before it completed"
    assert [o for o in outcomes if not o.ok] == []
