"""API keys, stored only as SHA-256 hashes, in a small SQL table."""

from __future__ import annotations

import secrets
import threading
import time

import sqlalchemy as sa

from upload_tickets import InvalidRequest, StoreUnavailable, Team
from upload_tickets.memory import hash_api_key

metadata = sa.MetaData()
api_keys = sa.Table(
    "upload_ticket_api_keys",
    metadata,
    sa.Column("key_hash", sa.String(64), primary_key=True),
    sa.Column("team", sa.String(64), nullable=False),
    sa.Column("pinned_version", sa.String(10)),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)


class SqlTeamDirectory:
    """Resolves ``al_live_`` keys to teams; known keys are cached for ``cache_s`` seconds."""

    def __init__(self, url: str, *, cache_s: float = 5.0) -> None:
        self._engine = sa.create_engine(url)
        metadata.create_all(self._engine, checkfirst=True)
        self._cache: dict[str, tuple[Team, float]] = {}
        self._cache_s = cache_s
        self._lock = threading.Lock()

    def create_key(self, team: str, pinned_version: str | None = None) -> str:
        """Make a new key for ``team`` and return it; only its hash is kept."""
        try:
            Team(team)  # the core's one rule for team ids
        except InvalidRequest as error:
            raise ValueError(error.message) from None
        key = "al_live_" + secrets.token_urlsafe(24)
        row = {
            "key_hash": hash_api_key(key),
            "team": team,
            "pinned_version": pinned_version,
            "created_at": time.time_ns() // 1000,
        }
        with self._engine.begin() as connection:
            connection.execute(api_keys.insert().values(row))
        return key

    def team_for_key(self, api_key: str) -> Team | None:
        """The team owning ``api_key``, or ``None``."""
        digest = hash_api_key(api_key)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            with self._engine.connect() as connection:
                row = connection.execute(
                    sa.select(api_keys.c.team, api_keys.c.pinned_version).where(api_keys.c.key_hash == digest)
                ).first()
        except sa.exc.SQLAlchemyError as error:
            raise StoreUnavailable("the API key database is unavailable") from error
        if row is None:
            return None
        team = Team(row.team, pinned_version=row.pinned_version)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (team, now + self._cache_s)
        return team

    def count(self) -> int:
        """How many keys exist."""
        with self._engine.connect() as connection:
            return int(connection.execute(sa.select(sa.func.count()).select_from(api_keys)).scalar_one())

    def dispose(self) -> None:
        """Close pooled connections."""
        self._engine.dispose()
