"""Character keys on Redis: no TTL, indexes kept by the scripts, teams listed while the sweep has work."""

from __future__ import annotations

import attrs

from upload_tickets import Character, CharacterState, State
from upload_tickets.testing import START_US, make_character, make_ticket
from upload_tickets_redis import RedisBackend

_FAR_FUTURE = START_US + 10**15


def _consumed(backend: RedisBackend) -> Character:
    ticket = make_ticket(team="chars")
    backend.create(ticket)
    character = make_character([ticket])
    consumed = attrs.evolve(ticket, state=State.CONSUMED, version=1, size=3, character_id=character.id)
    assert backend.consume([consumed], character)
    return character


def test_characters_and_their_indexes_never_expire(redis_backend: RedisBackend, prefix: str) -> None:
    character = _consumed(redis_backend)
    client = redis_backend.client
    for key in (f"{prefix}:{{chars}}:c:{character.id}", f"{prefix}:{{chars}}:chars", f"{prefix}:{{chars}}:unsettled"):
        assert client.pttl(key) == -1, key


def test_a_character_that_settled_after_the_index_was_read_is_not_unsettled(
    redis_backend: RedisBackend, prefix: str
) -> None:
    character = _consumed(redis_backend)
    ready = attrs.evolve(character, state=CharacterState.READY, version=1)
    assert redis_backend.replace_character(ready)
    # What a sweep sees when the promotion lands between its read of the index and of the record.
    redis_backend.client.zadd(f"{prefix}:{{chars}}:unsettled", {character.id: 0})
    assert redis_backend.unsettled_characters(10) == []


def test_the_sweep_keeps_a_team_while_it_has_unsettled_characters(redis_backend: RedisBackend, prefix: str) -> None:
    client, teams = redis_backend.client, f"{prefix}:teams"
    character = _consumed(redis_backend)
    assert redis_backend.delete(redis_backend.expired(_FAR_FUTURE, 10)) == 1
    redis_backend.expired(_FAR_FUTURE, 10)  # no tickets left: only the promoting character keeps the team
    assert client.sismember(teams, "chars")
    assert redis_backend.unsettled_characters(10) == [character]

    ready = attrs.evolve(character, state=CharacterState.READY, version=1)
    assert redis_backend.replace_character(ready)
    redis_backend.expired(_FAR_FUTURE, 10)
    assert not client.sismember(teams, "chars")  # nothing left to sweep: forgotten

    deleting = attrs.evolve(ready, state=CharacterState.DELETING, version=2)
    assert redis_backend.replace_character(deleting)
    assert client.sismember(teams, "chars")  # a delete under way is found again
    assert redis_backend.unsettled_characters(10) == [deleting]
