"""``AsyncRedisBackend``: ticket store, GCRA limiter and one-script mint on Redis or Redis Cluster.

Written once, as the async flavour: the sync twin is generated from this file by
``scripts/unasync.py``. What differs between redis-py's flavours lives in ``_primitives.py``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar, cast

import redis.asyncio.cluster
import redis.exceptions
from redis.commands.core import AsyncScript
from redis.exceptions import RedisClusterException

from upload_tickets import (
    Character,
    CharacterState,
    IdempotencyClaim,
    RateDecision,
    RatePolicy,
    StoreUnavailable,
    SweepBeat,
    UploadTicket,
)
from upload_tickets.backend_kit import (
    decision_after_charge,
    decode_character,
    encode_character,
    replay_decision,
)
from upload_tickets_redis import _scripts
from upload_tickets_redis._async._primitives import (
    Client,
    ScriptCall,
    close_client,
    commands,
    node_name,
    run_script_batch,
    to_the_end,
)
from upload_tickets_redis._codec import decode, decode_beat, decode_claim, encode, encode_beat, encode_claim
from upload_tickets_redis._errors import DRIVER_ERRORS, UNREACHABLE, mapped_errors

_DAY_MS = 24 * 3600 * 1000

_T = TypeVar("_T")


class _Lua:
    """A script called by SHA, sent whole on ``NOSCRIPT`` (after a restart or failover too).

    Leaner than redis-py's script object on the hot path; pipelines use ``script``
    itself, which loads scripts for the pipeline's connection.
    """

    def __init__(self, client: Any, source: str) -> None:
        # ``client`` is what ``commands`` gives; both client kinds register scripts alike.
        self.script: AsyncScript = client.register_script(source)
        self._client = client
        self._source = source

    async def __call__(self, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return await self._client.evalsha(self.script.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            # EVAL runs on the keys' node and caches the script there; SCRIPT LOAD would go
            # to every Cluster master and fail while any one of them is down.
            return await self._client.eval(self._source, len(keys), *keys, *args)


class AsyncRedisBackend:
    """Tickets, characters, token buckets and their indexes in Redis (the client must decode responses).

    Every key of a team carries ``{team}`` as its hash tag, so each multi-key script
    (mint, consume of 1-6 tickets with its character, delete) runs on one Cluster slot.
    Tickets expire in Redis itself ``grace_ms`` after their TTL: the sweeper normally
    evicts them (and their bytes) first; the Redis expiry is the safety net that keeps
    memory bounded. Characters never expire.

    The sweeper finds teams through one set (``{prefix}:teams``): a team is listed while
    it has tickets in its expiry index or characters not yet ``ready``. On a Cluster the
    sweep goes node by node, and a node that cannot be reached is skipped and named
    (:meth:`expired_reachable`) while the others are swept.
    """

    def __init__(self, client: Client, *, prefix: str = "ut", grace_ms: int = _DAY_MS) -> None:
        self.client = client
        self._redis = commands(client)
        self._prefix = prefix
        self._grace_ms = grace_ms
        self._acquire = _Lua(self._redis, _scripts.ACQUIRE)
        self._create = _Lua(self._redis, _scripts.CREATE)
        self._replace = _Lua(self._redis, _scripts.REPLACE)
        self._delete = _Lua(self._redis, _scripts.DELETE)
        self._consume = _Lua(self._redis, _scripts.CONSUME)
        self._replace_character = _Lua(self._redis, _scripts.REPLACE_CHARACTER)
        self._delete_character = _Lua(self._redis, _scripts.DELETE_CHARACTER)
        self._claim = _Lua(self._redis, _scripts.CLAIM)
        self._release_claim = _Lua(self._redis, _scripts.RELEASE_CLAIM)
        self._claim_sweep = _Lua(self._redis, _scripts.CLAIM_SWEEP)
        self._release_sweep = _Lua(self._redis, _scripts.RELEASE_SWEEP)

    # -- keys -------------------------------------------------------------------

    def _tag(self, team: str) -> str:
        if not team or "{" in team or "}" in team:
            raise ValueError(f"team ids for Redis must be non-empty and brace-free: {team!r}")
        return f"{self._prefix}:{{{team}}}"

    def _ticket_key(self, team: str, ticket_id: str) -> str:
        return f"{self._tag(team)}:t:{ticket_id}"

    def _idempotency_key(self, team: str, key: str) -> str:
        return f"{self._tag(team)}:i:{key}"

    def _claim_key(self, team: str, claim: IdempotencyClaim) -> str:
        if not claim.operation or ":" in claim.operation:
            # A colon would let ("a:b", key) and ("a", "b:" + key) share one Redis key.
            raise ValueError(f"idempotency operations must be non-empty and colon-free: {claim.operation!r}")
        return f"{self._tag(team)}:ic:{claim.operation}:{claim.key}"

    def _expiry_key(self, team: str) -> str:
        return f"{self._tag(team)}:exp"

    def _characters_key(self, team: str) -> str:
        return f"{self._tag(team)}:chars"

    def _unsettled_key(self, team: str) -> str:
        return f"{self._tag(team)}:unsettled"

    def _character_keys(self, team: str, character_id: str) -> list[str]:
        """The character, the team's character index and its unsettled index (the scripts' KEYS[1..3])."""
        return [f"{self._tag(team)}:c:{character_id}", self._characters_key(team), self._unsettled_key(team)]

    def _bucket_key(self, bucket: str) -> str:
        # Buckets name their team as a {hash tag}, which lands them in the team's slot.
        return f"{self._prefix}:rl:{bucket}"

    @property
    def _teams_key(self) -> str:
        return f"{self._prefix}:teams"

    # Outside every team's {hash tag}, so no team's keys can collide with them; each
    # command or script on them touches that one key, so any Cluster slot will do.
    @property
    def _sweep_lease_key(self) -> str:
        return f"{self._prefix}:sweep:lease"

    @property
    def _sweep_beat_key(self) -> str:
        return f"{self._prefix}:sweep:beat"

    # -- TicketStore ------------------------------------------------------------

    def _create_args(self, ticket: UploadTicket, bucket: str, policy: RatePolicy | None) -> tuple[list[str], list[Any]]:
        keys = [
            self._bucket_key(bucket) if bucket else self._ticket_key(ticket.team, ticket.id),
            self._ticket_key(ticket.team, ticket.id),
            self._idempotency_key(ticket.team, ticket.idempotency_key or ""),
            self._expiry_key(ticket.team),
        ]
        charge = f"1 {policy.emission_interval_us} {policy.capacity_us}" if policy else "0 0 0"
        numbers = (
            f"{charge} {ticket.expires_at // 1000 + self._grace_ms} {ticket.expires_at} "
            f"{0 if ticket.idempotency_key is None else 1} {self._grace_ms}"
        )
        return keys, [numbers, ticket.id, encode(ticket)]

    async def _create_listed(self, team: str, keys: list[str], args: list[Any]) -> Any:
        """The CREATE script's reply, the team listed for the sweeper first if the script started its index.

        The sweeper finds teams through this set; added only when a team's index starts
        (rarely), so a mint stays one round trip. Run through ``to_the_end``: a caller
        cancelled while the reply is on its way must not leave a stored ticket whose team
        no sweep lists (until Redis' own expiry, a day later).
        """
        reply = await self._create(keys=keys, args=args)
        if reply[3]:  # the first ticket in the team's index
            await self._redis.sadd(self._teams_key, team)
        return reply

    async def _create_many_listed(self, team: str, bucket: str, calls: Sequence[ScriptCall]) -> list[Any]:
        """:meth:`_create_listed` for a pipelined batch of one team."""
        replies = await run_script_batch(self.client, self._create.script, self._bucket_key(bucket), calls)
        if any(reply[3] for reply in replies):
            await self._redis.sadd(self._teams_key, team)
        return replies

    async def _created(self, ticket: UploadTicket, reply: Sequence[Any]) -> UploadTicket | None:
        """The stored ticket after a CREATE reply (``None`` if the charge was refused)."""
        _, allowed, _, _, replayed = reply
        if not allowed:
            return None
        if replayed:
            existing = await self.get(ticket.team, str(replayed))
            if existing is None:
                raise StoreUnavailable("an idempotency key points at a ticket that is gone")
            return existing
        return ticket

    async def create(self, ticket: UploadTicket) -> UploadTicket:
        """Store a ticket, or return the one its idempotency key already names."""
        keys, args = self._create_args(ticket, "", None)
        with mapped_errors:
            reply = await to_the_end(self._create_listed, ticket.team, keys, args)
            stored = await self._created(ticket, reply)
        assert stored is not None  # nothing was charged, so nothing can be refused
        return stored

    async def get(self, team: str, ticket_id: str) -> UploadTicket | None:
        """``team``'s ticket with this id, or ``None``."""
        with mapped_errors:
            data = cast("str | None", await self._redis.hget(self._ticket_key(team, ticket_id), "d"))
        return None if data is None else decode(data)

    async def get_many(self, team: str, ticket_ids: Sequence[str]) -> list[UploadTicket | None]:
        """``team``'s tickets with these ids, in order (one pipelined round trip)."""
        with mapped_errors:
            return await self._tickets(team, ticket_ids)

    async def _tickets(self, team: str, ticket_ids: Sequence[str]) -> list[UploadTicket | None]:
        found = await self._hget_data([self._ticket_key(team, ticket_id) for ticket_id in ticket_ids])
        return [None if data is None else decode(data) for data in found]

    async def _hget_data(self, keys: Sequence[str]) -> list[str | None]:
        """The ``d`` field of each hash, pipelined (driver errors pass through)."""
        pipe = self._redis.pipeline(transaction=False)
        for key in keys:
            pipe.hget(key, "d")
        return cast("list[str | None]", await pipe.execute())

    async def find_by_idempotency_key(self, team: str, key: str) -> UploadTicket | None:
        """The ticket ``team`` minted with ``key``, or ``None``."""
        with mapped_errors:
            ticket_id = await self._redis.get(self._idempotency_key(team, key))
        return None if ticket_id is None else await self.get(team, str(ticket_id))

    @staticmethod
    def _check_one_team(teams: Iterable[str]) -> None:
        if len(set(teams)) > 1:
            raise ValueError("one atomic update covers one team's tickets")

    def _ticket_writes(self, updated: Sequence[UploadTicket]) -> tuple[list[str], list[Any]]:
        """KEYS and ARGV for a version-checked write of ``updated`` (see ``_scripts._TICKETS``)."""
        keys = [self._ticket_key(t.team, t.id) for t in updated]
        args: list[Any] = []
        for ticket in updated:
            args += [ticket.version, encode(ticket)]
        return keys, args

    async def replace(self, updated: Sequence[UploadTicket]) -> bool:
        """All-or-nothing version-checked update of one team's tickets, in one script."""
        self._check_one_team(t.team for t in updated)
        keys, args = self._ticket_writes(updated)
        with mapped_errors:
            return bool(await self._replace(keys=keys, args=args))

    async def expired(self, now_us: int, limit: int) -> list[UploadTicket]:
        """Up to ``limit`` tickets at or past their TTL; ``StoreUnavailable`` if any part is down."""
        found, skipped = await self.expired_reachable(now_us, limit)
        if skipped:
            raise StoreUnavailable(f"Redis is unavailable: could not reach {', '.join(skipped)}")
        return found

    async def expired_reachable(self, now_us: int, limit: int) -> tuple[list[UploadTicket], tuple[str, ...]]:
        """Up to ``limit`` expired tickets from the nodes that answer, and the names of those that did not.

        Tickets are found through the per-team expiry indexes. Only a whole-store outage
        (the team set cannot be read) raises ``StoreUnavailable``.
        """

        async def due(team: str, room: int) -> list[UploadTicket]:
            ids = cast(
                "list[str]",
                await self._redis.zrangebyscore(self._expiry_key(team), "-inf", now_us, start=0, num=room),
            )
            tickets = await self._tickets(team, ids)
            vanished = [i for i, t in zip(ids, tickets, strict=True) if t is None]
            if vanished:
                # Redis' own expiry (the safety net) took them first.
                await self._redis.zrem(self._expiry_key(team), *vanished)
            if len(ids) < room:
                await self._forget_team_if_idle(team)
            return [t for t in tickets if t is not None]

        return await self._collect(due, limit)

    async def _collect(
        self, fetch: Callable[[str, int], Awaitable[list[_T]]], limit: int
    ) -> tuple[list[_T], tuple[str, ...]]:
        """Up to ``limit`` items, ``fetch(team, room)`` for each listed team, node by node.

        A node that cannot be reached is skipped, with what was already fetched from it
        (acting on it would fail too), and named in the answer; the next sweep tries again.
        """
        with mapped_errors:
            teams = cast("set[str]", await self._redis.smembers(self._teams_key))
        found: list[_T] = []
        skipped: list[str] = []
        for node, group in self._by_node(teams).items():
            reached = len(found)
            try:
                for team in group:
                    if len(found) >= limit:
                        return found, tuple(skipped)
                    found += await fetch(team, limit - len(found))
            except UNREACHABLE as error:
                del found[reached:]
                skipped.append(f"{node} ({type(error).__name__}: {error})")
            except DRIVER_ERRORS as error:
                raise mapped_errors.unavailable(error) from error
        return found, tuple(skipped)

    def _by_node(self, teams: Iterable[str]) -> dict[str, list[str]]:
        """Teams grouped by the node that serves their keys (one group on a single server)."""
        if not isinstance(self.client, redis.asyncio.cluster.RedisCluster):
            return {"redis": sorted(teams)}
        groups: dict[str, list[str]] = defaultdict(list)
        for team in sorted(teams):
            try:
                name = node_name(self.client, self._expiry_key(team))
            except RedisClusterException:
                name = "redis slots no node serves"
            groups[name].append(team)
        return groups

    async def _forget_team_if_idle(self, team: str) -> None:
        keys = [self._expiry_key(team), self._unsettled_key(team)]
        if await self._redis.exists(*keys) == 0:
            await self._redis.srem(self._teams_key, team)
            # A mint or a character change may have started an index in between: put the team back.
            if await self._redis.exists(*keys):
                await self._redis.sadd(self._teams_key, team)

    async def delete(self, tickets: Sequence[UploadTicket]) -> int:
        """Delete the tickets still at the given versions (one script per team)."""
        by_team: dict[str, list[UploadTicket]] = defaultdict(list)
        for ticket in tickets:
            by_team[ticket.team].append(ticket)
        deleted = 0
        with mapped_errors:
            for team, group in by_team.items():
                keys = [self._expiry_key(team)]
                args: list[Any] = []
                for ticket in group:
                    keys += [
                        self._ticket_key(team, ticket.id),
                        self._idempotency_key(team, ticket.idempotency_key or ""),
                    ]
                    args += [ticket.version, ticket.id, "1" if ticket.idempotency_key is not None else "0"]
                deleted += int(await self._delete(keys=keys, args=args))
        return deleted

    # -- characters -------------------------------------------------------------

    def _character_write(self, character: Character) -> tuple[list[str], list[Any]]:
        """KEYS and ARGV for writing ``character`` (see ``_scripts._CHARACTER``)."""
        unsettled = "0" if character.state is CharacterState.READY else "1"
        keys = self._character_keys(character.team, character.id)
        return keys, [character.id, character.version, encode_character(character), unsettled]

    async def consume(self, updated: Sequence[UploadTicket], character: Character) -> bool:
        """Move the tickets on and create the character in one script on the team's slot."""
        self._check_one_team([character.team, *(t.team for t in updated)])
        character_keys, character_args = self._character_write(character)
        ticket_keys, ticket_args = self._ticket_writes(updated)
        with mapped_errors:
            # Listed before the script, so a crash right after it cannot hide an unsettled
            # character from the sweep. The team cannot be forgotten in between: its
            # tickets, which the script needs, keep its expiry index alive.
            await self._redis.sadd(self._teams_key, character.team)
            return bool(await self._consume(keys=character_keys + ticket_keys, args=character_args + ticket_args))

    async def get_character(self, team: str, character_id: str) -> Character | None:
        """``team``'s character with this id, or ``None``."""
        with mapped_errors:
            found = await self._characters(team, [character_id])
        return found[0]

    async def _characters(self, team: str, character_ids: Sequence[str]) -> list[Character | None]:
        found = await self._hget_data([self._character_keys(team, character_id)[0] for character_id in character_ids])
        return [None if data is None else decode_character(data) for data in found]

    async def list_characters(self, team: str, after: str | None, limit: int) -> list[Character]:
        """Up to ``limit`` of ``team``'s characters with ids above ``after``, in id order."""
        with mapped_errors:
            ids = await self._redis.zrangebylex(
                self._characters_key(team), "-" if after is None else f"({after}", "+", start=0, num=limit
            )
            found = await self._characters(team, cast("list[str]", ids))
        return [character for character in found if character is not None]

    async def replace_character(self, updated: Character) -> bool:
        """Store ``updated`` if the stored character is exactly one version behind it."""
        keys, args = self._character_write(updated)
        with mapped_errors:
            if updated.state is CharacterState.READY:
                return bool(await self._replace_character(keys=keys, args=args))
            # Becoming unsettled (a delete starting): the team is listed before the script,
            # so a crash cannot hide the character from the sweep, and again if the script
            # started the unsettled index, in case a sweep forgot the team in between.
            await self._redis.sadd(self._teams_key, updated.team)
            reply = int(await self._replace_character(keys=keys, args=args))
            if reply == 2:
                await self._redis.sadd(self._teams_key, updated.team)
            return reply > 0

    async def delete_character(self, character: Character) -> bool:
        """Delete the character (and its index entries) if still at its version."""
        keys = self._character_keys(character.team, character.id)
        with mapped_errors:
            return bool(await self._delete_character(keys=keys, args=[character.id, character.version]))

    async def unsettled_characters(self, limit: int) -> list[Character]:
        """Up to ``limit`` characters not yet ``ready``, from the teams' unsettled indexes.

        Teams on a Cluster node that cannot be reached are left for the next sweep
        (:meth:`expired_reachable`, called by the same sweep, names the node).
        """

        async def unsettled(team: str, room: int) -> list[Character]:
            ids = cast("list[str]", await self._redis.zrange(self._unsettled_key(team), 0, room - 1))
            # The records are read after the index: one may have settled in between, and a
            # settled character handed to the sweep would be "finished" a second time.
            found = await self._characters(team, ids)
            return [c for c in found if c is not None and c.state is not CharacterState.READY]

        found, _ = await self._collect(unsettled, limit)
        return found

    # -- idempotency claims -----------------------------------------------------

    async def claim_idempotency_key(self, team: str, claim: IdempotencyClaim, now_us: int) -> IdempotencyClaim:
        """Store ``claim`` unless a live claim holds its operation and key; return the holder (one script).

        The key expires in Redis itself at ``expires_at`` (rounded up to the millisecond).
        """
        # At least 1 ms: PX refuses 0, and a claim already due is replaced by the next one anyway.
        ttl_ms = max(1, -(-(claim.expires_at - now_us) // 1000))
        encoded = encode_claim(claim)
        with mapped_errors:
            held = str(await self._claim(keys=[self._claim_key(team, claim)], args=[now_us, ttl_ms, encoded]))
        return claim if held == encoded else decode_claim(held)

    async def release_idempotency_key(self, team: str, claim: IdempotencyClaim) -> bool:
        """Delete ``claim`` if the stored claim on its operation and key is still exactly it (one script)."""
        with mapped_errors:
            return bool(await self._release_claim(keys=[self._claim_key(team, claim)], args=[encode_claim(claim)]))

    async def purge_idempotency_claims(self, now_us: int, limit: int) -> int:
        """Always 0: claim keys carry a TTL, so Redis expires them by itself."""
        return 0

    # -- SweepLedger ------------------------------------------------------------

    async def claim_sweep(self, holder: str, now_us: int, lease_us: int) -> bool:
        """Take or renew the sweep lease until ``now_us + lease_us`` unless another holder's runs (one script)."""
        with mapped_errors:
            return bool(await self._claim_sweep(keys=[self._sweep_lease_key], args=[holder, now_us, now_us + lease_us]))

    async def release_sweep(self, holder: str) -> None:
        """End ``holder``'s lease early; another holder's is left alone (one script)."""
        with mapped_errors:
            await self._release_sweep(keys=[self._sweep_lease_key], args=[holder])

    async def record_sweep(self, beat: SweepBeat) -> None:
        """Keep ``beat`` as the last finished sweep, replacing the previous one."""
        with mapped_errors:
            await self._redis.set(self._sweep_beat_key, encode_beat(beat))

    async def last_sweep(self) -> SweepBeat | None:
        """The last finished sweep, or ``None`` if none was ever recorded."""
        with mapped_errors:
            data = cast("str | None", await self._redis.get(self._sweep_beat_key))
        return None if data is None else decode_beat(data)

    # -- RateLimiter ------------------------------------------------------------

    async def acquire(self, key: str, policy: RatePolicy, cost: int = 1) -> RateDecision:
        """Charge ``cost`` tokens from ``key``'s bucket, timed by Redis ``TIME``."""
        with mapped_errors:
            tat, allowed, now = await self._acquire(
                keys=[self._bucket_key(key)], args=[cost * policy.emission_interval_us, policy.capacity_us]
            )
        return decision_after_charge(int(tat), bool(allowed), int(now), policy, cost)

    # -- ChargingTicketStore ----------------------------------------------------

    async def create_if_allowed(
        self, ticket: UploadTicket, bucket: str, policy: RatePolicy
    ) -> tuple[RateDecision, UploadTicket | None]:
        """Charge and create in one script call: one round trip per mint."""
        keys, args = self._create_args(ticket, bucket, policy)
        with mapped_errors:
            reply = await to_the_end(self._create_listed, ticket.team, keys, args)
            return self._decision(reply, policy), await self._created(ticket, reply)

    async def create_many_if_allowed(
        self, tickets: Sequence[UploadTicket], bucket: str, policy: RatePolicy
    ) -> list[tuple[RateDecision, UploadTicket | None]]:
        """Many mints pipelined in one round trip; each is charged and created atomically."""
        if len({ticket.team for ticket in tickets}) > 1:
            raise ValueError("one batch covers one team's tickets")
        calls = [self._create_args(ticket, bucket, policy) for ticket in tickets]
        with mapped_errors:
            team = tickets[0].team if tickets else ""
            replies = await to_the_end(self._create_many_listed, team, bucket, calls)
            return [
                (self._decision(reply, policy), await self._created(ticket, reply))
                for ticket, reply in zip(tickets, replies, strict=True)
            ]

    @staticmethod
    def _decision(reply: Sequence[Any], policy: RatePolicy) -> RateDecision:
        tat, allowed, now, _, replayed = reply
        if replayed:
            # An idempotent replay charges nothing.
            return replay_decision(policy)
        return decision_after_charge(int(tat), bool(allowed), int(now), policy)

    # -- housekeeping -----------------------------------------------------------

    async def clear(self) -> None:
        """Delete every key under the prefix (for tests; uses SCAN, safe on a shared server)."""
        with mapped_errors:
            async for key in self._redis.scan_iter(match=f"{self._prefix}:*", count=1000):
                await self._redis.delete(key)

    async def aclose(self) -> None:
        """Close the connection pools (on a Cluster, each node's)."""
        await close_client(self.client)


__all__ = ["AsyncRedisBackend"]
