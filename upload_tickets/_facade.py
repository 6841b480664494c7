"""The pure decisions both flavours of the facade share: keys, hashes, expiries, the one clock."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from upload_tickets._errors import ConfigurationError
from upload_tickets._models import Team
from upload_tickets._policy import SECOND_US, RatePolicy, TTLPolicy
from upload_tickets.clock import SystemClock
from upload_tickets.protocols import Clock, ClockFollower

# Optimistic writes retry on a lost race; each retry re-reads and re-judges, and a
# ticket can only move forward a few states, so a handful of attempts always settles.
MAX_ATTEMPTS = 8


def hash_request(*fields: str) -> str:
    return hashlib.sha256("\0".join(fields).encode()).hexdigest()


def one_clock(clock: Clock | None, components: Iterable[object]) -> Clock:
    """The clock the service and its clock-following components share (see :class:`ClockFollower`)."""
    followers = [c for c in components if isinstance(c, ClockFollower)]
    given = [clock] if clock is not None else []
    given += [f.own_clock for f in followers if f.own_clock is not None]
    if any(other is not given[0] for other in given[1:]):
        raise ConfigurationError(
            "the service and its limiter or store were given different clocks; pass one clock "
            "(UploadTickets(clock=...) hands it down, as does backend_from_url(url, clock=...))"
        )
    shared = given[0] if given else SystemClock()
    for follower in followers:
        follower.follow_clock(shared)
    return shared


def media_type(header: str) -> str:
    return header.partition(";")[0].strip().lower()


def url_expiry(now_us: int, ttl: TTLPolicy) -> int:
    # Whole seconds, as URLs carry Unix seconds: rounded up so a URL lives at least its TTL,
    # but never past the ticket's own expiry (when the two TTLs are equal).
    rounded_up = -(-(now_us + ttl.upload_url_ttl_us) // SECOND_US) * SECOND_US
    return min(rounded_up, (now_us + ttl.ticket_ttl_us) // SECOND_US * SECOND_US)


def bucket(policy: RatePolicy, team: Team) -> str:
    # The team as a {hash tag}: key-value stores can then keep a team's bucket next to
    # its tickets (one Redis Cluster slot), so a mint stays one atomic script.
    return f"{policy.name}:{{{team.id}}}"


def staged_key(team: str, upload_id: str) -> str:
    """Where an upload's bytes are staged: the team and the upload id are in the key."""
    return f"staged/{team}/{upload_id}"


def character_key(team: str, character_id: str, index: int) -> str:
    """Where a character keeps its copy of its ``index``-th upload (outside every staged prefix)."""
    return f"characters/{team}/{character_id}/{index}"


__all__ = [
    "MAX_ATTEMPTS",
    "bucket",
    "character_key",
    "media_type",
    "one_clock",
    "hash_request",
    "staged_key",
    "url_expiry",
]
