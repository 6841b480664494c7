"""Contract tests every adapter must pass: subclass, provide one fixture, done.

    class TestMyStore(TicketStoreContract):
        @pytest.fixture
        def store(self) -> TicketStore:
            return MyStore(...)

Each class documents the fixture it needs. The assertions describe the protocol, not an
implementation, so third-party backends are held to exactly what ours are.
"""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import urlsplit

import attrs
import pytest

from upload_tickets._errors import NotFound, PayloadTooLarge, SignatureInvalid, UploadChanged, UploadUrlExpired
from upload_tickets._models import BlobInfo, CharacterState, IdempotencyClaim, State, SweepBeat, UploadTicket
from upload_tickets._policy import HOUR_US, RatePolicy
from upload_tickets.protocols import BlobStore, RateLimiter, Signer, SweepLedger, TicketStore, VerifyingSigner
from upload_tickets.testing._fixtures import START_US, make_character, make_ticket

_TEN_PER_SECOND = RatePolicy(name="contract", limit=10, period=1, burst=5)


class TicketStoreContract:
    """Needs a fixture ``store`` yielding an empty :class:`TicketStore`."""

    def test_create_then_get_returns_equal_ticket(self, store: TicketStore) -> None:
        ticket = make_ticket()
        assert store.create(ticket) == ticket
        assert store.get(ticket.team, ticket.id) == ticket

    def test_get_unknown_is_none(self, store: TicketStore) -> None:
        assert store.get("team_a", make_ticket().id) is None

    def test_another_teams_ticket_is_invisible(self, store: TicketStore) -> None:
        theirs = make_ticket(team="team_b")
        store.create(theirs)
        assert store.get("team_a", theirs.id) is None
        assert store.get_many("team_a", [theirs.id]) == [None]
        assert store.get("team_b", theirs.id) == theirs

    def test_get_many_keeps_order_and_marks_missing(self, store: TicketStore) -> None:
        first, second, missing = make_ticket(), make_ticket(), make_ticket()
        store.create(first)
        store.create(second)
        assert store.get_many("team_a", [second.id, missing.id, first.id]) == [second, None, first]

    def test_idempotency_key_returns_first_ticket(self, store: TicketStore) -> None:
        first = make_ticket(idempotency_key="key-1")
        again = make_ticket(idempotency_key="key-1")
        assert store.create(first) == first
        assert store.create(again) == first
        assert store.get(again.team, again.id) is None
        assert store.find_by_idempotency_key("team_a", "key-1") == first

    def test_idempotency_keys_are_per_team(self, store: TicketStore) -> None:
        mine = make_ticket(idempotency_key="shared", team="team_a")
        theirs = make_ticket(idempotency_key="shared", team="team_b")
        assert store.create(mine) == mine
        assert store.create(theirs) == theirs
        assert store.find_by_idempotency_key("team_b", "shared") == theirs
        assert store.find_by_idempotency_key("team_c", "shared") is None

    def test_replace_bumps_all_tickets(self, store: TicketStore) -> None:
        tickets = [make_ticket() for _ in range(6)]
        for ticket in tickets:
            store.create(ticket)
        updated = [attrs.evolve(t, state=State.CONSUMED, version=1, character_id="chr_x") for t in tickets]
        assert store.replace(updated) is True
        assert store.get_many("team_a", [t.id for t in tickets]) == updated

    def test_replace_is_all_or_nothing_on_a_stale_version(self, store: TicketStore) -> None:
        tickets = [make_ticket() for _ in range(3)]
        for ticket in tickets:
            store.create(ticket)
        assert store.replace([attrs.evolve(tickets[1], state=State.UPLOADED, version=1, size=3)])
        stale = [attrs.evolve(t, state=State.CONSUMED, version=1) for t in tickets]
        assert store.replace(stale) is False
        assert store.get(tickets[0].team, tickets[0].id) == tickets[0]
        assert store.get(tickets[2].team, tickets[2].id) == tickets[2]
        current = store.get(tickets[1].team, tickets[1].id)
        assert current is not None
        assert current.state is State.UPLOADED

    def test_replace_of_a_missing_ticket_changes_nothing(self, store: TicketStore) -> None:
        present = make_ticket()
        store.create(present)
        absent = make_ticket()
        assert store.replace([attrs.evolve(present, version=1), attrs.evolve(absent, version=1)]) is False
        assert store.get(present.team, present.id) == present
        assert store.get(absent.team, absent.id) is None

    def test_concurrent_replace_has_exactly_one_winner(self, store: TicketStore) -> None:
        tickets = [make_ticket() for _ in range(6)]
        for ticket in tickets:
            store.create(ticket)
        barrier = threading.Barrier(8)
        wins: list[int] = []

        def contend(worker: int) -> None:
            updated = [attrs.evolve(t, state=State.CONSUMED, version=1, character_id=f"chr_{worker}") for t in tickets]
            barrier.wait()
            if store.replace(updated):
                wins.append(worker)

        threads = [threading.Thread(target=contend, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(wins) == 1
        owners = {t.character_id for t in store.get_many("team_a", [t.id for t in tickets]) if t is not None}
        assert owners == {f"chr_{wins[0]}"}

    def test_expired_lists_only_due_tickets_up_to_limit(self, store: TicketStore) -> None:
        due = [make_ticket(now_us=START_US + n, ticket_ttl_us=10) for n in range(5)]
        later = make_ticket(ticket_ttl_us=10_000_000)
        for ticket in [*due, later]:
            store.create(ticket)
        found = store.expired(START_US + 100, limit=100)
        assert {t.id for t in found} == {t.id for t in due}
        assert len(store.expired(START_US + 100, limit=2)) == 2

    def test_delete_removes_tickets_at_their_version(self, store: TicketStore) -> None:
        kept, gone = make_ticket(idempotency_key="k"), make_ticket()
        store.create(kept)
        store.create(gone)
        moved = attrs.evolve(kept, state=State.UPLOADED, version=1)
        assert store.replace([moved])
        assert store.delete([kept, gone]) == 1
        assert store.get(gone.team, gone.id) is None
        assert store.get(kept.team, kept.id) == moved
        assert store.delete([moved]) == 1
        assert store.find_by_idempotency_key("team_a", "k") is None
        assert store.expired(START_US + 10**15, limit=10) == []

    # Characters: written with the consume, no TTL, version-checked like tickets.

    def _consumed(self, store: TicketStore, count: int = 2, team: str = "team_a") -> tuple[list[UploadTicket], Any]:
        tickets = [make_ticket(team=team) for _ in range(count)]
        for ticket in tickets:
            store.create(ticket)
        character = make_character(tickets)
        updated = [attrs.evolve(t, state=State.CONSUMED, version=1, size=3, character_id=character.id) for t in tickets]
        return updated, character

    def test_consume_writes_tickets_and_character_together(self, store: TicketStore) -> None:
        updated, character = self._consumed(store)
        assert store.consume(updated, character) is True
        assert store.get_many("team_a", [t.id for t in updated]) == updated
        assert store.get_character("team_a", character.id) == character

    def test_consume_on_a_stale_ticket_writes_no_character(self, store: TicketStore) -> None:
        updated, character = self._consumed(store, count=3)
        before = store.get(updated[0].team, updated[0].id)
        assert store.replace([attrs.evolve(updated[1], state=State.UPLOADED, character_id=None)])
        assert store.consume(updated, character) is False
        assert store.get_character("team_a", character.id) is None
        assert store.get(updated[0].team, updated[0].id) == before

    def test_another_teams_character_is_invisible(self, store: TicketStore) -> None:
        updated, character = self._consumed(store, team="team_b")
        assert store.consume(updated, character)
        assert store.get_character("team_a", character.id) is None
        assert store.list_characters("team_a", None, 10) == []
        assert store.get_character("team_b", character.id) == character

    def test_characters_survive_the_tickets_and_never_expire(self, store: TicketStore) -> None:
        updated, character = self._consumed(store)
        assert store.consume(updated, character)
        assert store.delete(store.expired(START_US + 10**15, limit=10)) == 2
        assert store.get_character("team_a", character.id) == character

    def test_list_characters_pages_in_id_order(self, store: TicketStore) -> None:
        made = []
        for _ in range(5):
            updated, character = self._consumed(store, count=1)
            assert store.consume(updated, character)
            made.append(character)
        made.sort(key=lambda c: c.id)
        assert store.list_characters("team_a", None, 3) == made[:3]
        assert store.list_characters("team_a", made[2].id, 3) == made[3:]
        assert store.list_characters("team_a", made[4].id, 3) == []

    def test_character_changes_are_version_checked(self, store: TicketStore) -> None:
        updated, character = self._consumed(store)
        assert store.consume(updated, character)
        assert store.unsettled_characters(10) == [character]
        ready = attrs.evolve(character, state=CharacterState.READY, version=1)
        assert store.replace_character(ready) is True
        assert store.replace_character(ready) is False
        assert store.unsettled_characters(10) == []
        assert store.get_character("team_a", character.id) == ready
        deleting = attrs.evolve(ready, state=CharacterState.DELETING, version=2)
        assert store.replace_character(deleting)
        assert store.unsettled_characters(10) == [deleting]
        assert store.delete_character(ready) is False
        assert store.delete_character(deleting) is True
        assert store.get_character("team_a", character.id) is None
        assert store.unsettled_characters(10) == []

    # Idempotency claims: put-if-absent per team, operation and key; expired ones yield.

    @staticmethod
    def _claim(
        key: str = "k", *, operation: str = "consume", resource: str = "chr_1", expires_at: int = START_US + HOUR_US
    ) -> IdempotencyClaim:
        # Expiries are far from START_US: a store that expires keys itself does so in real time.
        return IdempotencyClaim(operation, key, f"hash-of-{resource}", resource, expires_at)

    def test_first_claim_holds_and_later_ones_get_it_back(self, store: TicketStore) -> None:
        first, second = self._claim(resource="chr_1"), self._claim(resource="chr_2")
        assert store.claim_idempotency_key("team_a", first, START_US) == first
        assert store.claim_idempotency_key("team_a", second, START_US) == first

    def test_claims_are_per_team_and_per_operation(self, store: TicketStore) -> None:
        first = self._claim()
        assert store.claim_idempotency_key("team_a", first, START_US) == first
        other_team = self._claim(resource="chr_2")
        assert store.claim_idempotency_key("team_b", other_team, START_US) == other_team
        classify = self._claim(operation="classify", resource="upl_1")
        assert store.claim_idempotency_key("team_a", classify, START_US) == classify

    def test_an_expired_claim_yields_to_a_new_one(self, store: TicketStore) -> None:
        old = self._claim(expires_at=START_US + 10)
        assert store.claim_idempotency_key("team_a", old, START_US) == old
        new = self._claim(resource="chr_2")
        assert store.claim_idempotency_key("team_a", new, START_US + 10) == new

    def test_release_deletes_only_the_same_claim(self, store: TicketStore) -> None:
        first = self._claim()
        store.claim_idempotency_key("team_a", first, START_US)
        assert store.release_idempotency_key("team_a", self._claim(resource="chr_2")) is False
        assert store.release_idempotency_key("team_a", first) is True
        assert store.release_idempotency_key("team_a", first) is False
        second = self._claim(resource="chr_2")
        assert store.claim_idempotency_key("team_a", second, START_US) == second

    def test_purge_removes_only_expired_claims(self, store: TicketStore) -> None:
        live, dead = self._claim("live"), self._claim("dead", expires_at=START_US + 10)
        for claim in (live, dead):
            store.claim_idempotency_key("team_a", claim, START_US)
        purged = store.purge_idempotency_claims(START_US + 50, limit=10)
        assert purged in (0, 1)  # 0: the store expires keys by itself
        assert store.claim_idempotency_key("team_a", self._claim("live", resource="x"), START_US + 50) == live

    def test_racing_claims_have_exactly_one_holder(self, store: TicketStore) -> None:
        holders: list[IdempotencyClaim] = []

        def contend(worker: int) -> None:
            holders.append(
                store.claim_idempotency_key("team_a", self._claim("race", resource=f"chr_{worker}"), START_US)
            )

        threads = [threading.Thread(target=contend, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(holders) == 8
        assert len(set(holders)) == 1


class SweepLedgerContract:
    """Needs a fixture ``ledger`` yielding an empty :class:`SweepLedger` (usually the ticket store)."""

    def test_one_holder_at_a_time_until_the_lease_runs_out(self, ledger: SweepLedger) -> None:
        assert ledger.claim_sweep("worker-1", START_US, 60_000_000)
        assert not ledger.claim_sweep("worker-2", START_US + 59_999_999, 60_000_000)
        assert ledger.claim_sweep("worker-2", START_US + 60_000_000, 60_000_000)
        assert not ledger.claim_sweep("worker-1", START_US + 60_000_001, 60_000_000)

    def test_the_holder_renews_its_own_lease(self, ledger: SweepLedger) -> None:
        assert ledger.claim_sweep("worker-1", START_US, 60_000_000)
        assert ledger.claim_sweep("worker-1", START_US + 30_000_000, 60_000_000)
        # Renewed: still held past the first lease's end.
        assert not ledger.claim_sweep("worker-2", START_US + 61_000_000, 60_000_000)

    def test_release_frees_only_the_holders_lease(self, ledger: SweepLedger) -> None:
        assert ledger.claim_sweep("worker-1", START_US, 60_000_000)
        ledger.release_sweep("worker-2")
        assert not ledger.claim_sweep("worker-2", START_US + 1, 60_000_000)
        ledger.release_sweep("worker-1")
        assert ledger.claim_sweep("worker-2", START_US + 2, 60_000_000)

    def test_racing_claims_have_exactly_one_holder(self, ledger: SweepLedger) -> None:
        barrier = threading.Barrier(8)
        won: list[str] = []

        def claim(holder: str) -> None:
            barrier.wait()
            if ledger.claim_sweep(holder, START_US, 60_000_000):
                won.append(holder)

        threads = [threading.Thread(target=claim, args=(f"worker-{n}",)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(won) == 1

    def test_the_heartbeat_keeps_the_last_sweep(self, ledger: SweepLedger) -> None:
        assert ledger.last_sweep() is None
        first = SweepBeat(holder="worker-1", finished_at_us=START_US, tickets=3, blobs=2, characters=1)
        ledger.record_sweep(first)
        assert ledger.last_sweep() == first
        second = SweepBeat(holder="worker-2", finished_at_us=START_US + 60_000_000, tickets=0, blobs=0, characters=0)
        ledger.record_sweep(second)
        assert ledger.last_sweep() == second


class RateLimiterContract:
    """Needs a fixture ``limiter``; override :meth:`wait` if the limiter's clock is fake."""

    def wait(self, limiter: RateLimiter, us: int) -> None:
        """Let ``us`` microseconds pass on the limiter's clock."""
        time.sleep(us / 1_000_000)

    def test_full_bucket_passes_burst_then_refuses(self, limiter: RateLimiter) -> None:
        decisions = [limiter.acquire("burst", _TEN_PER_SECOND) for _ in range(6)]
        assert [d.allowed for d in decisions] == [True] * 5 + [False]
        assert [d.remaining for d in decisions[:5]] == [4, 3, 2, 1, 0]
        refused = decisions[-1]
        assert refused.remaining == 0
        # Real clocks move while we call: the wait is one interval less what has passed.
        assert 0 < refused.retry_after_us <= _TEN_PER_SECOND.emission_interval_us
        assert 0 < refused.reset_after_us <= _TEN_PER_SECOND.capacity_us

    def test_tokens_come_back_one_interval_at_a_time(self, limiter: RateLimiter) -> None:
        for _ in range(5):
            assert limiter.acquire("refill", _TEN_PER_SECOND).allowed
        refused = limiter.acquire("refill", _TEN_PER_SECOND)
        assert not refused.allowed
        self.wait(limiter, refused.retry_after_us + 2_000)
        assert limiter.acquire("refill", _TEN_PER_SECOND).allowed
        assert not limiter.acquire("refill", _TEN_PER_SECOND).allowed

    def test_keys_are_independent(self, limiter: RateLimiter) -> None:
        for _ in range(5):
            assert limiter.acquire("team-1", _TEN_PER_SECOND).allowed
        assert not limiter.acquire("team-1", _TEN_PER_SECOND).allowed
        assert limiter.acquire("team-2", _TEN_PER_SECOND).allowed

    def test_cost_takes_several_tokens_or_none(self, limiter: RateLimiter) -> None:
        assert limiter.acquire("cost", _TEN_PER_SECOND, cost=4).remaining == 1
        refused = limiter.acquire("cost", _TEN_PER_SECOND, cost=2)
        assert not refused.allowed
        assert limiter.acquire("cost", _TEN_PER_SECOND, cost=1).allowed

    def test_concurrent_callers_never_exceed_the_burst(self, limiter: RateLimiter) -> None:
        slow = RatePolicy(name="contract-slow", limit=1, period=3600, burst=20)
        allowed: list[bool] = []
        barrier = threading.Barrier(8)

        def hammer() -> None:
            barrier.wait()
            allowed.extend(limiter.acquire("hammered", slow).allowed for _ in range(10))

        threads = [threading.Thread(target=hammer) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(allowed) == 20


class SignerContract:
    """Needs a fixture ``signer`` (any :class:`Signer`)."""

    def test_signed_put_binds_the_content_type(self, signer: Signer) -> None:
        ticket = make_ticket(now_us=int(time.time() * 1_000_000))
        upload = signer.sign_put(ticket)
        assert upload.headers["Content-Type"] == ticket.content_type
        assert urlsplit(upload.url).scheme in ("http", "https")
        assert upload.expires_at <= ticket.url_expires_at

    def test_signing_is_deterministic(self, signer: Signer) -> None:
        ticket = make_ticket(now_us=int(time.time() * 1_000_000))
        assert signer.sign_put(ticket) == signer.sign_put(ticket)

    def test_different_tickets_get_different_urls(self, signer: Signer) -> None:
        now = int(time.time() * 1_000_000)
        assert signer.sign_put(make_ticket(now_us=now)).url != signer.sign_put(make_ticket(now_us=now)).url


class VerifyingSignerContract(SignerContract):
    """Needs a fixture ``signer`` that is a :class:`VerifyingSigner`."""

    @staticmethod
    def _split(signer: VerifyingSigner) -> tuple[str, str, str]:
        ticket = make_ticket()
        url = urlsplit(signer.sign_put(ticket).url)
        return ticket.id, url.query, url.path

    def test_verify_accepts_its_own_url(self, signer: VerifyingSigner) -> None:
        ticket = make_ticket()
        query = urlsplit(signer.sign_put(ticket).url).query
        verified = signer.verify_put(ticket.id, query, START_US)
        assert (verified.upload_id, verified.team, verified.content_type, verified.max_bytes) == (
            ticket.id,
            ticket.team,
            ticket.content_type,
            ticket.max_bytes,
        )

    def test_every_single_character_change_is_refused(self, signer: VerifyingSigner) -> None:
        upload_id, query, _ = self._split(signer)
        alphabet = "0aZ9_-=&/.%+~A"
        for index, original in enumerate(query):
            for replacement in alphabet:
                if replacement == original:
                    continue
                tampered = query[:index] + replacement + query[index + 1 :]
                with pytest.raises(SignatureInvalid):
                    signer.verify_put(upload_id, tampered, START_US)
        for index in range(len(query)):
            with pytest.raises(SignatureInvalid):
                signer.verify_put(upload_id, query[:index] + query[index + 1 :], START_US)

    def test_url_for_another_upload_is_refused(self, signer: VerifyingSigner) -> None:
        _, query, _ = self._split(signer)
        with pytest.raises(SignatureInvalid):
            signer.verify_put(make_ticket().id, query, START_US)

    def test_expired_url_is_refused(self, signer: VerifyingSigner) -> None:
        ticket = make_ticket()
        query = urlsplit(signer.sign_put(ticket).url).query
        with pytest.raises(UploadUrlExpired):
            signer.verify_put(ticket.id, query, ticket.url_expires_at)


class BlobStoreContract:
    """Needs a fixture ``blobs`` yielding an empty :class:`BlobStore`."""

    def test_put_then_head_and_open(self, blobs: BlobStore) -> None:
        size = blobs.put("upl_contract.1", [b"hello ", b"world"], max_bytes=100, content_type="image/png")
        assert size == 11
        info = blobs.head("upl_contract.1")
        assert info is not None
        assert info.size == 11
        assert info.content_type in (None, "image/png")
        with blobs.open("upl_contract.1") as stream:
            assert stream.read() == b"hello world"

    def test_put_replaces(self, blobs: BlobStore) -> None:
        blobs.put("upl_contract.2", [b"first"], max_bytes=100, content_type="image/png")
        blobs.put("upl_contract.2", [b"2nd"], max_bytes=100, content_type="image/png")
        with blobs.open("upl_contract.2") as stream:
            assert stream.read() == b"2nd"

    def test_oversize_put_stores_nothing_and_keeps_the_old_bytes(self, blobs: BlobStore) -> None:
        with pytest.raises(PayloadTooLarge):
            blobs.put("upl_contract.3", [b"x" * 60, b"x" * 60], max_bytes=100, content_type="image/png")
        assert blobs.head("upl_contract.3") is None
        blobs.put("upl_contract.3", [b"keep"], max_bytes=100, content_type="image/png")
        with pytest.raises(PayloadTooLarge):
            blobs.put("upl_contract.3", [b"y" * 101], max_bytes=100, content_type="image/png")
        with blobs.open("upl_contract.3") as stream:
            assert stream.read() == b"keep"

    def test_exact_cap_is_accepted(self, blobs: BlobStore) -> None:
        assert blobs.put("upl_contract.4", [b"z" * 100], max_bytes=100, content_type="image/png") == 100

    def test_delete_and_missing(self, blobs: BlobStore) -> None:
        blobs.put("upl_contract.5", [b"bytes"], max_bytes=100, content_type="image/png")
        assert blobs.delete("upl_contract.5") is True
        assert blobs.delete("upl_contract.5") is False
        assert blobs.head("upl_contract.5") is None
        with pytest.raises(NotFound):
            blobs.open("upl_contract.5")

    def test_promote_copies_to_a_key_of_its_own_once(self, blobs: BlobStore) -> None:
        staged, owned = "staged/team_a/upl_contract.6", "characters/team_a/chr_contract/0"
        blobs.put(staged, [b"the bytes"], max_bytes=100, content_type="image/png")
        etag = (blobs.head(staged) or BlobInfo(0, None)).etag
        blobs.promote(staged, owned, etag=etag)
        blobs.promote(staged, owned, etag=etag)  # idempotent: a roll-forward may repeat it
        assert blobs.delete(staged) is True
        blobs.promote(staged, owned, etag=etag)  # done already, even with the staged bytes gone
        with blobs.open(owned) as stream:
            assert stream.read() == b"the bytes"
        with pytest.raises(NotFound):
            blobs.promote("staged/team_a/upl_contract.none", "characters/team_a/chr_contract/1", etag=None)

    def test_open_with_an_etag_reads_only_those_bytes(self, blobs: BlobStore) -> None:
        key = "staged/team_a/upl_contract.7"
        blobs.put(key, [b"checked"], max_bytes=100, content_type="image/png")
        etag = (blobs.head(key) or BlobInfo(0, None)).etag
        with blobs.open(key, etag=etag) as stream:
            assert stream.read() == b"checked"
        if etag is None:
            return  # a store without ETags: keys are never rewritten under a ticket
        blobs.put(key, [b"replaced"], max_bytes=100, content_type="image/png")
        with pytest.raises(UploadChanged):
            blobs.open(key, etag=etag).close()
