"""Characters own their bytes in S3 (s3rver): the ownership contract, and kills after every change."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from tests.s3.support import S3Server, hosted_service, list_blob_keys, open_service
from upload_tickets.testing import ServiceOwnershipContract
from upload_tickets.testing.crashes import OPERATIONS, crash_matrix
from upload_tickets.testing.ownership import ServiceFactory


class TestOwnershipOnS3(ServiceOwnershipContract):
    @pytest.fixture
    def service_factory(self, s3rver: S3Server) -> ServiceFactory:
        server = s3rver.isolated()
        return lambda clock: hosted_service(server, clock)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_crash_after_any_change_loses_and_leaks_no_bytes(s3rver: S3Server, tmp_path: Path, operation: str) -> None:
    server = s3rver.isolated()
    outcomes = crash_matrix(
        functools.partial(open_service, server, f"sqlite:///{tmp_path / 'tickets.db'}"),
        functools.partial(list_blob_keys, server),
        operation=operation,
    )
    assert outcomes[-1].completed
    assert len(outcomes) > 1, "the operation changed nothing before it completed"
    assert [o for o in outcomes if not o.ok] == []
