"""The embedded adapters pass the exported contract suite."""

from __future__ import annotations

import hmac
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from tests.support import SIGNING_KEYS, make_signer
from upload_tickets import (
    ConfigurationError,
    Ed25519Signer,
    FileBlobStore,
    HmacSigner,
    ManualClock,
    MemoryBlobStore,
    MemoryRateLimiter,
    MemoryTicketStore,
    SignatureInvalid,
    UploadTickets,
)
from upload_tickets.protocols import BlobStore, Clock, RateLimiter
from upload_tickets.signing import _HmacSha256
from upload_tickets.testing import (
    BlobStoreContract,
    RateLimiterContract,
    ServiceOwnershipContract,
    ServiceRulesContract,
    SweepLedgerContract,
    TicketStoreContract,
    VerifyingSignerContract,
    make_ticket,
    sweep_consume_race,
)
from upload_tickets.testing.ownership import ServiceFactory


class TestMemoryTicketStore(TicketStoreContract):
    @pytest.fixture
    def store(self) -> MemoryTicketStore:
        return MemoryTicketStore()


class TestMemorySweepLedger(SweepLedgerContract):
    @pytest.fixture
    def ledger(self) -> MemoryTicketStore:
        return MemoryTicketStore()


class TestMemoryRateLimiter(RateLimiterContract):
    @pytest.fixture
    def limiter(self) -> MemoryRateLimiter:
        return MemoryRateLimiter(ManualClock())

    def wait(self, limiter: RateLimiter, us: int) -> None:
        assert isinstance(limiter, MemoryRateLimiter)
        clock = limiter._clock
        assert isinstance(clock, ManualClock)
        clock.advance(us)


class TestMemoryRateLimiterOnTheSystemClock(RateLimiterContract):
    @pytest.fixture
    def limiter(self) -> MemoryRateLimiter:
        return MemoryRateLimiter()


class TestMemoryBlobStore(BlobStoreContract):
    @pytest.fixture
    def blobs(self) -> MemoryBlobStore:
        return MemoryBlobStore()


class TestFileBlobStore(BlobStoreContract):
    @pytest.fixture
    def blobs(self, tmp_path: Path) -> FileBlobStore:
        return FileBlobStore(tmp_path / "blobs")

    def test_no_temporary_files_are_left_behind(self, blobs: FileBlobStore) -> None:
        with pytest.raises(Exception, match="exceeds"):
            blobs.put("upl_x.1", [b"x" * 10], max_bytes=5, content_type="image/png")
        blobs.put("upl_x.2", [b"ok"], max_bytes=5, content_type="image/png")
        names = sorted(p.name for p in blobs.root.rglob("*") if p.is_file())
        assert names == ["upl_x.2"]

    @pytest.mark.parametrize(
        "key", ["../etc/passwd", "a//b", "/abs", "a/.hidden", "a/", "", ".hidden", "x" * 200, "a..b", "a/b/c/d/e/f/g"]
    )
    def test_keys_cannot_escape_the_root(self, blobs: FileBlobStore, key: str) -> None:
        with pytest.raises(ValueError, match="invalid blob key"):
            blobs.put(key, [b"x"], max_bytes=5, content_type="image/png")


class TestHmacSigner(VerifyingSignerContract):
    @pytest.fixture
    def signer(self) -> HmacSigner:
        return HmacSigner("https://uploads.example.test/put", SIGNING_KEYS, "k1")

    def test_rotation_old_key_still_verifies(self) -> None:
        ticket = make_ticket()
        old = HmacSigner("https://u.test/put", {"k0": SIGNING_KEYS["k0"]}, "k0")
        new = HmacSigner("https://u.test/put", SIGNING_KEYS, "k1")
        query = old.sign_put(ticket).url.partition("?")[2]
        assert new.verify_put(ticket.id, query, ticket.created_at).upload_id == ticket.id
        retired = HmacSigner("https://u.test/put", {"k1": SIGNING_KEYS["k1"]}, "k1")
        with pytest.raises(SignatureInvalid):
            retired.verify_put(ticket.id, query, ticket.created_at)

    def test_a_url_has_one_spelling(self) -> None:
        signer = HmacSigner("https://u.test/put", SIGNING_KEYS, "k1")
        ticket = make_ticket()
        query = signer.sign_put(ticket).url.partition("?")[2]
        fields = query.split("&")
        for reordered in (fields[1:] + fields[:1], [fields[1], fields[0], *fields[2:]]):
            with pytest.raises(SignatureInvalid):
                signer.verify_put(ticket.id, "&".join(reordered), ticket.created_at)
        assert signer.verify_put(ticket.id, query, ticket.created_at).upload_id == ticket.id

    @pytest.mark.parametrize(
        ("secret", "says"),
        [(b"short", "at least 32 bytes"), ("a text password of 40 characters......", "must be bytes")],
    )
    def test_weak_or_text_secrets_are_refused(self, secret: bytes, says: str) -> None:
        with pytest.raises(ConfigurationError, match=says):
            HmacSigner("https://u.test/put", {"k": secret}, "k")


class TestEd25519Signer(VerifyingSignerContract):
    @pytest.fixture
    def signer(self) -> Ed25519Signer:
        return Ed25519Signer("https://uploads.example.test/put", private_key=Ed25519PrivateKey.generate(), kid="ed1")

    def test_upload_host_verifies_with_the_public_key_only(self) -> None:
        private_key = Ed25519PrivateKey.generate()
        app = Ed25519Signer("https://u.test/put", private_key=private_key, kid="ed1")
        host = Ed25519Signer("https://u.test/put", public_keys={"ed1": private_key.public_key()})
        ticket = make_ticket()
        query = app.sign_put(ticket).url.partition("?")[2]
        assert host.verify_put(ticket.id, query, ticket.created_at).upload_id == ticket.id
        with pytest.raises(TypeError, match="no signing key"):
            host.sign_put(ticket)


@given(key=st.binary(min_size=32, max_size=200), message=st.binary(max_size=300))
def test_cached_hmac_equals_the_standard_library(key: bytes, message: bytes) -> None:
    assert _HmacSha256(key).digest(message) == hmac.digest(key, message, "sha256")


def _memory_service(clock: Clock, blobs: BlobStore) -> UploadTickets:
    return UploadTickets(
        store=MemoryTicketStore(),
        limiter=MemoryRateLimiter(clock),
        signer=make_signer(),
        blobs=blobs,
        clock=clock,
    )


class TestOwnershipOnMemory(ServiceOwnershipContract):
    @pytest.fixture
    def service_factory(self) -> ServiceFactory:
        return lambda clock: _memory_service(clock, MemoryBlobStore())


class TestRulesOnMemory(ServiceRulesContract):
    @pytest.fixture
    def service_factory(self) -> ServiceFactory:
        return lambda clock: _memory_service(clock, MemoryBlobStore())


class TestOwnershipOnFiles(ServiceOwnershipContract):
    @pytest.fixture
    def service_factory(self, tmp_path: Path) -> ServiceFactory:
        return lambda clock: _memory_service(clock, FileBlobStore(tmp_path / "blobs", fsync=False))


def test_sweep_and_consume_never_race_to_a_loss_on_files(tmp_path: Path) -> None:
    outcome = sweep_consume_race(lambda clock: _memory_service(clock, FileBlobStore(tmp_path)), rounds=300)
    assert outcome.lost == 0
    # Both orderings happened, so the race was real.
    assert outcome.consumed > 0
    assert outcome.expired > 0
