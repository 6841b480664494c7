"""Consume, sweep and delete killed after each of their changes: nothing lost, nothing orphaned."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.sql.conftest import blob_keys, file_blobs, sql_service
from upload_tickets import UploadTickets
from upload_tickets.protocols import Clock
from upload_tickets.testing.crashes import OPERATIONS, crash_matrix
from upload_tickets_sql import SqlBackend, open_backend


class _OpenService:
    """Opens the service on one database and blob folder, in this process or a spawned child.

    One backend per process, opened on first use: the matrix opens the service again
    for every kill, and a pool per call would leave connections behind. Only the URL
    and folder are pickled; a child opens its own.
    """

    def __init__(self, url: str, blob_dir: Path) -> None:
        self.url, self.blob_dir = url, blob_dir
        self._backend: SqlBackend | None = None

    def __call__(self, clock: Clock) -> UploadTickets:
        if self._backend is None:
            self._backend = open_backend(self.url)
        return sql_service(self._backend, clock, file_blobs(self.blob_dir))

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self.url, "blob_dir": self.blob_dir, "_backend": None}

    def close(self) -> None:
        if self._backend is not None:
            self._backend.dispose()


@pytest.fixture
def open_service(sql_url: str, tmp_path: Path) -> Iterator[_OpenService]:
    opener = _OpenService(sql_url, tmp_path / "blobs")
    yield opener
    opener.close()


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_crash_after_any_change_loses_and_leaks_nothing(
    operation: str, open_service: _OpenService, capfd: pytest.CaptureFixture[str]
) -> None:
    outcomes = crash_matrix(open_service, lambda: blob_keys(open_service.blob_dir), operation=operation)
    assert [o for o in outcomes if not o.ok] == []
    assert outcomes[-1].completed
    assert len(outcomes) > 1, "the operation changed nothing, so no crash was tried"
    # Neither the children nor the recoveries printed anything (no warnings, no tracebacks).
    assert capfd.readouterr() == ("", "")
