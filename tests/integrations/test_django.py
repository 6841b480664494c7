"""The Django app: the whole flow through Django's test clients and the example under waitress and uvicorn.

Also: a PUT is read with ``request.read(n)`` in pieces (never ``request.body``), upload
URLs follow the include and ``SCRIPT_NAME``, CSRF checks are skipped for API keys only,
the sweep runs by itself (a thread, or a task on the serving loop), ``manage.py
upload_tickets_sweep`` sweeps once and reports, and a wrong setup fails the system check
(and the first request) with its fix. Django is configured here, once per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import logging
import subprocess
import sys
import threading
import time
import types
import wsgiref.util
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import django
import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.checks import run_checks
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError
from django.test import AsyncClient, Client, override_settings
from django.urls import include, path, set_script_prefix

from tests.integrations.support import example_app, full_flow, mint_while_stalled
from upload_tickets import MintRequest, Team, Unauthenticated
from upload_tickets.auth import RequestContext
from upload_tickets.http import AsyncHttpApi, HttpApi
from upload_tickets.integrations._body import CHUNK_BYTES
from upload_tickets.integrations.wsgi import SweepThread
from upload_tickets.sweeping import Sweep
from upload_tickets.testing import image_bytes
from upload_tickets.testing.kit import (
    AsyncKitService,
    KitService,
    async_memory_api,
    async_memory_service,
    memory_api,
    memory_service,
)

if not settings.configured:
    # Only this test module uses Django; it shares the pytest process with the others.
    settings.configure(
        SECRET_KEY="django-tests-only",
        ALLOWED_HOSTS=["testserver"],
        INSTALLED_APPS=["upload_tickets.integrations.django"],
        MIDDLEWARE=["django.middleware.common.CommonMiddleware", "django.middleware.csrf.CsrfViewMiddleware"],
        ROOT_URLCONF="tests.integrations.test_django",
        UPLOAD_TICKETS={"API": "tests.integrations.test_django.unused_api", "SWEEP": "external"},
    )
    django.setup()

REPO = Path(__file__).resolve().parents[2]
KEY = "al_live_django_tests_0001"
TEAM = Team("django")
AUTH = {"X-Api-Key": KEY}
INIT = "/v1/characters/uploads/init"
PNG = {"filename": "front.png", "extension": "png", "content_type": "image/png"}
UPLOAD_HOST = "http://uploads.test"  # the kit signer's origin

urlpatterns = [path("uploads/", include("upload_tickets.integrations.django.urls"))]


def unused_api() -> HttpApi:
    """What the module-wide setting names; every test overrides it."""
    return memory_api(memory_service(), {KEY: TEAM})


def failing_api() -> HttpApi:
    """A factory whose store is down: what a driver says names a host."""
    raise RuntimeError("could not connect to db.internal:5432")


_URLCONFS = itertools.count()


def _urlconf(*patterns: Any) -> str:
    """A URLconf module holding ``patterns``, by name (ROOT_URLCONF takes a dotted path)."""
    name = f"tests.integrations._django_urls_{next(_URLCONFS)}"
    module = types.ModuleType(name)
    module.urlpatterns = list(patterns)  # type: ignore[attr-defined]
    sys.modules[name] = module
    return name


def _mounted_at(prefix: str) -> str:
    return _urlconf(path(prefix, include("upload_tickets.integrations.django.urls")))


@contextlib.contextmanager
def _configured(api: object, sweep: Sweep = "external", urlconf: str | None = None, **extra: Any) -> Iterator[None]:
    """The app serving ``api`` (reloaded: a changed setting drops the previous one and stops its sweep)."""
    with override_settings(
        UPLOAD_TICKETS={"API": api, "SWEEP": sweep}, ROOT_URLCONF=urlconf or _mounted_at("uploads/"), **extra
    ):
        yield


class _Requests:
    """One client's requests, sync: Django's ``Client``, or its ``AsyncClient`` awaited on a loop of its own."""

    def __init__(self, client: Client | AsyncClient, script_name: str = "") -> None:
        self.client = client
        self.script_name = script_name

    def __call__(self, method: str, url: str, body: object = None, **extra: Any) -> Any:
        parts = urlsplit(url)
        if self.script_name:
            assert parts.path.startswith(self.script_name), (parts.path, self.script_name)
        target = parts.path[len(self.script_name) :] + (f"?{parts.query}" if parts.query else "")
        if body is not None and not isinstance(body, bytes):
            body, extra["content_type"] = json.dumps(body).encode(), "application/json"
        call = getattr(self.client, method.lower())
        if isinstance(self.client, AsyncClient):
            call = async_to_sync(call)
        return call(target, body, **extra) if body is not None else call(target, **extra)


def _json(response: Any, status: int) -> Any:
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"] == "application/json"
    return json.loads(response.content)


def _error(response: Any, status: int) -> str:
    error = _json(response, status)["error"]
    assert set(error) == {"type", "code", "message", "param"}
    return str(error["code"])


def _flow(request: _Requests, mount: str = "/uploads") -> None:
    """init -> PUT to the mounted upload host -> status -> classify -> consume -> read, and the spec's errors."""
    png = image_bytes("image/png")
    minted = _json(request("POST", f"{mount}{INIT}", PNG, headers=AUTH), 201)
    upload_id = minted["upload_id"]
    # The upload URL leads to this very mount (the kit signer gives only its origin).
    assert minted["upload_url"].startswith(f"{UPLOAD_HOST}{mount}/uploads/{upload_id}?"), minted["upload_url"]
    put = request("PUT", minted["upload_url"], png, content_type="image/png")
    assert _json(put, 200) == {"upload_id": upload_id, "state": "uploaded", "size": len(png)}
    assert _json(request("GET", f"{mount}/v1/characters/uploads/{upload_id}", headers=AUTH), 200)["state"] == "uploaded"
    classify = request("POST", f"{mount}/v1/characters/uploads/classify", {"upload_id": upload_id}, headers=AUTH)
    assert _json(classify, 200)["content_type"] == "image/png"
    character = _json(request("POST", f"{mount}/v1/characters", {"upload_ids": [upload_id]}, headers=AUTH), 201)
    assert _json(request("GET", f"{mount}/v1/characters/{character['id']}", headers=AUTH), 200) == character
    listed = _json(request("GET", f"{mount}/v1/characters?limit=10", headers=AUTH), 200)
    assert [item["id"] for item in listed["data"]] == [character["id"]]
    twice = request("POST", f"{mount}/v1/characters", {"upload_ids": [upload_id]}, headers=AUTH)
    assert _error(twice, 409) == "upload_consumed"
    malformed = request("POST", f"{mount}{INIT}", b"{", content_type="application/json", headers=AUTH)
    assert _error(malformed, 400) == "invalid_json"
    assert _error(request("POST", f"{mount}{INIT}", PNG), 401) == "missing_api_key"
    assert _error(request("GET", f"{mount}/v1/nowhere", headers=AUTH), 404) == "route_not_found"
    wrong_method = request("GET", f"{mount}{INIT}", headers=AUTH)
    assert _error(wrong_method, 405) == "method_not_allowed"
    assert wrong_method["Allow"] == "POST"
    deleted = request("DELETE", f"{mount}/v1/characters/{character['id']}", headers=AUTH)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert "Content-Type" not in deleted
    assert _json(request("GET", f"{mount}/healthz"), 200) == {"status": "ok"}
    document = _json(request("GET", f"{mount}/openapi.json"), 200)
    assert f"{mount}{INIT}" in document["paths"]


