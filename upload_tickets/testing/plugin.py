"""Opt-in pytest fixtures for apps that embed upload-tickets.

Installing the library changes nobody's test run: enable the plugin in a ``conftest.py``
with ``pytest_plugins = ["upload_tickets.testing.plugin"]``. Fixture names are
namespaced so they never shadow yours. The ``upload_tickets_async_*`` fixtures are the
async facade's twins (built without an event loop; await their methods in your async tests).
"""

from __future__ import annotations

import pytest

from upload_tickets.clock import ManualClock
from upload_tickets.http import AsyncHttpApi, HttpApi
from upload_tickets.memory import AsyncMemoryTeamDirectory, MemoryTeamDirectory
from upload_tickets.testing._fixtures import START_US
from upload_tickets.testing.kit import (
    AsyncKitService,
    KitService,
    async_memory_api,
    async_memory_service,
    memory_api,
    memory_service,
)


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


@pytest.fixture
def upload_tickets_async_service(upload_tickets_clock: ManualClock) -> AsyncKitService:
    """A fresh async service on async memory backends, driven by ``upload_tickets_clock``."""
    return async_memory_service(clock=upload_tickets_clock)


@pytest.fixture
def upload_tickets_async_teams() -> AsyncMemoryTeamDirectory:
    """The API keys ``upload_tickets_async_api`` knows: empty; ``add(key, Team(...))`` some."""
    return AsyncMemoryTeamDirectory()


@pytest.fixture
def upload_tickets_async_api(
    upload_tickets_async_service: AsyncKitService, upload_tickets_async_teams: AsyncMemoryTeamDirectory
) -> AsyncHttpApi:
    """The spec's HTTP surface over ``upload_tickets_async_service``, keyed by ``upload_tickets_async_teams``."""
    return async_memory_api(upload_tickets_async_service, upload_tickets_async_teams)
