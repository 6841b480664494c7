"""The views below the include: a sync one for an :class:`HttpApi`, an async one for an :class:`AsyncHttpApi`.

Both copy the request in and the API's answer out; routing, status codes and error
bodies are the API's. A body is read with ``request.read(n)`` in pieces and streamed into
the blob store (never ``request.body``, which Django caps and holds whole). Under WSGI
that read comes off the server's input stream; under ASGI Django has read the body into
a spooled file before any view runs (the wait is a coroutine, not a thread).

CSRF: the views are exempt from Django's middleware and decide themselves. The signed
PUT to the upload host never needs a check (it carries no ambient credential: the
signature is in the URL); the other routes skip it only when the API's resolver
declares ``header_credentials`` (an API key, a bearer token), and otherwise run Django's
own ``CsrfViewMiddleware`` check (its cookie, header, trusted origins and 403 page).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, cast

import django.http
from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, UnreadablePostError
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.module_loading import import_string
from django.views.decorators.csrf import csrf_exempt

from upload_tickets._errors import ConfigurationError, InvalidRequest
from upload_tickets.http import AsyncHttpApi, HttpApi, HttpResponse, error_response
from upload_tickets.integrations.django.conf import Runtime, runtime
from upload_tickets.integrations.django.sweeping import AsyncSweeping
from upload_tickets.integrations.wsgi import SweepThread, body_chunks, respond

logger = logging.getLogger("upload_tickets.django")

_APP = "upload_tickets.integrations.django"


def _serve(request: HttpRequest, rest: str = "") -> django.http.HttpResponse:
    current, prefix = _prepared(request, rest)
    if isinstance(current, HttpResponse):
        return _answer(current)
    if isinstance(current.api, AsyncHttpApi):
        # Routed here by hand rather than through the include: the async view does the work.
        return cast("django.http.HttpResponse", async_to_sync(_aserve)(request, rest))
    if isinstance(current.sweeping, SweepThread):
        current.sweeping.ensure_started()
    path = "/" + rest
    own = _own_answer(current, request, path, prefix)
    if own is not None:
        return own
    refusal = _csrf_refusal(request) if _needs_csrf_check(current, request, path) else None
    if refusal is not None:
        return refusal
    headers = _headers(request)
    query = request.META.get("QUERY_STRING", "")
    answer = respond(current.api, request.method, path, query, headers, _reader(request), _transport(request))
    return _answer(answer)


async def _aserve(request: HttpRequest, rest: str = "") -> django.http.HttpResponse:
    current, prefix = _prepared(request, rest)
    if isinstance(current, HttpResponse):
        return _answer(current)
    api = current.api
    if isinstance(api, HttpApi):
        # Routed here by hand rather than through the include: the sync view does the work.
        return cast("django.http.HttpResponse", await sync_to_async(_serve)(request, rest))
    if isinstance(current.sweeping, AsyncSweeping):
        if isinstance(request, ASGIRequest):
            current.sweeping.ensure_on_loop()
        else:
            current.sweeping.ensure_thread()
    path = "/" + rest
    own = _own_answer(current, request, path, prefix)
    if own is not None:
        return own
    if _needs_csrf_check(current, request, path):
        # On the thread sync code runs on: the check may read a session (CSRF_USE_SESSIONS).
        refusal = await sync_to_async(_csrf_refusal)(request)
        if refusal is not None:
            return refusal
    query = request.META.get("QUERY_STRING", "")
    outcome = await api.begin(request.method, path, query, _headers(request), _transport(request))
    if isinstance(outcome, HttpResponse):
        return _answer(outcome)
    # Under ASGI the body is in Django's spooled file already: reading it does not wait on the client.
    return _answer(await outcome.finish(body_chunks(_reader(request), outcome.body_limit)))


#: The sync view (an :class:`HttpApi`); exempt from the CSRF middleware, it checks by itself.
serve: Callable[..., Any] = csrf_exempt(_serve)
#: The async view (an :class:`AsyncHttpApi`); exempt from the CSRF middleware, it checks by itself.
aserve: Callable[..., Any] = csrf_exempt(_aserve)


def view_for_configured_api() -> Callable[..., Any]:
    """The view the configured API takes: async for an :class:`AsyncHttpApi`; sync otherwise (errors included)."""
    try:
        api = runtime().api
    except ConfigurationError:
        return serve  # which answers the error
    return aserve if isinstance(api, AsyncHttpApi) else serve


def _prepared(request: HttpRequest, rest: str) -> tuple[Runtime | HttpResponse, str]:
    """The runtime with its mount bound to where this request reached it, or the configuration error's answer."""
    # path_info ends with `rest` (the include matched the part before it); path adds SCRIPT_NAME.
    prefix = request.path[: len(request.path) - len(rest)].rstrip("/")
    try:
        current = runtime()
        if not _installed():
            raise ConfigurationError(
                f"add {_APP!r} to INSTALLED_APPS: its system checks verify this setup at startup and it"
                " brings `manage.py upload_tickets_sweep`"
            )
        _bind(current, prefix)
    except ConfigurationError as error:
        logger.error("%s", error, exc_info=error if error.__cause__ is not None else None)
        return error_response(error), prefix
    return current, prefix


