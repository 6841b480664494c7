"""The FastAPI adapter: an APIRouter in the app's own OpenAPI, through FastAPI's TestClient and under uvicorn."""

# No `from __future__ import annotations`: FastAPI reads the endpoints' Annotated[..., Depends(uploads.x)]
# parameters, and those name a local `uploads` that a string annotation could not reach.

import logging
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import anyio
import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.testclient import TestClient

from tests.integrations.support import PNG_BODY, answered, example_app, full_flow, mint_while_stalled
from upload_tickets import AsyncUploadTickets, ConfigurationError, HmacSigner, MintRequest, Team
from upload_tickets.http import BodyDeadlines
from upload_tickets.integrations.fastapi import UploadTicketsRouter
from upload_tickets.openapi import openapi_document
from upload_tickets.testing import image_bytes
from upload_tickets.testing.kit import AsyncKitService, async_memory_api, async_memory_service

ROOT = Path(__file__).resolve().parents[2]
KEY = "al_live_fastapi_0001"
DEMO_KEY = "al_live_fastapi_demo"
TEAM = Team("fastapi")
AUTH = {"X-Api-Key": KEY}
INIT = "/v1/characters/uploads/init"


def router(**options: Any) -> tuple[AsyncKitService, UploadTicketsRouter]:
    """A fresh memory service and the router serving it (kit signer: origin http://uploads.test)."""
    service = async_memory_service()
    return service, UploadTicketsRouter(async_memory_api(service, {KEY: TEAM}), **options)


def app_with(uploads: UploadTicketsRouter, prefix: str = "/uploads", **options: Any) -> FastAPI:
    """A user's FastAPI app with the router included under ``prefix`` and two endpoints of its own."""
    app = FastAPI(**options)
    app.include_router(uploads.router, prefix=prefix)

    @app.get("/me")
    async def me(team: Annotated[Team, Depends(uploads.team)]) -> dict[str, str]:
        return {"team": team.id}

    @app.get("/characters/{character_id}/refs")
    async def refs(
        character_id: str,
        team: Annotated[Team, Depends(uploads.team)],
        service: Annotated[AsyncUploadTickets, Depends(uploads.service)],
    ) -> list[str]:
        character = await service.get_character(team, character_id)
        return [ref.upload_id for ref in character.refs]

    return app


