"""Where the real services are, and the loud skip when one is not there.

URLs come from the environment and default to the standard local ports. A missing
service skips its tests on a laptop; ``.ci/run`` sets ``UPLOAD_TICKETS_NO_SKIPS=1``,
which turns any skip into a failed run (see ``tests/conftest.py``).
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest

POSTGRES_URL = os.environ.get("DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def reachable(url: str) -> bool:
    """True if something listens at the URL's host and port."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), timeout=1):
            return True
    except OSError:
        return False


def require(url: str, name: str) -> str:
    """Return ``url``, or skip (loudly) when its service is down."""
    if not reachable(url):
        pytest.skip(f"SERVICE DOWN: {name} is not reachable at {url}; start it or set the URL variable")
    return url
