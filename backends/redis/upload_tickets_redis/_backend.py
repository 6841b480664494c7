"""``RedisBackend``: ticket store, GCRA limiter and one-script mint on Redis or Redis Cluster."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import redis
import redis.cluster
from redis.commands.core import Script

from upload_tickets import RateDecision, RatePolicy, StoreUnavailable, UploadTicket, decision_after_charge
from upload_tickets_redis import _scripts
from upload_tickets_redis._codec import decode, encode

_DAY_MS = 24 * 3600 * 1000

Client = redis.Redis | redis.cluster.RedisCluster


class _Lua:
    """A script called by SHA, loaded on first ``NOSCRIPT`` (after a restart or failover too).

    Leaner than redis-py's ``Script`` on the hot path; pipelines use ``script`` itself,
    which loads scripts for the pipeline's connection.
    """

    def __init__(self, client: Client, source: str) -> None:
        # Both client kinds register scripts alike; redis-py types only Redis' method.
        self.script: Script = cast(Any, client).register_script(source)
        self._client = client

    def __call__(self, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return self._client.evalsha(self.script.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            self._client.script_load(self.script.script)
            return self._client.evalsha(self.script.sha, len(keys), *keys, *args)


@contextmanager
def _mapped_errors() -> Iterator[None]:
    """Driver errors end here: callers see ``StoreUnavailable`` (503), never redis-py's."""
    try:
        yield
    except redis.RedisError as error:
        raise StoreUnavailable(f"Redis is unavailable: {error}") from error


