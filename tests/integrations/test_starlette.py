"""The Starlette adapter: a Mount whose lifespan sweeps, through Starlette's TestClient and under uvicorn."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from tests.integrations.support import PNG_BODY, answered, example_app, full_flow, mint_while_stalled
from upload_tickets import HmacSigner, Team
from upload_tickets.integrations.starlette import UploadTicketsMount
from upload_tickets.testing import image_bytes
from upload_tickets.testing.kit import AsyncKitService, async_memory_api, async_memory_service

ROOT = Path(__file__).resolve().parents[2]
KEY = "al_live_starlette_0001"
DEMO_KEY = "al_live_starlette_demo"
TEAM = Team("starlette")
AUTH = {"X-Api-Key": KEY}
INIT = "/v1/characters/uploads/init"


def mount(path: str = "/uploads", **options: Any) -> tuple[AsyncKitService, UploadTicketsMount]:
    """A fresh memory service and the mount serving it (kit signer: origin http://uploads.test)."""
    service = async_memory_service()
    return service, UploadTicketsMount(path, async_memory_api(service, {KEY: TEAM}), **options)


async def home(request: Request) -> PlainTextResponse:
    return PlainTextResponse("the user's own app")


def test_the_whole_flow_through_the_test_client() -> None:
    _, uploads = mount()
    app = Starlette(routes=[Route("/", home), uploads], lifespan=uploads.lifespan)
    with TestClient(app) as client:
        assert client.get("/").text == "the user's own app"
        minted = answered(client.post(f"/uploads{INIT}", json=PNG_BODY, headers=AUTH), 201)
        upload_id = minted["upload_id"]
        assert urlsplit(minted["upload_url"]).path == f"/uploads/uploads/{upload_id}"
        png = image_bytes("image/png")
        put = client.put(minted["upload_url"], content=png, headers=minted["upload_headers"])
        assert answered(put, 200)["size"] == len(png)
        assert answered(client.get(f"/uploads/v1/characters/uploads/{upload_id}", headers=AUTH), 200)["state"] == (
            "uploaded"
        )
        classified = client.post("/uploads/v1/characters/uploads/classify", json={"upload_id": upload_id}, headers=AUTH)
        assert answered(classified, 200)["content_type"] == "image/png"
        character = answered(client.post("/uploads/v1/characters", json={"upload_ids": [upload_id]}, headers=AUTH), 201)
        assert answered(client.get(f"/uploads/v1/characters/{character['id']}", headers=AUTH), 200) == character
        assert [c["id"] for c in answered(client.get("/uploads/v1/characters", headers=AUTH), 200)["data"]] == [
            character["id"]
        ]
        # The spec's error bodies, never Starlette's.
        twice = client.post("/uploads/v1/characters", json={"upload_ids": [upload_id]}, headers=AUTH)
        assert answered(twice, 409)["error"]["code"] == "upload_consumed"
        malformed = client.post(f"/uploads{INIT}", content=b"{", headers={**AUTH, "Content-Type": "application/json"})
        assert answered(malformed, 400)["error"]["type"] == "invalid_request_error"
        assert answered(client.post(f"/uploads{INIT}", json=PNG_BODY), 401)["error"]["type"] == "authentication_error"
        assert "error" in answered(client.get("/uploads/nowhere", headers=AUTH), 404)
        assert client.delete(f"/uploads/v1/characters/{character['id']}", headers=AUTH).status_code == 204
        assert answered(client.get("/uploads/healthz"), 200) == {"status": "ok"}


def test_a_nested_mount_binds_its_upload_urls_at_startup_and_lists_prefixed_paths() -> None:
    service, uploads = mount("/uploads", sweep="external")
    app = Starlette(routes=[Route("/", home), Mount("/api", routes=[uploads])], lifespan=uploads.lifespan)
    with TestClient(app) as client:
        # Before any request: a mint from the app's own code already gets the right URL.
        assert uploads.uploads.mount.prefix == "/api/uploads"
        assert isinstance(service.signer, HmacSigner)
        assert service.signer.base_url == "http://uploads.test/api/uploads/uploads"
        minted = answered(client.post(f"/api/uploads{INIT}", json=PNG_BODY, headers=AUTH), 201)
        assert urlsplit(minted["upload_url"]).path == f"/api/uploads/uploads/{minted['upload_id']}"
        put = client.put(minted["upload_url"], content=image_bytes("image/png"), headers=minted["upload_headers"])
        assert answered(put, 200)["state"] == "uploaded"
        document = answered(client.get("/api/uploads/openapi.json"), 200)
        assert f"/api/uploads{INIT}" in document["paths"]
        assert "/api/uploads/uploads/{upload_id}" in document["paths"]
        assert all(path.startswith("/api/uploads/") for path in document["paths"])


def test_behind_a_proxy_root_path_leads_the_upload_urls() -> None:
    service, uploads = mount(sweep="external", root_path="/api")
    app = Starlette(routes=[uploads], lifespan=uploads.lifespan)
    with TestClient(app, root_path="/api") as client:
        assert isinstance(service.signer, HmacSigner)
        assert service.signer.base_url == "http://uploads.test/api/uploads/uploads"
        minted = answered(client.post(f"/api/uploads{INIT}", json=PNG_BODY, headers=AUTH), 201)
        put = client.put(minted["upload_url"], content=image_bytes("image/png"), headers=minted["upload_headers"])
        assert answered(put, 200)["state"] == "uploaded"


def test_mounted_without_its_lifespan_it_answers_500_and_logs_the_fix(caplog: pytest.LogCaptureFixture) -> None:
    _, uploads = mount()
    app = Starlette(routes=[uploads])  # lifespan=uploads.lifespan forgotten
    with caplog.at_level(logging.ERROR, logger="upload_tickets.asgi"), TestClient(app) as client:
        refused = client.post(f"/uploads{INIT}", json=PNG_BODY, headers=AUTH)
    assert answered(refused, 500)["error"]["type"] == "api_error"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "lifespan=uploads.lifespan" in logged
    assert "sweep='external'" in logged
    # Opted out, it needs no lifespan, and binds from root_path on its first request.
    _, external = mount(sweep="external")
    with TestClient(Starlette(routes=[external])) as client:
        minted = answered(client.post(f"/uploads{INIT}", json=PNG_BODY, headers=AUTH), 201)
        assert urlsplit(minted["upload_url"]).path.startswith("/uploads/uploads/upl_")


def test_the_lifespan_sweep_evicts_an_expired_ticket() -> None:
    service, uploads = mount(sweep=0.05)
    app = Starlette(routes=[uploads], lifespan=uploads.lifespan)
    with TestClient(app) as client:
        upload_id = answered(client.post(f"/uploads{INIT}", json=PNG_BODY, headers=AUTH), 201)["upload_id"]
        assert client.portal is not None
        assert client.portal.call(service.store.get, TEAM.id, upload_id) is not None
        service.clock.advance(timedelta(days=2))
        deadline = time.monotonic() + 5
        while client.portal.call(service.store.get, TEAM.id, upload_id) is not None:
            assert time.monotonic() < deadline, "the sweep never evicted the expired ticket"
            time.sleep(0.02)
        assert answered(client.get(f"/uploads/v1/characters/uploads/{upload_id}", headers=AUTH), 404)["error"]


@pytest.fixture(scope="module")
def example() -> Iterator[str]:
    """``./dev example starlette`` (uvicorn) on a free port; the mount's base URL."""
    with example_app("starlette", DEMO_KEY) as url:
        yield url


def test_the_example_under_uvicorn_serves_the_whole_flow(example: str) -> None:
    full_flow(example, {"X-Api-Key": DEMO_KEY})
    paths = answered(httpx.get(f"{example}/openapi.json"), 200)["paths"]
    assert f"/uploads{INIT}" in paths


def test_the_example_mints_while_200_uploads_stall(example: str) -> None:
    mint_while_stalled(example, {"X-Api-Key": DEMO_KEY})
