"""API keys, stored only as SHA-256 hashes, in a small SQL table."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import threading
import time
from collections.abc import Callable

import attrs
import sqlalchemy as sa

from upload_tickets import InvalidRequest, StoreUnavailable, Team
from upload_tickets.auth import hash_api_key
from upload_tickets_sql import AsyncDriver, open_engine

log = logging.getLogger(__name__)

KEY_PREFIX_LENGTH = 12
KEY_ID_LENGTH = 16
LAST_USED_EVERY_S = 60
KEY_START = "al_live_"
_TOUCHED_LIMIT = 10_000

metadata = sa.MetaData()
api_keys = sa.Table(
    "upload_ticket_api_keys",
    metadata,
    sa.Column("key_hash", sa.String(64), primary_key=True),
    sa.Column("team", sa.String(64), nullable=False),
    sa.Column("pinned_version", sa.String(10)),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    # Nullable in every schema, fresh or upgraded: rows written by the previous version
    # during a rolling upgrade have none, and are named by their hash's first characters.
    sa.Column("key_id", sa.String(KEY_ID_LENGTH)),
    sa.Column("key_prefix", sa.String(KEY_PREFIX_LENGTH)),
    sa.Column("last_used_at", sa.BigInteger),
    sa.Column("revoked_at", sa.BigInteger),
)
key_id_index = sa.Index("ix_upload_ticket_api_keys_key_id", api_keys.c.key_id, unique=True)
ADDED_COLUMNS = ("key_id", "key_prefix", "last_used_at", "revoked_at")
# Built once: building and cache-keying a new statement per lookup costs more than the read.
_LOOKUP = sa.select(api_keys.c.team, api_keys.c.pinned_version, api_keys.c.last_used_at, api_keys.c.revoked_at).where(
    api_keys.c.key_hash == sa.bindparam("digest")
)


def key_id_for(api_key: str) -> str:
    """The stable, non-secret id naming ``api_key``: the first characters of its hash."""
    return hash_api_key(api_key)[:KEY_ID_LENGTH]


def _now_us() -> int:
    return time.time_ns() // 1000


def _moment(us: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(us // 1_000_000, dt.UTC).replace(microsecond=us % 1_000_000)


@attrs.frozen
class KeyInfo:
    """What may be shown about a key: never the key, never its hash."""

    key_id: str
    team: str
    key_prefix: str
    pinned_version: str | None
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None

    @property
    def revoked(self) -> bool:
        """True once the key no longer authenticates."""
        return self.revoked_at is not None


def upgrade_schema(engine: sa.Engine) -> None:
    """Create the table, or add the columns a table made by the previous version lacks."""
    metadata.create_all(engine, checkfirst=True)
    quote = engine.dialect.identifier_preparer.quote
    for name in _missing_columns(engine):
        column_type = api_keys.c[name].type.compile(dialect=engine.dialect)
        try:
            with engine.begin() as connection:
                connection.execute(
                    sa.text(f"ALTER TABLE {quote(api_keys.name)} ADD COLUMN {quote(name)} {column_type}")
                )
        except sa.exc.DBAPIError:
            # Another process starting at the same moment may have added it first (and the
            # index below too).
            if name in _missing_columns(engine):
                raise
    with engine.begin() as connection:
        if connection.execute(sa.select(api_keys.c.key_hash).where(api_keys.c.key_id.is_(None)).limit(1)).first():
            connection.execute(
                api_keys.update()
                .where(api_keys.c.key_id.is_(None))
                .values(key_id=sa.func.substr(api_keys.c.key_hash, 1, KEY_ID_LENGTH))
            )
    try:
        key_id_index.create(engine, checkfirst=True)
    except sa.exc.DBAPIError:
        if key_id_index.name not in {index["name"] for index in sa.inspect(engine).get_indexes(api_keys.name)}:
            raise


def _missing_columns(engine: sa.Engine) -> list[str]:
    present = {column["name"] for column in sa.inspect(engine).get_columns(api_keys.name)}
    return [name for name in ADDED_COLUMNS if name not in present]


class SqlTeamDirectory:
    """Resolves ``al_live_`` keys to teams, one primary-key read per lookup.

    No lookup is served from memory, so a key revoked by any process stops working on
    the very next request.
    """

    def __init__(self, url: str, *, engine: sa.Engine | None = None) -> None:
        """Open the key table at ``url`` (made or upgraded first), or use ``engine``, whose table exists."""
        if engine is None:
            # Every statement here stands alone; autocommit spares each lookup a BEGIN and a
            # ROLLBACK, two of the three round trips a PostgreSQL lookup would otherwise make.
            engine = open_engine(url, isolation_level="AUTOCOMMIT")
            upgrade_schema(engine)
        self._engine = engine
        compiled = _LOOKUP.compile(dialect=engine.dialect)
        self._lookup_sql = compiled.string
        self._lookup_params: Callable[[str], tuple[str] | dict[str, str]] = (
            (lambda digest: (digest,)) if compiled.positional else (lambda digest: {"digest": digest})
        )
        self._driver_error: type[Exception] = engine.dialect.loaded_dbapi.Error
        self._touched: dict[str, int] = {}
        self._lock = threading.Lock()

    def create_key(self, team: str, pinned_version: str | None = None) -> str:
        """Make a new key for ``team`` and return it; only its hash and first characters are kept."""
        try:
            Team(team)  # the core's one rule for team ids
        except InvalidRequest as error:
            raise ValueError(error.message) from None
        key = KEY_START + secrets.token_urlsafe(24)
        digest = hash_api_key(key)
        row = {
            "key_hash": digest,
            "key_id": digest[:KEY_ID_LENGTH],
            "key_prefix": key[:KEY_PREFIX_LENGTH],
            "team": team,
            "pinned_version": pinned_version,
            "created_at": _now_us(),
        }
        with self._engine.begin() as connection:
            connection.execute(api_keys.insert().values(row))
        return key

    def team_for_key(self, api_key: str) -> Team | None:
        """The team owning ``api_key``, or ``None`` if it is unknown or revoked."""
        digest = hash_api_key(api_key)
        try:
            row = self._lookup(digest)
        except (sa.exc.SQLAlchemyError, self._driver_error, OSError) as error:
            raise StoreUnavailable("the API key database is unavailable") from error
        if row is None:
            return None
        team, pinned_version, last_used_at, revoked_at = row
        if revoked_at is not None:
            return None
        self._mark_used(digest, last_used_at)
        return Team(team, pinned_version=pinned_version)

    def _lookup(self, digest: str) -> tuple[str, str | None, int | None, int | None] | None:
        # Straight on a pooled driver connection: SQLAlchemy's execution layer would cost
        # more than the primary-key read itself, and every authenticated request pays it.
        connection = self._engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute(self._lookup_sql, self._lookup_params(digest))
            row = cursor.fetchone()
            cursor.close()
        finally:
            connection.close()
        return None if row is None else (row[0], row[1], row[2], row[3])

    def _mark_used(self, digest: str, last_used_at: int | None) -> None:
        now = _now_us()
        every_us = LAST_USED_EVERY_S * 1_000_000
        if last_used_at is not None and now - last_used_at < every_us:
            return
        with self._lock:
            # Concurrent requests of this process saw the same stale value: one writes.
            if self._touched.get(digest, 0) > now - every_us:
                return
            if len(self._touched) >= _TOUCHED_LIMIT:
                self._touched.clear()
            self._touched[digest] = now
        try:
            with self._engine.begin() as connection:
                connection.execute(
                    api_keys.update()
                    .where(
                        api_keys.c.key_hash == digest,
                        # Other processes may have written it since our read.
                        sa.or_(api_keys.c.last_used_at.is_(None), api_keys.c.last_used_at <= now - every_us),
                    )
                    .values(last_used_at=now)
                )
        except sa.exc.SQLAlchemyError:
            # Bookkeeping only: the request it describes must not fail for it.
            log.warning("could not record the use of API key %s", digest[:KEY_ID_LENGTH], exc_info=True)

    def list_keys(self, team: str | None = None) -> list[KeyInfo]:
        """Every key (of ``team`` if given), oldest first, revoked ones included."""
        query = sa.select(api_keys).order_by(api_keys.c.created_at, api_keys.c.key_hash)
        if team is not None:
            query = query.where(api_keys.c.team == team)
        with self._engine.connect() as connection:
            return [_info(row) for row in connection.execute(query)]

    def revoke_key(self, key_or_id: str) -> KeyInfo | None:
        """Revoke a key named by its id or by the key itself; ``None`` if there is no such key.

        Revoking a revoked key changes nothing (its first revocation time stays).
        """
        where = self._where(key_or_id)
        with self._engine.begin() as connection:
            connection.execute(
                api_keys.update().where(where, api_keys.c.revoked_at.is_(None)).values(revoked_at=_now_us())
            )
            row = connection.execute(sa.select(api_keys).where(where)).first()
        return None if row is None else _info(row)

    def _where(self, key_or_id: str) -> sa.ColumnElement[bool]:
        key_or_id = key_or_id.strip()
        if key_or_id.startswith(KEY_START):
            return api_keys.c.key_hash == hash_api_key(key_or_id)
        key_id = key_or_id.lower()
        if len(key_id) != KEY_ID_LENGTH:
            return sa.false()
        return sa.or_(
            api_keys.c.key_id == key_id,
            sa.and_(api_keys.c.key_id.is_(None), api_keys.c.key_hash.startswith(key_id, autoescape=True)),
        )

    def count(self) -> int:
        """How many keys exist."""
        with self._engine.connect() as connection:
            return int(connection.execute(sa.select(sa.func.count()).select_from(api_keys)).scalar_one())

    def dispose(self) -> None:
        """Close pooled connections."""
        self._engine.dispose()


class AsyncSqlTeamDirectory:
    """:class:`SqlTeamDirectory`'s lookups for the async server, waiting where async SQL does.

    The same read, run over the async SQL flavour's driver: asyncpg or aiomysql on the
    event loop, SQLite's sqlite3 on a thread of its own. The key table must exist: a
    :class:`SqlTeamDirectory` on the same URL makes it.
    """

    def __init__(self, url: str) -> None:
        engine = open_engine(url, async_driver=True, isolation_level="AUTOCOMMIT")
        self._lookups = SqlTeamDirectory(url, engine=engine)
        self._driver = AsyncDriver(engine)

    async def team_for_key(self, api_key: str) -> Team | None:
        """The team owning ``api_key``, or ``None`` if it is unknown or revoked."""
        return await self._driver(self._lookups.team_for_key, api_key)

    async def aclose(self) -> None:
        """Close pooled connections, on the loop that used them."""
        await self._driver(self._lookups.dispose)
        self._driver.close()


def _info(row: sa.Row[tuple[object, ...]]) -> KeyInfo:
    mapping = row._mapping
    return KeyInfo(
        key_id=mapping["key_id"] or mapping["key_hash"][:KEY_ID_LENGTH],
        team=mapping["team"],
        key_prefix=mapping["key_prefix"] or KEY_START,  # made before prefixes were kept
        pinned_version=mapping["pinned_version"],
        created_at=_moment(mapping["created_at"]),
        last_used_at=None if mapping["last_used_at"] is None else _moment(mapping["last_used_at"]),
        revoked_at=None if mapping["revoked_at"] is None else _moment(mapping["revoked_at"]),
    )
