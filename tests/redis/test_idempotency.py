"""Idempotency on Redis: claims expire by themselves, racing replays are never charged, lost answers are recovered."""

from __future__ import annotations

import json
from typing import cast

import pytest

from tests.redis.conftest import LossyRedis
from tests.redis.support import redis_service
from upload_tickets import (
    CHARACTERS_POST,
    IdempotencyClaim,
    ManualClock,
    MemoryBlobStore,
    MintRequest,
    State,
    StoreUnavailable,
    SystemClock,
    Team,
    backend_from_url,
)
from upload_tickets.testing import START_US, make_ticket
from upload_tickets.testing.ownership import upload
from upload_tickets_redis import RedisBackend, _scripts
from upload_tickets_redis._codec import CLAIM_FORMAT, decode_claim, encode_claim

REQUEST = MintRequest("f.png", "png", "image/png")
_FAR_FUTURE = SystemClock().now_us() + 10**15


def _bucket(team: Team) -> str:
    return f"{CHARACTERS_POST.name}:{{{team.id}}}"


def test_a_claim_key_lives_in_the_team_slot_and_expires_with_the_claim(
    redis_backend: RedisBackend, prefix: str
) -> None:
    claim = IdempotencyClaim("consume", "k", "hash", "chr_1", START_US + 1_500_001)
    assert redis_backend.claim_idempotency_key("team_a", claim, START_US) == claim
    key = f"{prefix}:{{team_a}}:ic:consume:k"
    # 1.500001 s, rounded up to whole milliseconds.
    assert 1_400 < cast(int, redis_backend.client.pttl(key)) <= 1_501
    stored = json.loads(cast(str, redis_backend.client.get(key)))
    assert stored == [CLAIM_FORMAT, "consume", "k", "hash", "chr_1", START_US + 1_500_001]


def test_a_claim_survives_its_encoding_and_an_unknown_format_is_refused() -> None:
    claim = IdempotencyClaim("classify", "ключ", "h", "upl_1", _FAR_FUTURE)
    assert decode_claim(encode_claim(claim)) == claim
    with pytest.raises(ValueError, match="unknown idempotency claim record format"):
        decode_claim(json.dumps([CLAIM_FORMAT + 1, *json.loads(encode_claim(claim))[1:]]))


def test_a_claim_already_due_still_gets_a_ttl(redis_backend: RedisBackend, prefix: str) -> None:
    claim = IdempotencyClaim("consume", "late", "hash", "chr_1", START_US - 5)
    assert redis_backend.claim_idempotency_key("team_a", claim, START_US) == claim
    # PX 0 is refused by Redis: the key gets 1 ms (and may be gone already), never no TTL.
    assert cast(int, redis_backend.client.pttl(f"{prefix}:{{team_a}}:ic:consume:late")) in (-2, 0, 1)


def test_a_claim_nobody_else_holds_expires_by_itself(redis_backend: RedisBackend) -> None:
    assert redis_backend.purge_idempotency_claims(_FAR_FUTURE, 100) == 0


def test_an_operation_with_a_colon_is_refused(redis_backend: RedisBackend) -> None:
    # ("a:b", "c") and ("a", "b:c") would share a key.
    with pytest.raises(ValueError, match="colon-free"):
        redis_backend.claim_idempotency_key("team_a", IdempotencyClaim("a:b", "c", "h", "r", _FAR_FUTURE), START_US)


def test_a_charge_whose_answer_was_lost_is_not_sent_again(lossy_redis: LossyRedis) -> None:
    backend, team = lossy_redis.backend, Team("lost-charge")
    with lossy_redis.losing_reply_to(_scripts.ACQUIRE), pytest.raises(StoreUnavailable):
        backend.acquire(_bucket(team), CHARACTERS_POST)
    assert lossy_redis.lost_a_reply
    # The lost charge was taken once, not again by a driver retry.
    assert backend.acquire(_bucket(team), CHARACTERS_POST).remaining == CHARACTERS_POST.burst - 2


def test_a_consume_whose_answer_was_lost_is_found_by_its_retry(lossy_redis: LossyRedis) -> None:
    backend, team = lossy_redis.backend, Team("lost-consume")
    service = redis_service(backend, ManualClock(SystemClock().now_us()), MemoryBlobStore())
    ids = [upload(service, team) for _ in range(2)]

    with lossy_redis.losing_reply_to(_scripts.CONSUME), pytest.raises(StoreUnavailable):
        service.consume(team, ids, idempotency_key="k")
    assert lossy_redis.lost_a_reply
    # The write landed: the tickets name the character the client never heard of.
    tickets = backend.get_many(team.id, ids)
    assert all(t is not None and t.state is State.CONSUMED for t in tickets)
    made = {t.character_id for t in tickets if t is not None}
    assert len(made) == 1

    retried = service.consume(team, ids, idempotency_key="k")

    assert retried.character.id in made
    assert retried.replayed
    assert retried.rate is None  # a replay charges nothing
    assert [ref.upload_id for ref in retried.character.refs] == ids


@pytest.mark.parametrize("spelling", ["REDIS", "Redis"])
def test_backend_from_url_takes_any_scheme_case_and_ignores_the_clock(
    redis_url: str, prefix: str, spelling: str
) -> None:
    scheme, separator, rest = redis_url.partition("://")
    url = spelling + scheme.removeprefix("redis").upper() + separator + rest
    # A clock a year behind: the limits go by Redis TIME, so nothing changes.
    backend = backend_from_url(url, clock=ManualClock(SystemClock().now_us() - 365 * 86_400 * 10**6), prefix=prefix)
    store = cast(RedisBackend, backend.store)
    try:
        decision = store.acquire(_bucket(Team("cased")), CHARACTERS_POST)
        assert decision.allowed
        assert decision.remaining == CHARACTERS_POST.burst - 1
        ticket = make_ticket(team="cased")
        assert store.create(ticket) == ticket
    finally:
        store.clear()
        store.close()
