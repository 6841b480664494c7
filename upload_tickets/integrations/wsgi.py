"""The sync surface for WSGI hosts: :func:`respond` (what the Flask and Django adapters call) and a WSGI app.

A request is judged from its line and headers first (:meth:`HttpApi.begin`): a refusal
never reads the body. An accepted body is read from the server's input stream in
pieces and streamed into ``pending.finish`` (a PUT into the blob store), never spooled
by us. WSGI gives an app no way to time a read: a client that stalls holds the worker
thread until the server's own timeout. Deploy the upload host where stalls cost no
thread (waitress buffers a body before it hands the request to a thread; or an ASGI
server; or uploads straight to S3), as the integrations guide shows.

The periodic sweep runs on a daemon thread per process (:class:`SweepThread`), started
by the first request a process serves (after any fork), one process at a time through
the store's lease.
"""

from __future__ import annotations

import http
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from upload_tickets._errors import ConfigurationError, InvalidRequest
from upload_tickets._models import Team
from upload_tickets._wire import declared_length
from upload_tickets.http import HttpApi, HttpResponse
from upload_tickets.integrations._body import CHUNK_BYTES
from upload_tickets.integrations._mount import MountPoint
from upload_tickets.integrations._own import OwnRoutes
from upload_tickets.sweeping import DEFAULT_SWEEP_EVERY_S, Sweep, Sweeper, sweep_every

logger = logging.getLogger("upload_tickets.wsgi")

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def body_chunks(read: Callable[[int], bytes], limit: int, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """The body from ``read(n)`` in pieces, at most ``limit + 1`` bytes: one too many is how the cap shows."""
    remaining = limit + 1
    while remaining > 0:
        chunk = read(min(chunk_bytes, remaining))
        if not chunk:
            return
        remaining -= len(chunk)
        yield chunk


def respond(
    api: HttpApi,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    read: Callable[[int], bytes],
    transport: Mapping[str, object] | None = None,
    team: Team | None = None,
) -> HttpResponse:
    """Answer one request: ``path`` below the mount, raw ``query``, lower-case ``headers``, ``read(n)`` the body."""
    outcome = api.begin(method, path, query, headers, transport, team)
    if isinstance(outcome, HttpResponse):
        return outcome
    chunks = body_chunks(read, outcome.body_limit)
    declared = declared_length(headers)
    return outcome.finish(chunks if declared is None else _whole(chunks, declared))


def _whole(chunks: Iterator[bytes], declared: int) -> Iterator[bytes]:
    # WSGI servers (and Django's stream) end a body cut short with a short read, not an error:
    # counted here, so a client that went away never leaves a truncated upload behind.
    received = 0
    for chunk in chunks:
        received += len(chunk)
        yield chunk
    if received < declared:
        raise InvalidRequest(f"the request body ended after {received} of its {declared} bytes", code="incomplete_body")


def status_line(status: int) -> str:
    """``201 Created``: the status line a WSGI ``start_response`` takes."""
    return f"{status} {http.HTTPStatus(status).phrase}"


class SweepThread:
    """A daemon thread that runs ``sweeper.tick()`` every ``sweeper.every_s`` in this process.

    :meth:`ensure_started` is cheap after the first call; it starts a new thread in a
    forked child, whose parent's thread did not survive the fork.
    """

    def __init__(self, sweeper: Sweeper) -> None:
        self.sweeper = sweeper
        self._lock = threading.Lock()
        self._pid = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def ensure_started(self) -> None:
        """Start the thread in this process unless it runs already."""
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run, name="upload-tickets-sweep", daemon=True)
            self._thread.start()
            self._pid = os.getpid()

    def stop(self, timeout: float | None = None) -> None:
        """Stop the thread and give the lease up (tests and graceful shutdowns)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._pid = 0
        self.sweeper.release()

    def _run(self) -> None:
        while not self._stop.wait(self.sweeper.every_s):
            self.sweeper.tick()


def sweep_thread(api: HttpApi, sweep: Sweep) -> SweepThread | None:
    """The sweep thread an adapter runs for ``sweep`` seconds, or ``None`` for ``"external"``."""
    every_s = sweep_every(sweep)
    return None if every_s is None else SweepThread(Sweeper(api.service, every_s=every_s))


def _headers(environ: Mapping[str, Any]) -> dict[str, str]:
    headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")}
    for key, name in (("CONTENT_TYPE", "content-type"), ("CONTENT_LENGTH", "content-length")):
        if environ.get(key):
            headers[name] = environ[key]
    return headers


def _no_body(size: int) -> bytes:
    return b""


def _reader(environ: Mapping[str, Any], headers: Mapping[str, str]) -> Callable[[int], bytes]:
    stream = environ["wsgi.input"]
    if environ.get("wsgi.input_terminated"):
        # The server ends the stream itself (e.g. a dechunked body).
        terminated: Callable[[int], bytes] = stream.read
        return terminated
    if "content-length" not in headers:
        return _no_body
    left = [int(headers["content-length"])]

    def read(size: int) -> bytes:
        # Never past Content-Length: a WSGI input stream may block there rather than end.
        chunk: bytes = stream.read(min(size, left[0])) if left[0] > 0 else b""
        left[0] -= len(chunk)
        return chunk

    return read


class UploadTicketsWSGI:
    """The spec's HTTP surface as a WSGI app over a sync :class:`HttpApi`; mount it anywhere (``SCRIPT_NAME``)."""

    def __init__(self, api: HttpApi, *, sweep: Sweep = DEFAULT_SWEEP_EVERY_S) -> None:
        if not isinstance(api, HttpApi):
            raise ConfigurationError(f"the WSGI app serves a sync HttpApi over UploadTickets, not {type(api).__name__}")
        self.api = api
        self.mount = MountPoint(api)
        self.own_routes = OwnRoutes(api)
        self.sweeping = sweep_thread(api, sweep)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if self.sweeping is not None:
            self.sweeping.ensure_started()
        headers = _headers(environ)
        try:
            # At the root, the signer's base URL is as configured (a proxy may strip a prefix).
            if environ.get("SCRIPT_NAME"):
                self.mount.bind(environ["SCRIPT_NAME"])
        except ConfigurationError as error:
            response = self.api.error_response(error)
        else:
            response = self._answer(environ, headers)
        start_response(status_line(response.status), [*response.headers, ("Content-Length", str(len(response.body)))])
        return [response.body]

    def _answer(self, environ: dict[str, Any], headers: dict[str, str]) -> HttpResponse:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "") or "/"
        own = self.own_routes.answer(method, path, environ.get("SCRIPT_NAME", ""))
        if own is not None:
            return own
        transport = {
            "client": (environ.get("REMOTE_ADDR"), environ.get("REMOTE_PORT")),
            "scheme": environ.get("wsgi.url_scheme", "http"),
        }
        query = environ.get("QUERY_STRING", "")
        return respond(self.api, method, path, query, headers, _reader(environ, headers), transport)


__all__ = ["SweepThread", "UploadTicketsWSGI", "body_chunks", "respond", "status_line", "sweep_thread"]