def _bind(current: Runtime, prefix: str) -> None:
    try:
        current.mount.bind(prefix)
    except ConfigurationError as error:
        raise ConfigurationError(
            f"{error}. With Django: serve the project under one SCRIPT_NAME, or set FORCE_SCRIPT_NAME to the"
            " public prefix when a proxy strips it"
        ) from error


@functools.cache
def _installed_in(installed_apps: tuple[str, ...]) -> bool:
    from django.apps import apps

    return bool(apps.is_installed(_APP))


def _installed() -> bool:
    return _installed_in(tuple(settings.INSTALLED_APPS))


def _own_answer(current: Runtime, request: HttpRequest, path: str, prefix: str) -> django.http.HttpResponse | None:
    """The app's own GET routes (``/openapi.json``, ``/healthz``), or ``None`` for the API's."""
    own = current.own_routes.answer(request.method or "GET", path, prefix)
    return None if own is None else _answer(own)


def _needs_csrf_check(current: Runtime, request: HttpRequest, path: str) -> bool:
    """Whether Django's CSRF check applies: a route that answers to a team, with ambient credentials possible."""
    return not current.header_credentials and current.api.needs_team(request.method, path)


def _csrf_refusal(request: HttpRequest) -> django.http.HttpResponse | None:
    """Django's CSRF check, as its middleware would run it on a view that is not exempt; its 403 or ``None``."""
    check = _csrf_middleware(tuple(settings.MIDDLEWARE))(_no_response)
    check.process_request(request)
    refusal: django.http.HttpResponse | None = check.process_view(request, None, (), {})
    return refusal


@functools.cache
def _csrf_middleware(middleware: tuple[str, ...]) -> Any:
    """The project's CSRF middleware (a subclass keeps its own rules), else Django's."""
    for dotted in middleware:
        candidate = import_string(dotted)
        if isinstance(candidate, type) and issubclass(candidate, CsrfViewMiddleware):
            return candidate
    return CsrfViewMiddleware


def _no_response(request: HttpRequest) -> None:
    return None


def _headers(request: HttpRequest) -> dict[str, str]:
    return {str(name).lower(): str(value) for name, value in request.headers.items()}


def _transport(request: HttpRequest) -> dict[str, object]:
    return {"client": (request.META.get("REMOTE_ADDR"), request.META.get("REMOTE_PORT")), "scheme": request.scheme}


def _reader(request: HttpRequest) -> Callable[[int], bytes]:
    """``read(n)`` over the request (bounded by Content-Length); a body cut short is the spec's 400."""

    def read(size: int) -> bytes:
        try:
            chunk: bytes = request.read(size)
        except UnreadablePostError:
            raise InvalidRequest("the body ended before its Content-Length", code="incomplete_body") from None
        return chunk

    return read


def _answer(response: HttpResponse) -> django.http.HttpResponse:
    answer = django.http.HttpResponse(response.body, status=response.status)
    # Django's default is text/html; the API names its own (a 204 has none).
    del answer["Content-Type"]
    for name, value in response.headers:
        answer[name] = value
    answer["Content-Length"] = str(len(response.body))
    return answer


__all__ = ["aserve", "serve", "view_for_configured_api"]
