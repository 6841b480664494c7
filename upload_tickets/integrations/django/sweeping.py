"""The periodic sweep for an :class:`AsyncHttpApi`: on the serving loop under ASGI, on a loop of its own under WSGI.

Django runs no ASGI lifespan, so the first request a process serves starts the sweep.
Under ASGI that request runs on the server's event loop, which lives as long as the
process: the sweep is a task there, next to the requests (a store's connection pool
belongs to one loop). Under WSGI each async view runs on a loop made for that request
alone, so the sweep gets a daemon thread with a loop of its own.
"""

from __future__ import annotations

import asyncio
import os
import threading

import anyio
import anyio.to_thread

from upload_tickets.http import AsyncHttpApi
from upload_tickets.sweeping import AsyncSweeper, Sweep, sweep_every


class AsyncSweeping:
    """Runs ``sweeper.tick()`` every ``sweeper.every_s`` in this process, one process at a time (the lease)."""

    def __init__(self, sweeper: AsyncSweeper) -> None:
        self.sweeper = sweeper
        self._lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._thread_pid = 0
        self._stop = threading.Event()

    @classmethod
    def every(cls, api: AsyncHttpApi, sweep: Sweep) -> AsyncSweeping | None:
        """The sweep for ``sweep`` seconds, or ``None`` for ``"external"``."""
        every_s = sweep_every(sweep)
        return None if every_s is None else cls(AsyncSweeper(api.service, every_s=every_s))

    def ensure_on_loop(self) -> None:
        """Under ASGI: run the sweep as a task on the running (serving) loop unless it runs there already."""
        loop = asyncio.get_running_loop()
        task = self._task
        if task is not None and not task.done() and task.get_loop() is loop:
            return
        # A task of a loop that has gone (a test's) died with it: this loop takes over.
        self._task = loop.create_task(self._on_loop(), name="upload-tickets-sweep")

    def ensure_thread(self) -> None:
        """Under WSGI: run the sweep on a daemon thread with its own loop, one per process (after a fork too)."""
        if self._thread_pid == os.getpid():
            return
        with self._lock:
            if self._thread_pid == os.getpid():
                return
            self._stop = threading.Event()
            self._thread = threading.Thread(
                target=anyio.run, args=(self._on_thread, self._stop), name="upload-tickets-sweep", daemon=True
            )
            self._thread.start()
            self._thread_pid = os.getpid()

    def stop(self, timeout: float | None = None) -> None:
        """Stop sweeping and give the lease up: the thread is joined (``timeout``), the task cancelled on its loop."""
        self._stop.set()
        thread, self._thread, self._thread_pid = self._thread, None, 0
        if thread is not None:
            thread.join(timeout)
        task, self._task = self._task, None
        if task is not None and not task.get_loop().is_closed():
            task.get_loop().call_soon_threadsafe(task.cancel)

    async def _on_loop(self) -> None:
        try:
            while True:
                await anyio.sleep(self.sweeper.every_s)
                await self.sweeper.tick()
        finally:
            with anyio.CancelScope(shield=True):
                await self.sweeper.release()

    async def _on_thread(self, stop: threading.Event) -> None:
        # The wait blocks a worker thread of this loop, so stop() ends it at once.
        while not await anyio.to_thread.run_sync(stop.wait, self.sweeper.every_s):
            await self.sweeper.tick()
        await self.sweeper.release()


__all__ = ["AsyncSweeping"]