@pytest.mark.parametrize("make_api", [memory_api, async_memory_api], ids=["sync-api", "async-api"])
def test_the_whole_flow_through_the_wsgi_test_client(make_api: Callable[..., HttpApi | AsyncHttpApi]) -> None:
    # An AsyncHttpApi gets the async view, which Django runs on a loop of its own under WSGI.
    service = memory_service() if make_api is memory_api else async_memory_service()
    with _configured(make_api(service, {KEY: TEAM})):
        _flow(_Requests(Client()))


def test_the_whole_flow_through_the_async_client_runs_the_async_view() -> None:
    from upload_tickets.integrations.django import views

    with _configured(async_memory_api(async_memory_service(), {KEY: TEAM})):
        client = AsyncClient()
        _flow(_Requests(client))
        response = async_to_sync(client.get)("/uploads/healthz")
        assert response.resolver_match.func is views.aserve


class _CountingStream(io.BytesIO):
    """A WSGI input stream that records the size of every read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads: list[int | None] = []

    def read(self, size: int | None = -1) -> bytes:
        self.reads.append(size)
        return super().read(size)


def _wsgi_put(url: str, body: _CountingStream, length: int) -> tuple[str, bytes]:
    """PUT ``body`` to ``url`` through Django's own WSGI handler, with a stream we can watch."""
    parts = urlsplit(url)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "PUT",
        "PATH_INFO": parts.path,
        "QUERY_STRING": parts.query,
        "CONTENT_TYPE": "image/png",
        "CONTENT_LENGTH": str(length),
        "HTTP_HOST": "testserver",
        "wsgi.input": body,
    }
    wsgiref.util.setup_testing_defaults(environ)
    status: list[str] = []
    chunks = WSGIHandler()(environ, lambda line, headers: status.append(line))
    return status[0], b"".join(chunks)