def test_the_whole_flow_through_the_test_client() -> None:
    _, uploads = router()
    app = app_with(uploads, exception_handlers=uploads.exception_handlers)
    with TestClient(app) as client:
        minted = answered(client.post(f"/uploads{INIT}", json=PNG_BODY, headers=AUTH), 201)
        upload_id = minted["upload_id"]
        assert minted["upload_url"].startswith(f"http://uploads.test/uploads/uploads/{upload_id}?")
        png = image_bytes("image/png")
        put = client.put(minted["upload_url"], content=png, headers=minted["upload_headers"])
        assert answered(put, 200) == {"upload_id": upload_id, "state": "uploaded", "size": len(png)}
        status = client.get(f"/uploads/v1/characters/uploads/{upload_id}", headers=AUTH)
        assert answered(status, 200)["state"] == "uploaded"
        classified = client.post("/uploads/v1/characters/uploads/classify", json={"upload_id": upload_id}, headers=AUTH)
        assert answered(classified, 200)["content_type"] == "image/png"
        character = answered(client.post("/uploads/v1/characters", json={"upload_ids": [upload_id]}, headers=AUTH), 201)
        assert answered(client.get(f"/uploads/v1/characters/{character['id']}", headers=AUTH), 200) == character
        listed = answered(client.get("/uploads/v1/characters?limit=10", headers=AUTH), 200)
        assert [c["id"] for c in listed["data"]] == [character["id"]]
        # The user's own endpoint, on the router's dependencies.
        assert answered(client.get(f"/characters/{character['id']}/refs", headers=AUTH), 200) == [upload_id]
        # The spec's error bodies, never FastAPI's {"detail": ...} nor its 422.
        twice = client.post("/uploads/v1/characters", json={"upload_ids": [upload_id]}, headers=AUTH)
        assert answered(twice, 409)["error"]["code"] == "upload_consumed"
        malformed = client.post(f"/uploads{INIT}", content=b"{", headers={**AUTH, "Content-Type": "application/json"})
        assert answered(malformed, 400)["error"]["type"] == "invalid_request_error"
        not_an_object = client.post(f"/uploads{INIT}", json=["png"], headers=AUTH)
        assert answered(not_an_object, 400)["error"]["type"] == "invalid_request_error"
        anonymous = client.post(f"/uploads{INIT}", json=PNG_BODY)
        assert answered(anonymous, 401)["error"]["type"] == "authentication_error"
        assert anonymous.headers["WWW-Authenticate"] == 'ApiKey header="X-Api-Key"'
        wrong_method = client.get(f"/uploads{INIT}", headers=AUTH)
        assert answered(wrong_method, 405)["error"]["code"] == "method_not_allowed"
        assert wrong_method.headers["Allow"] == "POST"
        too_big = client.post(f"/uploads{INIT}", content=b"x" * (64 * 1024 + 1), headers=AUTH)
        assert answered(too_big, 413)["error"]["param"] == "Content-Length"
        assert client.delete(f"/uploads/v1/characters/{character['id']}", headers=AUTH).status_code == 204
        gone = client.get(f"/characters/{character['id']}/refs", headers=AUTH)
        assert answered(gone, 404)["error"]["type"] == "invalid_request_error"
        assert answered(client.get("/me"), 401)["error"]["code"] == "missing_api_key"
        assert answered(client.get("/me", headers=AUTH), 200) == {"team": TEAM.id}


def test_without_the_exception_handlers_the_team_dependency_is_a_plain_401() -> None:
    _, uploads = router(sweep="external")
    with TestClient(app_with(uploads)) as client:
        refused = client.get("/me")
        assert answered(refused, 401) == {"detail": "missing X-Api-Key header"}
        assert refused.headers["WWW-Authenticate"] == 'ApiKey header="X-Api-Key"'
        # The router's own routes answer the spec's JSON either way.
        assert answered(client.post(f"/uploads{INIT}", json=PNG_BODY), 401)["error"]["code"] == "missing_api_key"


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_the_operations_are_in_the_apps_own_openapi_with_the_route_tables_schemas() -> None:
    _, uploads = router(sweep="external")
    document = app_with(uploads, prefix="/files").openapi()
    paths = document["paths"]
    ours = {path: operations for path, operations in paths.items() if path.startswith("/files/")}
    assert {(path, method) for path, operations in ours.items() for method in operations} == {
        (f"/files{route.path}", route.method.lower()) for route in uploads.api.routes
    }
    init = paths[f"/files{INIT}"]["post"]
    assert init["operationId"] == "mintUpload"
    request_schema = init["requestBody"]["content"]["application/json"]["schema"]
    assert request_schema["required"] == ["filename", "extension", "content_type"]
    assert request_schema["additionalProperties"] is False
    assert set(init["responses"]) == {"200", "201", "400", "401", "409", "413", "429"}
    assert "upload_url" in init["responses"]["201"]["content"]["application/json"]["schema"]["properties"]
    assert init["responses"]["400"]["content"]["application/json"]["schema"]["required"] == ["error"]
    assert {param["name"] for param in init["parameters"]} == {"X-Api-Version", "Idempotency-Key"}
    assert init["security"] == [{"UploadTicketsApiKey": []}]
    put = paths["/files/uploads/{upload_id}"]["put"]
    assert put["security"] == []
    assert put["requestBody"]["content"]["image/png"]["schema"] == {"type": "string", "format": "binary"}
    assert {param["name"] for param in put["parameters"]} >= {"upload_id", "sig", "exp"}
    delete = paths["/files/v1/characters/{character_id}"]["delete"]
    assert set(delete["responses"]) == {"204", "400", "401", "404", "409"}
    character_list = paths["/files/v1/characters"]["get"]["responses"]["200"]["content"]["application/json"]
    assert character_list["schema"]["properties"]["data"]["items"]["title"] == "Character"
    # Exactly the route table's statuses: FastAPI validates nothing of ours, so it adds no 422 of its own.
    ours_alone = openapi_document(uploads.api, prefix="/files")["paths"]
    for path, operations in ours.items():
        for method, operation in operations.items():
            assert set(operation["responses"]) == set(ours_alone[path][method]["responses"]), (path, method)
    # Every reference resolves in this document.
    for ref in _refs(document):
        assert ref.removeprefix("#/components/schemas/") in document.get("components", {}).get("schemas", {}), ref
    assert document["components"]["securitySchemes"]["UploadTicketsApiKey"]["name"] == "X-Api-Key"


