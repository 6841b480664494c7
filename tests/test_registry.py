"""Backends by URL scheme."""

from __future__ import annotations

import pytest

from upload_tickets import BackendNotInstalled, MemoryTicketStore, backend_from_url, registry, store_from_url


def test_memory_url_opens_the_memory_backend() -> None:
    backend = backend_from_url("memory://")
    assert isinstance(backend.store, MemoryTicketStore)
    assert isinstance(store_from_url("memory://"), MemoryTicketStore)


@pytest.mark.parametrize(
    ("url", "distribution"),
    [("nosuch+thing://x", None), ("mariadb://root@127.0.0.1/test", "upload-tickets-sql")],
)
def test_missing_backends_say_what_to_install(
    url: str, distribution: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As on a machine where no adapter distribution is installed.
    monkeypatch.setattr(registry, "entry_points", lambda **_: [])
    with pytest.raises(BackendNotInstalled) as caught:
        backend_from_url(url)
    if distribution:
        assert f'pip install "{distribution}"' in caught.value.message
    else:
        assert "install an adapter" in caught.value.message


def test_a_url_needs_a_scheme() -> None:
    with pytest.raises(ValueError, match="scheme"):
        backend_from_url("localhost:6379")


def test_a_missing_database_driver_says_what_to_install() -> None:
    # mariadb:// defaults to the mysqlclient driver, which the project does not install.
    with pytest.raises(BackendNotInstalled, match=r'pip install "upload-tickets-sql\[mysql\]"'):
        backend_from_url("mariadb://root@127.0.0.1/test")


def test_sql_urls_open_the_sql_backend(tmp_path: object) -> None:
    from upload_tickets_sql import SqlBackend

    backend = backend_from_url(f"sqlite:///{tmp_path}/t.db", create=True)
    assert isinstance(backend.store, SqlBackend)
    assert backend.limiter is backend.store
    backend.store.dispose()
