"""Backends by URL scheme."""

from __future__ import annotations

import pytest

from upload_tickets import BackendNotInstalled, MemoryTicketStore, backend_from_url, store_from_url


def test_memory_url_opens_the_memory_backend() -> None:
    backend = backend_from_url("memory://")
    assert isinstance(backend.store, MemoryTicketStore)
    assert isinstance(store_from_url("memory://"), MemoryTicketStore)


@pytest.mark.parametrize(
    ("url", "distribution"),
    [("nosuch+thing://x", None), ("mariadb://root@127.0.0.1/test", "upload-tickets-sql")],
)
def test_missing_backends_say_what_to_install(url: str, distribution: str | None) -> None:
    with pytest.raises(BackendNotInstalled) as caught:
        backend_from_url(url)
    if distribution:
        assert f'pip install "{distribution}"' in caught.value.message
    else:
        assert "install an adapter" in caught.value.message


def test_a_url_needs_a_scheme() -> None:
    with pytest.raises(ValueError, match="scheme"):
        backend_from_url("localhost:6379")
