"""Opt-in pytest fixtures for apps that embed upload-tickets.

Installing the library changes nobody's test run: enable the plugin in a ``conftest.py``
with ``pytest_plugins = ["upload_tickets.testing.plugin"]``. Fixture names are
namespaced so they never shadow yours.
"""

from __future__ import annotations

import pytest

from upload_tickets.clock import ManualClock
from upload_tickets.http import HttpApi
from upload_tickets.memory import MemoryTeamDirectory
from upload_tickets.testing._fixtures import START_US
from upload_tickets.testing.kit import KitService, memory_api, memory_service


@pytest.fixture
def upload_tickets_clock() -> ManualClock:
    """The manual clock shared by :func:`upload_tickets_service` (TTLs and refills)."""
    return ManualClock(START_US)


@pytest.fixture
def upload_tickets_service(upload_tickets_clock: ManualClock) -> KitService:
    """A fresh service on memory backends, driven by ``upload_tickets_clock``."""
    return memory_service(clock=upload_tickets_clock)


@pytest.fixture
def upload_tickets_teams() -> MemoryTeamDirectory:
    """The API keys ``upload_tickets_api`` knows: empty; ``add(key, Team(...))`` some."""
    return MemoryTeamDirectory()


@pytest.fixture
def upload_tickets_api(upload_tickets_service: KitService, upload_tickets_teams: MemoryTeamDirectory) -> HttpApi:
    """The spec's HTTP surface over ``upload_tickets_service``, keyed by ``upload_tickets_teams``."""
    return memory_api(upload_tickets_service, upload_tickets_teams)
