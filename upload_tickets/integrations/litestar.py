"""Litestar: one plugin mounts the upload-tickets surface, runs its sweep and lists it in Litestar's OpenAPI.

::

    app = Litestar(route_handlers=[...], plugins=[UploadTicketsPlugin(AsyncHttpApi(service, teams))])

The plugin adds an ``asgi`` mount route at ``path`` that hands requests to
:class:`~upload_tickets.integrations.asgi.UploadTicketsApp` (bodies streamed under
deadlines, the spec's JSON errors, ``/openapi.json`` and ``/healthz`` under the prefix),
appends the sweep to the app's lifespan, and points upload URLs at the mount as soon as
the app is built. At startup it adds the operations, prefixed, to Litestar's own schema
(``/schema/openapi.json``).
"""

from __future__ import annotations

try:
    import litestar  # noqa: F401
except ImportError as error:
    raise ImportError(
        "upload_tickets.integrations.litestar needs Litestar: pip install 'upload-tickets[litestar]'"
    ) from error

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast
from urllib.parse import unquote

from litestar import Litestar, asgi
from litestar.config.app import AppConfig
from litestar.openapi.spec import OpenAPI
from litestar.plugins import InitPlugin

from upload_tickets import ConfigurationError
from upload_tickets.auth import header_credentials
from upload_tickets.http import AsyncHttpApi, BodyDeadlines
from upload_tickets.integrations.asgi import Receive, Scope, Send, UploadTicketsApp
from upload_tickets.openapi import openapi_document
from upload_tickets.sweeping import DEFAULT_SWEEP_EVERY_S, Sweep


class UploadTicketsPlugin(InitPlugin):
    """Serves an :class:`AsyncHttpApi` under ``path`` of a Litestar app: ``Litestar(plugins=[...])``.

    ``sweep`` is the seconds between sweeps run in the app's lifespan (one process at a
    time, through the store's lease), or ``"external"`` when ``upload-tickets sweep``
    runs from cron. Behind a proxy that strips a prefix, ``root_path`` is that prefix (as
    given to the ASGI server's ``--root-path``).
    """

    def __init__(
        self,
        api: AsyncHttpApi,
        *,
        path: str = "/uploads",
        sweep: Sweep = DEFAULT_SWEEP_EVERY_S,
        deadlines: BodyDeadlines | None = None,
        on_shutdown: Callable[[], Awaitable[None]] | None = None,
        name: str = "upload_tickets",
        root_path: str = "",
    ) -> None:
        if not path.startswith("/") or path.rstrip("/") == "":
            raise ConfigurationError(f"UploadTicketsPlugin(path=...) takes a prefix like '/uploads', not {path!r}")
        #: The ASGI app behind the mount (its ``mount.prefix`` is where upload URLs point).
        self.uploads = UploadTicketsApp(api, sweep=sweep, deadlines=deadlines, on_shutdown=on_shutdown)
        self.path = path.rstrip("/")
        self.name = name
        #: What a proxy strips before the app sees the path (``uvicorn --root-path``): part of upload URLs.
        self.root_path = root_path.rstrip("/")
        #: The mount's full path in the app (the app's own ``path`` included), known once the app is built.
        self.prefix = self.path

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Add the mount route and the sweeping lifespan, and bind upload URLs to the mount."""
        self.prefix = (app_config.path or "").rstrip("/") + self.path
        opt: dict[str, Any] = {}
        # API keys in headers cannot ride on a forged cross-site request; cookie resolvers keep the check.
        if app_config.csrf_config is not None and header_credentials(self.uploads.api.resolver):
            opt[app_config.csrf_config.exclude_from_csrf_key] = True
        mount = asgi(self.path, is_mount=True, copy_scope=False, name=self.name, opt=opt)(self.serve)
        app_config.route_handlers.append(mount)
        app_config.lifespan.append(self.lifespan)
        self.uploads.mount.bind(self.root_path + self.prefix)
        return app_config

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The mount route: the scope a mounted ASGI app expects (``root_path`` ends at the mount)."""
        root = scope.get("root_path", "") + self.prefix
        path = root + _below(scope, self.prefix)
        # Litestar's router cut the path down in place; the server's access log reads it back.
        scope["path"] = path
        await self.uploads({**scope, "root_path": root}, receive, send)

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Litestar) -> AsyncIterator[None]:
        """List the operations in Litestar's OpenAPI, then sweep while the app runs."""
        if app.openapi_config is not None:
            merge_openapi(app.openapi_schema, openapi_document(self.uploads.api, prefix=self.prefix))
        async with self.uploads.lifespan():
            yield


def _below(scope: Scope, prefix: str) -> str:
    # Litestar hands a mount only what follows it, with a "/" appended: the raw path tells the truth.
    raw: bytes | None = scope.get("raw_path")
    if raw:
        # Litestar's own test client leaves the query string in raw_path.
        path = unquote(raw.split(b"?", 1)[0].decode("latin-1"))
        for head in (scope.get("root_path", "") + prefix, prefix):
            if path == head or path.startswith(head + "/"):
                return path[len(head) :] or "/"
    below: str = scope["path"].rstrip("/")
    return below or "/"


def merge_openapi(openapi: OpenAPI, document: dict[str, Any]) -> None:
    """Add ``document``'s paths and components to Litestar's ``openapi``; names it already uses get a prefix."""
    components = openapi.components
    schemas: dict[str, Any] = dict(components.schemas or {})
    schemes: dict[str, Any] = dict(components.security_schemes or {})
    text = json.dumps(document)
    clashing = set(document["components"]["schemas"]) & set(schemas)
    for name in clashing:
        text = text.replace(f'"#/components/schemas/{name}"', f'"#/components/schemas/UploadTickets{name}"')
    document = json.loads(text)
    renamed = {name: f"UploadTickets{name}" for name in set(document["components"]["securitySchemes"]) & set(schemes)}
    default_security = _renamed_security(document.get("security", []), renamed)
    for item in document["paths"].values():
        for operation in item.values():
            # Litestar's document keeps its own top-level security: ours moves onto each operation.
            operation["security"] = _renamed_security(operation.get("security", default_security), renamed)
    for name, schema in document["components"]["schemas"].items():
        schemas[f"UploadTickets{name}" if name in clashing else name] = schema
    for name, scheme in document["components"]["securitySchemes"].items():
        schemes[renamed.get(name, name)] = scheme
    components.schemas, components.security_schemes = schemas, schemes
    # Litestar serialises plain dicts as they are: no need to rebuild its spec objects.
    openapi.paths = {**(openapi.paths or {}), **cast(dict[str, Any], document["paths"])}


def _renamed_security(requirements: list[dict[str, Any]], renamed: dict[str, str]) -> list[dict[str, Any]]:
    return [{renamed.get(name, name): scopes for name, scopes in requirement.items()} for requirement in requirements]


__all__ = ["UploadTicketsPlugin", "merge_openapi"]
