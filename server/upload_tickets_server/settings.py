"""Server settings: flags, with environment variables as their defaults."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import attrs

from upload_tickets import CHARACTERS_POST, DEFAULT_MAX_UPLOAD_BYTES, TTLPolicy
from upload_tickets.http import BodyDeadlines

ENV_PREFIX = "UPLOAD_TICKETS_"
_TTL = TTLPolicy()


@attrs.frozen
class Settings:
    """Everything ``serve`` needs; unset URLs default to files under ``data_dir``."""

    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None
    data_dir: Path = Path(".upload-tickets")
    store_url: str | None = None
    keys_url: str | None = None
    upload_url_ttl_s: int = int(_TTL.upload_url_ttl.total_seconds())
    ticket_ttl_s: int = int(_TTL.ticket_ttl.total_seconds())
    rate_per_minute: int = round(CHARACTERS_POST.limit * (dt.timedelta(minutes=1) / CHARACTERS_POST.period))
    burst: int = CHARACTERS_POST.burst
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    sweep_interval_s: float = 60.0
    body_idle_timeout_s: float = BodyDeadlines().idle_s
    body_min_rate: int = BodyDeadlines().min_bytes_per_s
    body_grace_s: float = BodyDeadlines().grace_s
    s3_bucket: str | None = None
    s3_endpoint: str | None = None
    s3_region: str = "us-east-1"
    s3_prefix: str = "uploads/"
    s3_character_prefix: str = "characters/"
    s3_addressing: str = "virtual"

    @property
    def body_deadlines(self) -> BodyDeadlines:
        """How long a request body may take (408 past it)."""
        return BodyDeadlines(self.body_idle_timeout_s, self.body_min_rate, self.body_grace_s)

    @property
    def base_url(self) -> str:
        """Where clients reach this server (the upload URLs point here)."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def effective_store_url(self) -> str:
        """The ticket store URL (default: a SQLite file in ``data_dir``)."""
        return self.store_url or f"sqlite:///{self.data_dir.resolve() / 'tickets.db'}"

    @property
    def effective_keys_url(self) -> str:
        """The API key database URL (default: a SQLite file in ``data_dir``)."""
        return self.keys_url or f"sqlite:///{self.data_dir.resolve() / 'keys.db'}"


def env_default(name: str, fallback: object) -> object:
    """The value of ``UPLOAD_TICKETS_<NAME>`` if set, else ``fallback``."""
    return os.environ.get(ENV_PREFIX + name.upper(), fallback)