class RedisBackend:
    """Tickets, token buckets and their indexes in Redis (the client must decode responses).

    Every key of a team carries ``{team}`` as its hash tag, so each multi-key script
    (mint, consume of 1-6 tickets, delete) runs on one Cluster slot. Tickets expire in
    Redis itself ``grace_ms`` after their TTL: the sweeper normally evicts them (and their
    bytes) first; the Redis expiry is the safety net that keeps memory bounded.
    """

    def __init__(self, client: Client, *, prefix: str = "ut", grace_ms: int = _DAY_MS) -> None:
        self.client = client
        self._prefix = prefix
        self._grace_ms = grace_ms
        self._acquire = _Lua(client, _scripts.ACQUIRE)
        self._create = _Lua(client, _scripts.CREATE)
        self._replace = _Lua(client, _scripts.REPLACE)
        self._delete = _Lua(client, _scripts.DELETE)

    # -- keys -------------------------------------------------------------------

    def _tag(self, team: str) -> str:
        if not team or "{" in team or "}" in team:
            raise ValueError(f"team ids for Redis must be non-empty and brace-free: {team!r}")
        return f"{self._prefix}:{{{team}}}"

    def _ticket_key(self, team: str, ticket_id: str) -> str:
        return f"{self._tag(team)}:t:{ticket_id}"

    def _idempotency_key(self, team: str, key: str) -> str:
        return f"{self._tag(team)}:i:{key}"

    def _expiry_key(self, team: str) -> str:
        return f"{self._tag(team)}:exp"

    def _bucket_key(self, bucket: str) -> str:
        # Buckets name their team as a {hash tag}, which lands them in the team's slot.
        return f"{self._prefix}:rl:{bucket}"

    @property
    def _teams_key(self) -> str:
        return f"{self._prefix}:teams"

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

    def _created(self, ticket: UploadTicket, reply: Sequence[Any]) -> UploadTicket | None:
        """The stored ticket after a CREATE reply (``None`` if the charge was refused)."""
        _, allowed, _, first_in_index, replayed = reply
        if not allowed:
            return None
        if replayed:
            existing = self.get(ticket.team, str(replayed))
            if existing is None:
                raise StoreUnavailable("an idempotency key points at a ticket that is gone")
            return existing
        if first_in_index:
            # The sweeper finds teams through this set; added only when a team's index
            # starts (rarely), so a mint stays one round trip.
            self.client.sadd(self._teams_key, ticket.team)
        return ticket

    def create(self, ticket: UploadTicket) -> UploadTicket:
        """Store a ticket, or return the one its idempotency key already names."""
        keys, args = self._create_args(ticket, "", None)
        with _mapped_errors():
            stored = self._created(ticket, self._create(keys=keys, args=args))
        assert stored is not None  # nothing was charged, so nothing can be refused
        return stored

    def get(self, team: str, ticket_id: str) -> UploadTicket | None:
        """``team``'s ticket with this id, or ``None``."""
        with _mapped_errors():
            data = cast("str | None", self.client.hget(self._ticket_key(team, ticket_id), "d"))
        return None if data is None else decode(data)

    def get_many(self, team: str, ticket_ids: Sequence[str]) -> list[UploadTicket | None]:
        """``team``'s tickets with these ids, in order (one pipelined round trip)."""
        with _mapped_errors():
            pipe = self.client.pipeline(transaction=False)
            for ticket_id in ticket_ids:
                pipe.hget(self._ticket_key(team, ticket_id), "d")
            found = pipe.execute()
        return [None if data is None else decode(data) for data in found]

    def find_by_idempotency_key(self, team: str, key: str) -> UploadTicket | None:
        """The ticket ``team`` minted with ``key``, or ``None``."""
        with _mapped_errors():
            ticket_id = self.client.get(self._idempotency_key(team, key))
        return None if ticket_id is None else self.get(team, str(ticket_id))

    def replace(self, updated: Sequence[UploadTicket]) -> bool:
        """All-or-nothing version-checked update of one team's tickets, in one script."""
        if len({ticket.team for ticket in updated}) > 1:
            raise ValueError("one atomic update covers one team's tickets")
        keys = [self._ticket_key(t.team, t.id) for t in updated]
        args: list[Any] = []
        for ticket in updated:
            args += [ticket.version, encode(ticket)]
        with _mapped_errors():
            return bool(self._replace(keys=keys, args=args))

    def expired(self, now_us: int, limit: int) -> list[UploadTicket]:
        """Up to ``limit`` tickets at or past their TTL, found through the per-team indexes."""
        found: list[UploadTicket] = []
        with _mapped_errors():
            for team in cast("set[str]", self.client.smembers(self._teams_key)):
                due = self.client.zrangebyscore(self._expiry_key(team), "-inf", now_us, start=0, num=limit - len(found))
                ids = cast("list[str]", due)
                tickets = self.get_many(team, ids)
                found += [t for t in tickets if t is not None]
                vanished = [i for i, t in zip(ids, tickets, strict=True) if t is None]
                if vanished:
                    # Redis' own expiry (the safety net) took them first.
                    self.client.zrem(self._expiry_key(team), *vanished)
                if len(found) >= limit:
                    break
                self._forget_team_if_idle(team)
        return found

    def _forget_team_if_idle(self, team: str) -> None:
        if self.client.zcard(self._expiry_key(team)) == 0:
            self.client.srem(self._teams_key, team)
            # A mint may have started the index in between: put the team back.
            if self.client.zcard(self._expiry_key(team)):
                self.client.sadd(self._teams_key, team)

    def delete(self, tickets: Sequence[UploadTicket]) -> int:
        """Delete the tickets still at the given versions (one script per team)."""
        by_team: dict[str, list[UploadTicket]] = defaultdict(list)
        for ticket in tickets:
            by_team[ticket.team].append(ticket)
        deleted = 0
        with _mapped_errors():
            for team, group in by_team.items():
                keys = [self._expiry_key(team)]
                args: list[Any] = []
                for ticket in group:
                    keys += [
                        self._ticket_key(team, ticket.id),
                        self._idempotency_key(team, ticket.idempotency_key or ""),
                    ]
                    args += [ticket.version, ticket.id, "1" if ticket.idempotency_key is not None else "0"]
                deleted += int(self._delete(keys=keys, args=args))
        return deleted

    # -- RateLimiter ------------------------------------------------------------

    def acquire(self, key: str, policy: RatePolicy, cost: int = 1) -> RateDecision:
        """Charge ``cost`` tokens from ``key``'s bucket, timed by Redis ``TIME``."""
        with _mapped_errors():
            tat, allowed, now = self._acquire(
                keys=[self._bucket_key(key)], args=[cost * policy.emission_interval_us, policy.capacity_us]
            )
        return decision_after_charge(int(tat), bool(allowed), int(now), policy, cost)

    # -- ChargingTicketStore ----------------------------------------------------

    def create_if_allowed(
        self, ticket: UploadTicket, bucket: str, policy: RatePolicy
    ) -> tuple[RateDecision, UploadTicket | None]:
        """Charge and create in one script call: one round trip per mint."""
        keys, args = self._create_args(ticket, bucket, policy)
        with _mapped_errors():
            reply = self._create(keys=keys, args=args)
            return self._decision(reply, policy), self._created(ticket, reply)

    def create_many_if_allowed(
        self, tickets: Sequence[UploadTicket], bucket: str, policy: RatePolicy
    ) -> list[tuple[RateDecision, UploadTicket | None]]:
        """Many mints pipelined in one round trip; each is charged and created atomically."""
        if len({ticket.team for ticket in tickets}) > 1:
            raise ValueError("one batch covers one team's tickets")
        with _mapped_errors():
            pipe = self._slot_pipeline(self._bucket_key(bucket))
            for ticket in tickets:
                keys, args = self._create_args(ticket, bucket, policy)
                self._create.script(keys=keys, args=args, client=pipe)
            replies = pipe.execute()
            return [
                (self._decision(reply, policy), self._created(ticket, reply))
                for ticket, reply in zip(tickets, replies, strict=True)
            ]

    def _slot_pipeline(self, key: str) -> Any:
        """A pipeline that may run scripts: on a Cluster, the node serving ``key``'s slot.

        redis-py refuses scripts in Cluster pipelines; a batch is one team, so every
        key in it lives on that one node anyway.
        """
        if isinstance(self.client, redis.cluster.RedisCluster):
            node = self.client.get_node_from_key(key)  # type: ignore[no-untyped-call]
            return self.client.get_redis_connection(node).pipeline(transaction=False)
        return self.client.pipeline(transaction=False)

    @staticmethod
    def _decision(reply: Sequence[Any], policy: RatePolicy) -> RateDecision:
        tat, allowed, now, _, replayed = reply
        if replayed:
            # An idempotent replay charges nothing.
            return RateDecision(allowed=True, limit=policy.burst, remaining=0, retry_after_us=0, reset_after_us=0)
        return decision_after_charge(int(tat), bool(allowed), int(now), policy)

    # -- housekeeping -----------------------------------------------------------

    def clear(self) -> None:
        """Delete every key under the prefix (for tests; uses SCAN, safe on a shared server)."""
        with _mapped_errors():
            for key in self._scan(f"{self._prefix}:*"):
                self.client.delete(key)

    def _scan(self, pattern: str) -> Iterator[Any]:
        yield from self.client.scan_iter(match=pattern, count=1000)

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()
