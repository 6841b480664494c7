"""Shared fixtures, this run's own services, and the rule that a skipped test fails the run in CI.

Each run gets its own databases and Redis (``tests/services.py``), set up when the
session starts and torn down when it ends, so two runs at once never clash.

On a laptop without Redis or PostgreSQL, service tests skip loudly. With
``UPLOAD_TICKETS_NO_SKIPS=1`` (set by ``.ci/run``) any skip turns the run red, so a
service that is down can never pass as green.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from tests import services
from tests.support import API_KEY_A, API_KEY_B, TEAM_A, TEAM_B, make_service, make_signer
from upload_tickets import HmacSigner, ManualClock, MemoryTeamDirectory, UploadTickets
from upload_tickets.http import HttpApi
from upload_tickets.testing import START_US

# The kit's fixtures, enabled as an embedder enables them (the plugin is opt-in).
pytest_plugins = ["upload_tickets.testing.plugin"]

settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("default")


_skipped: list[str] = []


def pytest_sessionstart(session: pytest.Session) -> None:
    # Before collection: modules that read the URLs from the environment when imported
    # (the benchmarks) then get this run's.
    services.start_run()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("UPLOAD_TICKETS_NO_SKIPS") == "1" and _skipped:
        print(f"\nFAILED: {len(_skipped)} test(s) skipped while UPLOAD_TICKETS_NO_SKIPS=1:")
        for nodeid in _skipped:
            print(f"  {nodeid}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    services.stop_run()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START_US)


@pytest.fixture
def signer() -> HmacSigner:
    return make_signer()


@pytest.fixture
def service(clock: ManualClock) -> UploadTickets:
    return make_service(clock)


@pytest.fixture
def api(service: UploadTickets) -> HttpApi:
    return HttpApi(service, MemoryTeamDirectory({API_KEY_A: TEAM_A, API_KEY_B: TEAM_B}))