def test_upload_urls_follow_a_nested_prefix_behind_the_servers_root_path() -> None:
    service, uploads = router(sweep="external")
    api = APIRouter(prefix="/api")
    api.include_router(uploads.router, prefix="/media")
    app = FastAPI()
    app.include_router(api)

    @app.post("/mint")
    async def mint(
        team: Annotated[Team, Depends(uploads.team)],
        service: Annotated[AsyncUploadTickets, Depends(uploads.service)],
    ) -> dict[str, str]:
        minted = await service.mint(team, MintRequest("a.png", "png", "image/png"))
        return {"upload_url": minted.upload.url}

    # As under `uvicorn --root-path /edge` behind a proxy that strips /edge.
    with TestClient(app, root_path="/edge") as client:
        # Bound at startup (a mint outside any request gets a URL under the include) ...
        assert uploads.mount.prefix == "/api/media"
        # ... and the first request adds the root path only it can tell.
        # The app's own endpoint, first: its service dependency binds the mount.
        url = answered(client.post("/edge/mint", headers=AUTH), 200)["upload_url"]
        assert isinstance(service.signer, HmacSigner)
        assert service.signer.base_url == "http://uploads.test/edge/api/media/uploads"
        assert urlsplit(url).path.startswith("/edge/api/media/uploads/upl_")
        minted = answered(client.post(f"/edge/api/media{INIT}", json=PNG_BODY, headers=AUTH), 201)
        assert urlsplit(minted["upload_url"]).path == f"/edge/api/media/uploads/{minted['upload_id']}"
        put = client.put(minted["upload_url"], content=image_bytes("image/png"), headers=minted["upload_headers"])
        assert answered(put, 200)["state"] == "uploaded"
    # Reached under another root path, the URLs it minted would lead nowhere: refused, loudly.
    with TestClient(app) as elsewhere:
        refused = elsewhere.post(f"/api/media{INIT}", json=PNG_BODY, headers=AUTH)
        assert "mounted at '/edge/api/media' and at '/api/media'" in answered(refused, 500)["error"]["message"]
    assert "/api/media/uploads/{upload_id}" in app.openapi()["paths"]


def test_included_under_two_prefixes_it_refuses_to_start() -> None:
    _, uploads = router(sweep="external")
    app = FastAPI()
    app.include_router(uploads.router, prefix="/one")
    app.include_router(uploads.router, prefix="/two")
    with pytest.raises(ConfigurationError, match="build one router per mount point"), TestClient(app):
        pass


