"""The pieces every adapter stands on: mount-aware upload URLs, the ASGI app's sweep guard, the WSGI app."""

from __future__ import annotations

import subprocess
import sys
import threading
import wsgiref.simple_server
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from tests.integrations.support import full_flow
from upload_tickets import (
    ConfigurationError,
    HmacSigner,
    MemoryBlobStore,
    MemoryRateLimiter,
    MemoryTicketStore,
    MintRequest,
    State,
    Team,
    UploadTickets,
)
from upload_tickets.integrations._mount import MountPoint
from upload_tickets.integrations.asgi import UploadTicketsApp
from upload_tickets.integrations.wsgi import UploadTicketsWSGI, respond
from upload_tickets.testing import image_bytes
from upload_tickets.testing.kit import async_memory_api, memory_api
from upload_tickets.testing.processes import free_port

KEY = "al_live_core_tests_0001"
AUTH = {"X-Api-Key": KEY}
INIT_BODY = {"filename": "a.png", "extension": "png", "content_type": "image/png"}


def _signer(base_url: str) -> HmacSigner:
    return HmacSigner(base_url, {"k": b"k" * 32}, "k")


@pytest.mark.parametrize("base_url", ["https://api.example.com", "https://api.example.com/uploads"])
def test_an_origin_or_the_unmounted_path_follows_the_mount(base_url: str) -> None:
    signer = _signer(base_url)
    signer.serve_at("/api/v2/uploads", unmounted="/uploads/")
    assert signer.base_url == "https://api.example.com/api/v2/uploads"


def test_a_base_url_naming_another_path_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="give the signer only the origin"):
        _signer("https://api.example.com/elsewhere").serve_at("/api/uploads", unmounted="/uploads/")


def test_one_adapter_cannot_serve_two_mounts() -> None:
    mount = MountPoint(memory_api())
    mount.bind("/api")
    mount.bind("/api/")  # the same, spelled with a slash
    with pytest.raises(ConfigurationError, match="mounted at '/api' and at '/other'"):
        mount.bind("/other")


def test_a_provisional_mount_gains_the_servers_root_path_once() -> None:
    api = memory_api()
    mount = MountPoint(api)
    mount.bind("/uploads", provisional=True)  # learnt at startup
    assert api.service.signer.base_url == "http://uploads.test/uploads/uploads"  # type: ignore[attr-defined]
    mount.bind("/api/uploads")  # the first request shows uvicorn's --root-path /api
    assert api.service.signer.base_url == "http://uploads.test/api/uploads/uploads"  # type: ignore[attr-defined]
    with pytest.raises(ConfigurationError, match="mounted at"):
        mount.bind("/v2/api/uploads")  # settled: no second move


def test_a_provisional_mount_never_moves_elsewhere() -> None:
    mount = MountPoint(memory_api())
    mount.bind("/uploads", provisional=True)
    with pytest.raises(ConfigurationError, match="mounted at '/uploads' and at '/files'"):
        mount.bind("/files")


def _answer(app: Any, method: str, url: str, **kwargs: Any) -> httpx.Response:
    async def call() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
            return await client.request(method, url, **kwargs)

    return anyio.run(call)


def test_a_mounted_app_that_never_started_its_sweep_answers_with_the_fix(caplog: pytest.LogCaptureFixture) -> None:
    uploads = UploadTicketsApp(async_memory_api(teams={KEY: Team("t")}), sweep=60)
    host = Starlette(routes=[Mount("/api", uploads)])  # no lifespan=uploads.lifespan: nothing sweeps
    refused = _answer(host, "POST", "/api/v1/characters/uploads/init", json=INIT_BODY, headers=AUTH)
    assert refused.status_code == 500
    assert refused.json()["error"]["code"] == "configuration_error"
    # The developer sees the fix in the answer, and in the log.
    assert "sweep='external'" in refused.json()["error"]["message"]
    assert "lifespan=uploads.lifespan" in caplog.text


def test_openapi_lists_the_paths_under_the_mount() -> None:
    uploads = UploadTicketsApp(async_memory_api(teams={KEY: Team("t")}), sweep="external")
    host = Starlette(routes=[Mount("/api/files", uploads)])
    paths = _answer(host, "GET", "/api/files/openapi.json").json()["paths"]
    assert "/api/files/v1/characters/uploads/init" in paths
    assert "/api/files/uploads/{upload_id}" in paths
    assert not [path for path in paths if not path.startswith("/api/files/")]


@pytest.fixture
def wsgi_server() -> Iterator[str]:
    port = free_port()
    service = UploadTickets(
        store=MemoryTicketStore(),
        limiter=MemoryRateLimiter(),
        signer=_signer(f"http://127.0.0.1:{port}"),  # the origin only: the mount fills in the path
        blobs=MemoryBlobStore(),
    )
    uploads = UploadTicketsWSGI(memory_api(service, {KEY: Team("wsgi")}), sweep="external")

    def host(environ: dict[str, Any], start_response: Any) -> Any:
        # A dispatcher as a host app would have: the adapter lives under /files.
        if environ["PATH_INFO"].startswith("/files/"):
            environ["SCRIPT_NAME"], environ["PATH_INFO"] = "/files", environ["PATH_INFO"][len("/files") :]
            return uploads(environ, start_response)
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]

    server = wsgiref.simple_server.make_server("127.0.0.1", port, host)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}/files"
    server.shutdown()
    server.server_close()


def test_the_wsgi_app_runs_the_whole_flow_under_its_mount(wsgi_server: str) -> None:
    full_flow(wsgi_server, AUTH)


@pytest.mark.parametrize(
    ("adapter", "framework", "extra"),
    [
        ("fastapi", "fastapi", "fastapi"),
        ("starlette", "starlette", "starlette"),
        ("litestar", "litestar", "litestar"),
        ("flask", "flask", "flask"),
        ("django", "django", "django"),
    ],
)
def test_an_adapter_without_its_framework_says_which_extra_to_install(adapter: str, framework: str, extra: str) -> None:
    script = f"import sys; sys.modules[{framework!r}] = None; import upload_tickets.integrations.{adapter}"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert f"upload_tickets.integrations.{adapter} needs " in result.stderr
    assert f"pip install 'upload-tickets[{extra}]'" in result.stderr


def test_a_body_cut_short_of_its_content_length_is_refused_and_the_ticket_kept() -> None:
    api = memory_api(teams={KEY: Team("short")})
    minted = api.service.mint(Team("short"), MintRequest("a.png", "png", "image/png"))
    upload_id = minted.ticket.id
    png = image_bytes("image/png")
    pieces = iter([png[:10], b""])  # the client went away after 10 bytes: the server reads short, then EOF
    query = urlsplit(minted.upload.url).query
    headers = {"content-type": "image/png", "content-length": str(len(png))}
    answer = respond(api, "PUT", f"/uploads/{upload_id}", query, headers, lambda size: next(pieces))
    assert (answer.status, answer.json()["error"]["code"]) == (400, "incomplete_body")
    assert api.service.get(Team("short"), upload_id).state is State.MINTED
