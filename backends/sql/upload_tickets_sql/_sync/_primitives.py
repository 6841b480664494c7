"""The sync twins of ``_async/_primitives.py``: the engine as it is, a direct call, ``time.sleep``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeAlias, TypeVar

import sqlalchemy as sa

_T = TypeVar("_T")

#: What the backend takes: a sync engine.
AnyEngine: TypeAlias = sa.Engine

#: Whether this flavour's engines run on an asyncio driver.
ASYNC_FLAVOUR = False


def create_engine(url: sa.URL, **options: Any) -> sa.Engine:
    """An engine of this flavour."""
    return sa.create_engine(url, **options)


def as_sync_engine(engine: sa.Engine) -> sa.Engine:
    """The engine itself: the sync flavour has no other."""
    return engine


class Driver:
    """Runs sync SQLAlchemy code right here, on the caller's thread."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def __call__(self, function: Callable[..., _T], *args: Any) -> _T:
        """``function(*args)``."""
        return function(*args)

    def close(self) -> None:
        """Nothing to close."""


def sleep(seconds: float) -> None:
    """Pause between attempts."""
    time.sleep(seconds)


def run_setup(function: Callable[..., _T], *args: Any) -> _T:
    """Call ``function`` right here."""
    return function(*args)
