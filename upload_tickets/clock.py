"""Clocks: the real one, and a manual one for tests and simulations."""

from __future__ import annotations

import datetime as dt
import threading
import time


class SystemClock:
    """Wall-clock time from the operating system."""

    def now_us(self) -> int:
        """Microseconds since the Unix epoch."""
        return time.time_ns() // 1000


class ManualClock:
    """A clock that only moves when told to; thread-safe."""

    def __init__(self, start_us: int = 1_778_000_000_000_000) -> None:
        self._now = start_us
        self._lock = threading.Lock()

    def now_us(self) -> int:
        """The current manual time."""
        return self._now

    def advance(self, delta_us: int | dt.timedelta) -> int:
        """Move time forward (never backward) by microseconds or a ``timedelta``; return the new time."""
        if isinstance(delta_us, dt.timedelta):
            delta_us = delta_us // dt.timedelta(microseconds=1)
        if delta_us < 0:
            raise ValueError("a clock does not run backward")
        with self._lock:
            self._now += delta_us
            return self._now
