"""The Litestar adapter: a plugin that mounts, sweeps and documents, through Litestar's TestClient and under uvicorn."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx
import pytest
from litestar import Litestar, get
from litestar.config.csrf import CSRFConfig
from litestar.testing import TestClient

from tests.integrations.support import PNG_BODY, answered, example_app, full_flow, mint_while_stalled
from upload_tickets import HmacSigner, MintRequest, Team
from upload_tickets.integrations.litestar import UploadTicketsPlugin
from upload_tickets.testing import image_bytes
from upload_tickets.testing.kit import AsyncKitService, async_memory_api, async_memory_service

ROOT = Path(__file__).resolve().parents[2]
KEY = "al_live_litestar_0001"
DEMO_KEY = "al_live_litestar_demo"
TEAM = Team("litestar")
AUTH = {"X-Api-Key": KEY}
INIT = "/v1/characters/uploads/init"


def plugin(**options: Any) -> tuple[AsyncKitService, UploadTicketsPlugin]:
    """A fresh memory service and the plugin serving it (kit signer: origin http://uploads.test)."""
    service = async_memory_service()
    return service, UploadTicketsPlugin(async_memory_api(service, {KEY: TEAM}), **options)


@dataclasses.dataclass
class Error:
    """The user's own model, named like one of ours."""

    reason: str


@get("/")
async def home() -> Error:
    return Error("the user's own app")


def test_the_whole_flow_through_the_test_client() -> None:
    _, uploads = plugin()
    with TestClient(Litestar([home], plugins=[uploads])) as client:
        assert client.get("/").json() == {"reason": "the user's own app"}
        minted = answered(client.post(f"/uploads{INIT}", json=PNG_BODY, headers=AUTH), 201)
        upload_id = minted["upload_id"]
        assert urlsplit(minted["upload_url"]).path == f"/uploads/uploads/{upload_id}"
        png = image_bytes("image/png")
        put = client.put(minted["upload_url"], content=png, headers=minted["upload_headers"])
        assert answered(put, 200)["size"] == len(png)
        status = answered(client.get(f"/uploads/v1/characters/uploads/{upload_id}", headers=AUTH), 200)
        assert status["state"] == "uploaded"
        classified = client.post("/uploads/v1/characters/uploads/classify", json={"upload_id": upload_id}, headers=AUTH)
        assert answered(classified, 200)["content_type"] == "image/png"
        character = answered(client.post("/uploads/v1/characters", json={"upload_ids": [upload_id]}, headers=AUTH), 201)
        assert answered(client.get(f"/uploads/v1/characters/{character['id']}", headers=AUTH), 200) == character
        listed = answered(client.get("/uploads/v1/characters?limit=10", headers=AUTH), 200)["data"]
        assert [c["id"] for c in listed] == [character["id"]]
        # The spec's error bodies, never Litestar's.
        twice = client.post("/uploads/v1/characters", json={"upload_ids": [upload_id]}, headers=AUTH)
        assert answered(twice, 409)["error"]["code"] == "upload_consumed"
        malformed = client.post(f"/uploads{INIT}", content=b"{", headers={**AUTH, "Content-Type": "application/json"})
        assert answered(malformed, 400)["error"]["type"] == "invalid_request_error"
        assert answered(client.post(f"/uploads{INIT}", json=PNG_BODY), 401)["error"]["type"] == "authentication_error"
        assert "error" in answered(client.get("/uploads/nowhere", headers=AUTH), 404)
        # The path goes in as sent, not with the "/" Litestar appends to what follows a mount.
        assert answered(client.get("/uploads/v1/characters/", headers=AUTH), 404)["error"]["code"] == "route_not_found"
        assert answered(client.get(f"/uploads{INIT}", headers=AUTH), 405)["error"]
        assert client.delete(f"/uploads/v1/characters/{character['id']}", headers=AUTH).status_code == 204
        assert answered(client.get("/uploads/healthz"), 200) == {"status": "ok"}


def test_litestar_schema_lists_the_operations_under_the_prefix() -> None:
    _, uploads = plugin(path="/files", sweep="external")
    with TestClient(Litestar([home], plugins=[uploads])) as client:
        schema = answered(client.get("/schema/openapi.json"), 200)
        mounted = answered(client.get("/files/openapi.json"), 200)
    assert f"/files{INIT}" in schema["paths"]
    assert "/files/uploads/{upload_id}" in schema["paths"]
    assert {path for path in schema["paths"] if path.startswith("/files/")} == set(mounted["paths"])
    assert schema["paths"]["/"]["get"]  # the app's own operation is still there
    # Our Error would have taken the place of the user's: ours is renamed, refs included.
    assert schema["components"]["schemas"]["Error"]["properties"] == {"reason": {"type": "string"}}
    assert schema["components"]["schemas"]["UploadTicketsError"] == mounted["components"]["schemas"]["Error"]
    mint = schema["paths"][f"/files{INIT}"]["post"]
    assert mint["security"] == [{"ApiKey": []}]
    assert schema["paths"]["/files/uploads/{upload_id}"]["put"]["security"] == []
    assert mint["responses"]["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/UploadTicketsError"
    }
    assert "ApiKey" in schema["components"]["securitySchemes"]


def test_upload_urls_follow_the_mount_from_the_moment_the_app_is_built() -> None:
    service, uploads = plugin(path="/files", sweep="external")
    Litestar([home], plugins=[uploads], path="/api")
    assert uploads.prefix == "/api/files"
    assert isinstance(service.signer, HmacSigner)
    assert service.signer.base_url == "http://uploads.test/api/files/uploads"

    async def mint_directly() -> str:
        return (await service.mint(TEAM, MintRequest("a.png", "png", "image/png"))).upload.url

    assert urlsplit(anyio.run(mint_directly)).path.startswith("/api/files/uploads/upl_")


def test_behind_a_proxy_root_path_leads_the_upload_urls() -> None:
    service, uploads = plugin(sweep="external", root_path="/api")
    with TestClient(Litestar([home], plugins=[uploads]), root_path="/api") as client:
        assert isinstance(service.signer, HmacSigner)
        assert service.signer.base_url == "http://uploads.test/api/uploads/uploads"
        minted = answered(client.post(f"/api/uploads{INIT}", json=PNG_BODY, headers=AUTH), 201)
        put = client.put(minted["upload_url"], content=image_bytes("image/png"), headers=minted["upload_headers"])
        assert answered(put, 200)["state"] == "uploaded"
        # Litestar's schema stays relative to the app, as its own paths are.
        assert f"/uploads{INIT}" in answered(client.get("/api/schema/openapi.json"), 200)["paths"]


def test_csrf_protection_leaves_header_api_keys_alone() -> None:
    _, uploads = plugin(sweep="external")
    app = Litestar([home], plugins=[uploads], csrf_config=CSRFConfig(secret="s" * 32))
    with TestClient(app) as client:
        minted = answered(client.post(f"/uploads{INIT}", json=PNG_BODY, headers=AUTH), 201)
        put = client.put(minted["upload_url"], content=image_bytes("image/png"), headers=minted["upload_headers"])
        assert answered(put, 200)["state"] == "uploaded"


def test_the_lifespan_sweep_evicts_an_expired_ticket() -> None:
    service, uploads = plugin(sweep=0.05)
    with TestClient(Litestar([home], plugins=[uploads])) as client:
        upload_id = answered(client.post(f"/uploads{INIT}", json=PNG_BODY, headers=AUTH), 201)["upload_id"]
        assert client.blocking_portal is not None
        assert client.blocking_portal.call(service.store.get, TEAM.id, upload_id) is not None
        service.clock.advance(timedelta(days=2))
        deadline = time.monotonic() + 5
        while client.blocking_portal.call(service.store.get, TEAM.id, upload_id) is not None:
            assert time.monotonic() < deadline, "the sweep never evicted the expired ticket"
            time.sleep(0.02)
        assert answered(client.get(f"/uploads/v1/characters/uploads/{upload_id}", headers=AUTH), 404)["error"]


def test_served_without_the_app_lifespan_it_answers_500_and_logs_the_fix(caplog: pytest.LogCaptureFixture) -> None:
    _, uploads = plugin()
    # Not entered: the app's lifespan never runs, as under `uvicorn --lifespan off`.
    # logging_config=None: Litestar's own would replace the handlers caplog reads.
    client = TestClient(Litestar([home], plugins=[uploads], logging_config=None))
    with caplog.at_level(logging.ERROR, logger="upload_tickets.asgi"):
        refused = client.post(f"/uploads{INIT}", json=PNG_BODY, headers=AUTH)
    assert answered(refused, 500)["error"]["type"] == "api_error"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "no sweep runs" in logged
    assert "sweep='external'" in logged


@pytest.fixture(scope="module")
def example_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the example's server writes its output (uvicorn's access log included)."""
    return tmp_path_factory.mktemp("litestar") / "example.log"


@pytest.fixture(scope="module")
def example(example_log: Path) -> Iterator[str]:
    """``./dev example litestar`` (uvicorn) on a free port; the mount's base URL."""
    with example_app("litestar", DEMO_KEY, log=example_log) as url:
        yield url


def test_the_example_under_uvicorn_serves_the_whole_flow(example: str, example_log: Path) -> None:
    full_flow(example, {"X-Api-Key": DEMO_KEY})
    schema = answered(httpx.get(example.replace("/uploads", "/schema/openapi.json")), 200)
    assert f"/uploads{INIT}" in schema["paths"]
    # The access log names the path as requested, not what Litestar left of it past the mount.
    assert f'"POST /uploads{INIT} HTTP/1.1" 201' in example_log.read_text()


def test_the_example_mints_while_200_uploads_stall(example: str) -> None:
    mint_while_stalled(example, {"X-Api-Key": DEMO_KEY})