def test_a_put_is_read_in_pieces_never_as_request_body() -> None:
    service = memory_service()
    # request.body would refuse anything over DATA_UPLOAD_MAX_MEMORY_SIZE: the PUT never touches it.
    with _configured(memory_api(service, {KEY: TEAM}), DATA_UPLOAD_MAX_MEMORY_SIZE=1000):
        request = _Requests(Client())
        minted = _json(request("POST", f"/uploads{INIT}", PNG, headers=AUTH), 201)
        body = _CountingStream(b"\x89PNG" + bytes(300_000))
        status, answer = _wsgi_put(minted["upload_url"], body, 300_004)
        assert status == "200 OK", answer
        assert json.loads(answer)["size"] == 300_004
        assert len(body.reads) >= 5
        assert all(size is not None and 0 < size <= CHUNK_BYTES for size in body.reads), body.reads

        # Refused from its head (a declared length over the cap): nothing is read at all.
        refused = _CountingStream(b"x" * 1000)
        url = _json(request("POST", f"/uploads{INIT}", PNG, headers=AUTH), 201)["upload_url"]
        status, answer = _wsgi_put(url, refused, 10**9)
        assert status.startswith("413"), answer
        assert json.loads(answer)["error"]["code"] == "payload_too_large"
        assert refused.reads == []


def test_upload_urls_follow_the_include_and_script_name() -> None:
    service = memory_service()
    with _configured(memory_api(service, {KEY: TEAM}), urlconf=_mounted_at("api/files/")):
        try:
            # The full flow with every URL under SCRIPT_NAME, the upload URL included.
            _flow(_Requests(Client(SCRIPT_NAME="/site"), script_name="/site"), mount="/site/api/files")
        finally:
            set_script_prefix("/")  # the test client leaves the last request's prefix on this thread
        assert service.signer.base_url == f"{UPLOAD_HOST}/site/api/files/uploads"  # type: ignore[attr-defined]
        # Served under another SCRIPT_NAME, its upload URLs would lead nowhere: loud.
        elsewhere = Client(SCRIPT_NAME="/other").post(f"/api/files{INIT}", PNG, "application/json", headers=AUTH)
        set_script_prefix("/")
        assert _error(elsewhere, 500) == "configuration_error"
        assert "FORCE_SCRIPT_NAME" in json.loads(elsewhere.content)["error"]["message"]


def test_upload_urls_follow_force_script_name() -> None:
    with _configured(memory_api(memory_service(), {KEY: TEAM}), FORCE_SCRIPT_NAME="/public"):
        try:
            _flow(_Requests(Client(), script_name="/public"), mount="/public/uploads")
        finally:
            set_script_prefix("/")