def test_the_lifespan_sweep_evicts_an_expired_ticket() -> None:
    service, uploads = router(sweep=0.05)
    with TestClient(app_with(uploads)) as client:
        upload_id = answered(client.post(f"/uploads{INIT}", json=PNG_BODY, headers=AUTH), 201)["upload_id"]
        assert client.portal is not None
        assert client.portal.call(service.store.get, TEAM.id, upload_id) is not None
        service.clock.advance(timedelta(days=2))
        deadline = time.monotonic() + 5
        while client.portal.call(service.store.get, TEAM.id, upload_id) is not None:
            assert time.monotonic() < deadline, "the sweep never evicted the expired ticket"
            time.sleep(0.02)
        assert answered(client.get(f"/uploads/v1/characters/uploads/{upload_id}", headers=AUTH), 404)["error"]


def test_without_its_lifespan_it_answers_500_naming_the_fix(caplog: pytest.LogCaptureFixture) -> None:
    _, uploads = router()
    app = app_with(uploads, exception_handlers=uploads.exception_handlers)
    client = TestClient(app)  # no `with`: the lifespan never runs, so nothing would sweep
    with caplog.at_level(logging.ERROR, logger="upload_tickets.fastapi"):
        error = answered(client.post(f"/uploads{INIT}", json=PNG_BODY, headers=AUTH), 500)["error"]
    assert error["code"] == "configuration_error"
    for fix in ("with TestClient(app)", "async with uploads.lifespan(app):", "sweep='external'"):
        assert fix in error["message"]
        assert fix in caplog.text
    # The service dependency of the app's own endpoints refuses the same way.
    refused = client.get("/characters/chr_x/refs", headers=AUTH)
    assert answered(refused, 500)["error"]["message"] == error["message"]
    # Opted out, it needs no lifespan, and binds its upload URLs on its first request.
    _, external = router(sweep="external")
    minted = answered(TestClient(app_with(external)).post(f"/uploads{INIT}", json=PNG_BODY, headers=AUTH), 201)
    assert urlsplit(minted["upload_url"]).path.startswith("/uploads/uploads/upl_")


def test_a_stalled_upload_body_is_cut_off_with_the_spec_408() -> None:
    _, uploads = router(sweep="external", deadlines=BodyDeadlines(idle_s=0.2, grace_s=0.2))
    app = app_with(uploads)

    async def stalled_body() -> AsyncIterator[bytes]:
        yield b"\x89PNG"
        await anyio.sleep(5)
        yield b"never sent"

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://uploads.test") as client:
            minted = answered(await client.post(f"/uploads{INIT}", json=PNG_BODY, headers=AUTH), 201)
            with anyio.fail_after(3):
                put = await client.put(
                    minted["upload_url"],
                    content=stalled_body(),
                    headers={**minted["upload_headers"], "Content-Length": "1000"},
                )
            assert answered(put, 408)["error"]["type"] == "invalid_request_error"
            assert put.headers["Connection"] == "close"
            state = await client.get(f"/uploads/v1/characters/uploads/{minted['upload_id']}", headers=AUTH)
            assert answered(state, 200)["state"] == "minted"

    anyio.run(scenario)


@pytest.fixture(scope="module")
def example() -> Iterator[str]:
    """``./dev example fastapi`` (uvicorn) on a free port; the base URL of the router's prefix."""
    with example_app("fastapi", DEMO_KEY) as url:
        yield url


def test_the_example_under_uvicorn_serves_the_whole_flow(example: str) -> None:
    full_flow(example, {"X-Api-Key": DEMO_KEY})
    origin = example.removesuffix("/uploads")
    paths = answered(httpx.get(f"{origin}/openapi.json"), 200)["paths"]
    assert f"/uploads{INIT}" in paths
    assert "/uploads/uploads/{upload_id}" in paths
    assert answered(httpx.get(f"{origin}/whoami"), 401)["error"]["code"] == "missing_api_key"
    assert answered(httpx.get(f"{origin}/whoami", headers={"X-Api-Key": DEMO_KEY}), 200) == {"team": "demo"}


def test_the_example_mints_while_200_uploads_stall(example: str) -> None:
    mint_while_stalled(example, {"X-Api-Key": DEMO_KEY})
