"""Starlette: the whole upload-tickets surface as one ``Mount``, whose lifespan runs the sweep.

::

    uploads = UploadTicketsMount("/uploads", AsyncHttpApi(service, teams))
    app = Starlette(routes=[uploads, ...], lifespan=uploads.lifespan)

Requests are served by :class:`~upload_tickets.integrations.asgi.UploadTicketsApp`
(bodies streamed under deadlines, the spec's JSON errors, ``/openapi.json`` and
``/healthz`` under the prefix). At startup the lifespan finds the mount in the app's
routes, nested mounts included, and points upload URLs at it before any request; a
mount the lifespan cannot see binds from ``root_path`` on its first request.
"""

from __future__ import annotations

try:
    import starlette  # noqa: F401
except ImportError as error:
    raise ImportError(
        "upload_tickets.integrations.starlette needs Starlette: pip install 'upload-tickets[starlette]'"
    ) from error

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from starlette.routing import BaseRoute, Host, Mount

from upload_tickets.http import AsyncHttpApi, BodyDeadlines
from upload_tickets.integrations.asgi import UploadTicketsApp
from upload_tickets.sweeping import DEFAULT_SWEEP_EVERY_S, Sweep


class UploadTicketsMount(Mount):
    """A Starlette ``Mount`` serving an :class:`AsyncHttpApi` under ``path``; pass ``lifespan`` to your app.

    ``sweep`` is the seconds between sweeps run by :meth:`lifespan` (one process at a
    time, through the store's lease), or ``"external"`` when ``upload-tickets sweep``
    runs from cron. Served without its lifespan, it answers 500 and logs that fix.
    Behind a proxy that strips a prefix, ``root_path`` is that prefix (as given to the
    ASGI server's ``--root-path``).
    """

    def __init__(
        self,
        path: str,
        api: AsyncHttpApi,
        *,
        sweep: Sweep = DEFAULT_SWEEP_EVERY_S,
        deadlines: BodyDeadlines | None = None,
        on_shutdown: Callable[[], Awaitable[None]] | None = None,
        name: str | None = None,
        root_path: str = "",
    ) -> None:
        #: What a proxy strips before the app sees the path (``uvicorn --root-path``): part of upload URLs.
        self.root_path = root_path.rstrip("/")
        #: The ASGI app behind the mount (its ``mount.prefix`` is where upload URLs point).
        self.uploads = UploadTicketsApp(api, sweep=sweep, deadlines=deadlines, on_shutdown=on_shutdown)
        super().__init__(path, app=self.uploads, name=name)

    @contextlib.asynccontextmanager
    async def lifespan(self, app: object = None) -> AsyncIterator[None]:
        """Bind upload URLs to where ``app`` mounts this, then sweep while it runs: ``Starlette(lifespan=...)``.

        Inside a lifespan of your own: ``async with uploads.lifespan(app): yield``.
        """
        prefix = _mounted_at(self, getattr(app, "routes", ()))
        # A path parameter above the mount makes the prefix vary per request: nothing to bind once.
        if prefix is not None and "{" not in prefix:
            self.uploads.mount.bind(self.root_path + prefix)
        async with self.uploads.lifespan():
            yield


def _mounted_at(target: BaseRoute, routes: Sequence[BaseRoute], above: str = "") -> str | None:
    """The full path of ``target`` among ``routes`` (nested ``Mount`` paths joined), ``None`` if absent."""
    for route in routes:
        if route is target and isinstance(route, Mount):
            return above + route.path
        if isinstance(route, Mount | Host):
            found = _mounted_at(target, route.routes, above + route.path if isinstance(route, Mount) else above)
            if found is not None:
                return found
    return None


__all__ = ["UploadTicketsMount"]