def test_get_api_binds_the_upload_urls_before_any_request() -> None:
    from upload_tickets.integrations.django import get_api

    # A dotted path to a zero-arg callable, loaded once.
    with _configured("tests.integrations.test_django.unused_api", urlconf=_mounted_at("media/uploads/")):
        api = get_api()
        assert get_api() is api
        assert isinstance(api, HttpApi)
        minted = api.service.mint(TEAM, MintRequest("a.png", "png", "image/png"))
        assert minted.upload.url.startswith(f"{UPLOAD_HOST}/media/uploads/uploads/{minted.ticket.id}?")
        # Outside a request the WSGI server's SCRIPT_NAME is unknown: the first request adds it, once.
        try:
            request = _Requests(Client(SCRIPT_NAME="/site"), script_name="/site")
            served = _json(request("POST", f"/site/media/uploads{INIT}", PNG, headers=AUTH), 201)
        finally:
            set_script_prefix("/")
        assert served["upload_url"].startswith(f"{UPLOAD_HOST}/site/media/uploads/uploads/")


class _SessionCookieResolver:
    """A team from a ``session`` cookie: an ambient credential, so it declares no ``header_credentials``."""

    def resolve(self, request: RequestContext) -> Team:
        cookies = SimpleCookie(request.headers.get("cookie", ""))
        if "session" not in cookies or cookies["session"].value != "s3cret":
            raise Unauthenticated("no session", code="no_session")
        return TEAM


def test_api_keys_skip_csrf_checks_and_a_signed_put_always_does() -> None:
    with _configured(memory_api(memory_service(), {KEY: TEAM})):
        request = _Requests(Client(enforce_csrf_checks=True))
        minted = _json(request("POST", f"/uploads{INIT}", PNG, headers=AUTH), 201)
        put = request("PUT", minted["upload_url"], image_bytes("image/png"), content_type="image/png")
        assert _json(put, 200)["state"] == "uploaded"


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_session_cookie_resolver_keeps_djangos_csrf_protection(flavour: str) -> None:
    if flavour == "sync":
        api: HttpApi | AsyncHttpApi = HttpApi(memory_service(), _SessionCookieResolver(), upload_path="/uploads/")
    else:
        api = AsyncHttpApi(async_memory_service(), _SessionCookieResolver(), upload_path="/uploads/")
    token = "a" * 32  # a CSRF secret as Django makes them: 32 letters or digits
    with _configured(api):
        client: Client | AsyncClient = Client(enforce_csrf_checks=True)
        if flavour == "async":
            client = AsyncClient(enforce_csrf_checks=True)
        client.cookies["session"] = "s3cret"
        request = _Requests(client)
        forged = request("POST", f"/uploads{INIT}", PNG)
        assert forged.status_code == 403
        assert b"CSRF verification failed" in forged.content  # Django's own page
        client.cookies["csrftoken"] = token
        minted = _json(request("POST", f"/uploads{INIT}", PNG, headers={"X-CSRFToken": token}), 201)
        # The signed PUT carries no ambient credential: no token needed.
        put = request("PUT", minted["upload_url"], image_bytes("image/png"), content_type="image/png")
        assert _json(put, 200)["state"] == "uploaded"
        # Safe methods pass, as everywhere in Django.
        assert _json(request("GET", f"/uploads/v1/characters/uploads/{minted['upload_id']}"), 200)["state"]


def _mint_expired(service: KitService, request: _Requests) -> str:
    upload_id: str = _json(request("POST", f"/uploads{INIT}", PNG, headers=AUTH), 201)["upload_id"]
    service.clock.advance(timedelta(days=2))
    return upload_id


def test_the_sweep_thread_started_by_the_first_request_evicts_expired_tickets() -> None:
    service = memory_service()
    with _configured(memory_api(service, {KEY: TEAM}), sweep=0.05):
        upload_id = _mint_expired(service, _Requests(Client()))
        deadline = time.monotonic() + 5
        while service.store.get(TEAM.id, upload_id) is not None:
            assert time.monotonic() < deadline, "the sweep thread never evicted the expired ticket"
            time.sleep(0.02)


