"""Backends by URL scheme."""

from __future__ import annotations

from pathlib import Path

import pytest

from upload_tickets import (
    CHARACTERS_POST,
    Backend,
    BackendNotInstalled,
    ConfigurationError,
    ManualClock,
    MemoryBlobStore,
    MemoryTicketStore,
    MintRequest,
    RateLimited,
    Team,
    UploadTickets,
    backend_from_url,
    registry,
    store_from_url,
)
from upload_tickets._policy import SECOND_US
from upload_tickets.signing import HmacSigner

PNG = MintRequest("a.png", "png", "image/png")


def memory_service(backend: Backend, clock: ManualClock) -> UploadTickets:
    signer = HmacSigner("https://uploads.example/", {"k": b"s" * 32}, "k")
    return UploadTickets(
        store=backend.store, limiter=backend.limiter, signer=signer, blobs=MemoryBlobStore(), clock=clock
    )


def test_memory_url_opens_the_memory_backend() -> None:
    backend = backend_from_url("memory://")
    assert isinstance(backend.store, MemoryTicketStore)
    assert isinstance(store_from_url("memory://"), MemoryTicketStore)


@pytest.mark.parametrize(
    ("url", "distribution"),
    [("nosuch+thing://x", None), ("mariadb://root@127.0.0.1/test", "backends/sql"), ("REDIS://x", "backends/redis")],
)
def test_missing_backends_say_what_to_install(
    url: str, distribution: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As on a machine where no adapter distribution is installed.
    monkeypatch.setattr(registry, "entry_points", lambda **_: [])
    with pytest.raises(BackendNotInstalled) as caught:
        backend_from_url(url)
    if distribution:
        assert f"pip install ./{distribution}" in caught.value.message
    else:
        assert "install an adapter" in caught.value.message


def test_a_url_needs_a_scheme() -> None:
    with pytest.raises(ConfigurationError, match="scheme"):
        backend_from_url("localhost:6379")


def test_the_hint_is_a_command_that_works_from_a_checkout() -> None:
    hint = "pip install ./backends/sql"
    root = Path(__file__).resolve().parents[1]
    assert (root / hint.split("./")[1] / "pyproject.toml").is_file()


def test_memory_backend_and_service_share_one_clock() -> None:
    clock = ManualClock()
    backend = backend_from_url("MEMORY://", clock=clock)
    service = memory_service(backend, clock)
    assert service.clock is clock
    team = Team("clocked")
    for _ in range(CHARACTERS_POST.burst):
        service.mint(team, PNG)
    with pytest.raises(RateLimited):
        service.mint(team, PNG)
    clock.advance(10 * SECOND_US)  # five tokens back at one per two seconds
    for _ in range(5):
        service.mint(team, PNG)
    with pytest.raises(RateLimited):
        service.mint(team, PNG)


def test_a_limiter_without_a_clock_follows_the_service() -> None:
    clock = ManualClock()
    service = memory_service(backend_from_url("memory://"), clock)
    team = Team("follower")
    for _ in range(CHARACTERS_POST.burst):
        service.mint(team, PNG)
    clock.advance(2 * SECOND_US)
    ticket = service.mint(team, PNG).ticket
    assert ticket.expires_at == clock.now_us() + service.ttl.ticket_ttl_us


def test_two_different_clocks_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="different clocks"):
        memory_service(backend_from_url("memory://", clock=ManualClock()), ManualClock())


def test_sql_urls_open_the_sql_backend(tmp_path: object) -> None:
    from upload_tickets_sql import SqlBackend

    backend = backend_from_url(f"sqlite:///{tmp_path}/t.db", create=True)
    assert isinstance(backend.store, SqlBackend)
    assert backend.limiter is backend.store
    backend.store.dispose()