def test_without_a_sweep_setting_each_process_sweeps_every_60_s_from_its_first_request() -> None:
    from upload_tickets.integrations.django.conf import runtime

    with override_settings(UPLOAD_TICKETS={"API": memory_api(memory_service(), {KEY: TEAM})}):
        sweeping = runtime().sweeping
        assert isinstance(sweeping, SweepThread)
        assert sweeping.sweeper.every_s == 60
        assert "upload-tickets-sweep" not in {thread.name for thread in threading.enumerate()}
        assert Client().get("/uploads/healthz").status_code == 200
        assert "upload-tickets-sweep" in {thread.name for thread in threading.enumerate()}
    # A changed setting stops it (and the next use loads the new one).
    assert "upload-tickets-sweep" not in {thread.name for thread in threading.enumerate()}


def test_an_async_api_sweeps_on_a_thread_of_its_own_under_wsgi() -> None:
    service = async_memory_service()
    with _configured(async_memory_api(service, {KEY: TEAM}), sweep=0.05):
        upload_id = _json(_Requests(Client())("POST", f"/uploads{INIT}", PNG, headers=AUTH), 201)["upload_id"]
        service.clock.advance(timedelta(days=2))
        deadline = time.monotonic() + 5
        while anyio.run(service.store.get, TEAM.id, upload_id) is not None:
            assert time.monotonic() < deadline, "the sweep never evicted the expired ticket"
            time.sleep(0.02)


def test_an_async_api_sweeps_on_the_serving_loop_under_asgi() -> None:
    service: AsyncKitService = async_memory_service()

    async def scenario() -> None:
        client = AsyncClient()
        minted = await client.post(f"/uploads{INIT}", PNG, "application/json", headers=AUTH)
        upload_id = _json(minted, 201)["upload_id"]
        service.clock.advance(timedelta(days=2))
        with anyio.fail_after(5):
            while await service.store.get(TEAM.id, upload_id) is not None:
                await anyio.sleep(0.02)
        # A task on this loop, next to the requests: no thread of its own.
        assert "upload-tickets-sweep" in {task.get_name() for task in asyncio.all_tasks()}
        assert "upload-tickets-sweep" not in {thread.name for thread in threading.enumerate()}

    with _configured(async_memory_api(service, {KEY: TEAM}), sweep=0.05):
        anyio.run(scenario)


def _our_errors() -> dict[str, str]:
    return {error.id: f"{error.msg} / {error.hint}" for error in run_checks() if error.id.startswith("upload_tickets")}


def test_the_system_check_passes_a_good_setup() -> None:
    with _configured("tests.integrations.test_django.unused_api", sweep=60):
        assert _our_errors() == {}
        call_command("check")


@pytest.mark.parametrize("sweep", [0, -1, "never", None, True])
def test_a_bad_sweep_fails_the_check_and_the_first_request_with_the_fix(
    sweep: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with _configured(memory_api(memory_service(), {KEY: TEAM}), sweep=sweep):
        errors = _our_errors()
        assert set(errors) == {"upload_tickets.E003"}
        assert "'external'" in errors["upload_tickets.E003"]
        with pytest.raises(SystemCheckError, match="SWEEP"):
            call_command("check")
        with caplog.at_level(logging.ERROR, logger="upload_tickets.django"):
            response = Client().post(f"/uploads{INIT}", PNG, "application/json", headers=AUTH)
        assert _error(response, 500) == "configuration_error"
        assert "manage.py upload_tickets_sweep" in caplog.text


def test_a_missing_setting_or_api_fails_the_check_with_the_fix() -> None:
    with override_settings(UPLOAD_TICKETS=None):
        errors = _our_errors()
        assert set(errors) == {"upload_tickets.E001"}
        assert "UPLOAD_TICKETS = {'API'" in errors["upload_tickets.E001"]
    with _configured("tests.integrations.test_django.no_such_api"):
        errors = _our_errors()
        assert set(errors) == {"upload_tickets.E002"}
        assert "could not be imported" in errors["upload_tickets.E002"]
        assert _error(Client().get("/uploads/healthz"), 500) == "configuration_error"
    with _configured(memory_service()):
        assert "not an HttpApi or AsyncHttpApi" in _our_errors()["upload_tickets.E002"]
    with _configured("tests.integrations.test_django.failing_api"):
        # The developer sees the cause; an API client only the fix.
        assert "db.internal" in _our_errors()["upload_tickets.E002"]
        answer = Client().get("/uploads/healthz")
        assert _error(answer, 500) == "configuration_error"
        assert b"failed when called" in answer.content
        assert b"db.internal" not in answer.content
    with override_settings(UPLOAD_TICKETS={"API": "tests.integrations.test_django.unused_api", "SWEPP": 60}):
        assert "unknown keys ['SWEPP']" in _our_errors()["upload_tickets.E001"]


def test_an_urlconf_without_the_include_fails_the_check_with_the_fix() -> None:
    with _configured("tests.integrations.test_django.unused_api", urlconf=_urlconf()):
        errors = _our_errors()
        assert set(errors) == {"upload_tickets.E004"}
        assert 'include("upload_tickets.integrations.django.urls")' in errors["upload_tickets.E004"]


def test_urls_without_the_app_in_installed_apps_fail_the_first_request(caplog: pytest.LogCaptureFixture) -> None:
    with _configured(memory_api(memory_service(), {KEY: TEAM}), INSTALLED_APPS=[]), caplog.at_level(logging.ERROR):
        assert _error(Client().get("/uploads/healthz"), 500) == "configuration_error"
    assert "INSTALLED_APPS" in caplog.text


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_manage_py_upload_tickets_sweep_sweeps_once_and_reports_the_last_sweep(flavour: str) -> None:
    service: KitService | AsyncKitService = memory_service() if flavour == "sync" else async_memory_service()
    api = memory_api(service, {KEY: TEAM}) if isinstance(service, KitService) else async_memory_api(service)
    with _configured(api):
        with pytest.raises(CommandError, match="no sweep has ever finished"):
            call_command("upload_tickets_sweep", "--status")
        if isinstance(service, KitService):
            _mint_expired(service, _Requests(Client()))
        else:
            anyio.run(service.mint, TEAM, MintRequest("a.png", "png", "image/png"))
            service.clock.advance(timedelta(days=2))
        out = io.StringIO()
        call_command("upload_tickets_sweep", stdout=out)
        assert out.getvalue().startswith("swept 1 expired tickets"), out.getvalue()
        status = io.StringIO()
        call_command("upload_tickets_sweep", "--status", stdout=status)
        assert "last sweep" in status.getvalue()
        assert "1 tickets" in status.getvalue()
        service.clock.advance(timedelta(hours=1))
        with pytest.raises(CommandError, match="stale"):
            call_command("upload_tickets_sweep", "--status", "--max-age", "60")


def _manage(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "examples/django/manage.py", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=False, timeout=60)


def test_the_examples_manage_py_checks_sweeps_and_reports_a_missing_heartbeat() -> None:
    assert _manage("check").returncode == 0
    swept = _manage("upload_tickets_sweep")
    assert (swept.returncode, swept.stdout) == (0, "swept 0 expired tickets and 0 blobs; finished 0 characters\n")
    # A fresh process's memory store has no heartbeat: cron's monitoring sees a failure.
    status = _manage("upload_tickets_sweep", "--status")
    assert status.returncode == 1
    assert "no sweep has ever finished" in status.stderr


@pytest.fixture(scope="module", params=["django", "django-asgi"])
def example(request: pytest.FixtureRequest) -> Iterator[str]:
    """The example under waitress (WSGI, sync API) or uvicorn (ASGI, async API), started by ``./dev example``."""
    with example_app(request.param, KEY) as url:
        yield url


def test_the_example_runs_the_full_flow(example: str) -> None:
    full_flow(example, AUTH)


def test_the_example_mints_while_200_uploads_stall(example: str) -> None:
    mint_while_stalled(example, AUTH)
