"""The Flask blueprint: the whole flow through Flask's test client and the example under waitress.

Also: bodies are read from ``request.stream`` in pieces, upload URLs follow the
url_prefix (and ``APPLICATION_ROOT`` under a WSGI dispatcher), the sweep thread evicts
expired tickets, ``flask upload-tickets sweep`` runs one sweep and reports on the last,
and a wrong setup fails loudly with its fix.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.test import Client

from tests.integrations.support import example_app, full_flow, mint_while_stalled
from upload_tickets import ConfigurationError, MintRequest, Team
from upload_tickets.integrations._body import CHUNK_BYTES
from upload_tickets.integrations.flask import UploadTicketsBlueprint
from upload_tickets.sweeping import Sweep, Sweeper
from upload_tickets.testing import image_bytes
from upload_tickets.testing.kit import KitService, async_memory_api, memory_api, memory_service

REPO = Path(__file__).resolve().parents[2]
KEY = "al_live_flask_tests_0001"
TEAM = Team("flask")
AUTH = {"X-Api-Key": KEY}
INIT = "/v1/characters/uploads/init"
PNG = {"filename": "front.png", "extension": "png", "content_type": "image/png"}


def _app(
    service: KitService, url_prefix: str = "/uploads", sweep: Sweep = "external", root: str = "/"
) -> tuple[Flask, UploadTicketsBlueprint]:
    app = Flask(__name__)
    app.config["APPLICATION_ROOT"] = root
    uploads = UploadTicketsBlueprint(memory_api(service, {KEY: TEAM}), sweep=sweep)
    app.register_blueprint(uploads, url_prefix=url_prefix)
    return app, uploads


def _mint(client: FlaskClient | Client, path: str = "/uploads") -> dict[str, Any]:
    response = client.post(f"{path}{INIT}", json=PNG, headers=AUTH)
    assert response.status_code == 201, response.get_data(as_text=True)
    minted: dict[str, Any] = response.get_json()
    return minted


def _error(response: Any, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.headers["Content-Type"] == "application/json"
    error = response.get_json()["error"]
    assert set(error) == {"type", "code", "message", "param"}
    return str(error["code"])


def test_the_whole_flow_through_flasks_test_client() -> None:
    app, _ = _app(memory_service())
    client = app.test_client()
    minted = _mint(client)
    assert minted["upload_url"].startswith("http://uploads.test/uploads/uploads/")
    png = image_bytes("image/png")
    put = client.put(minted["upload_url"], data=png, headers=minted["upload_headers"])
    assert put.status_code == 200
    assert put.get_json()["size"] == len(png)
    upload_id = minted["upload_id"]
    status = client.get(f"/uploads/v1/characters/uploads/{upload_id}", headers=AUTH)
    assert status.get_json()["state"] == "uploaded"
    classify = client.post("/uploads/v1/characters/uploads/classify", json={"upload_id": upload_id}, headers=AUTH)
    assert classify.status_code == 200
    assert classify.get_json()["content_type"] == "image/png"
    created = client.post("/uploads/v1/characters", json={"upload_ids": [upload_id]}, headers=AUTH)
    assert created.status_code == 201
    character = created.get_json()
    assert client.get(f"/uploads/v1/characters/{character['id']}", headers=AUTH).get_json() == character
    assert [c["id"] for c in client.get("/uploads/v1/characters", headers=AUTH).get_json()["data"]] == [character["id"]]
    again = client.post("/uploads/v1/characters", json={"upload_ids": [upload_id]}, headers=AUTH)
    assert _error(again, 409) == "upload_consumed"
    assert client.delete(f"/uploads/v1/characters/{character['id']}", headers=AUTH).status_code == 204
    assert _error(client.get(f"/uploads/v1/characters/{character['id']}", headers=AUTH), 404) == "character_not_found"

    # Every error below the prefix is the spec's JSON, never Flask's HTML.
    malformed = client.post(f"/uploads{INIT}", data=b"{", content_type="application/json", headers=AUTH)
    assert _error(malformed, 400) == "invalid_json"
    assert _error(client.post(f"/uploads{INIT}", json=PNG), 401) == "missing_api_key"
    assert _error(client.get("/uploads/v1/nowhere", headers=AUTH), 404) == "route_not_found"
    assert _error(client.get(f"/uploads{INIT}", headers=AUTH), 405) == "method_not_allowed"
    assert _error(client.options(f"/uploads{INIT}"), 405) == "method_not_allowed"
    assert client.get("/uploads/healthz").get_json() == {"status": "ok"}
    assert _error(client.post("/uploads/healthz"), 405) == "method_not_allowed"
    assert f"/uploads{INIT}" in client.get("/uploads/openapi.json").get_json()["paths"]


class CountingStream(io.BytesIO):
    """A request body that records the size of every read the app makes."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads: list[int | None] = []

    def read(self, size: int | None = -1, /) -> bytes:
        self.reads.append(size)
        return super().read(size)

    def readinto(self, buffer: Any, /) -> int:
        self.reads.append(len(buffer))
        return super().readinto(buffer)


def test_a_put_is_read_from_request_stream_in_pieces_and_a_refused_one_not_at_all() -> None:
    service = memory_service()
    app, _ = _app(service)
    client = app.test_client()
    minted = _mint(client)
    body = CountingStream(b"\x89PNG" + bytes(300_000))
    length = len(body.getvalue())
    put = client.put(minted["upload_url"], input_stream=body, content_type="image/png", content_length=length)
    assert put.status_code == 200
    assert put.get_json()["size"] == 300_004
    assert len(body.reads) >= 5
    assert all(size is not None and 0 < size <= CHUNK_BYTES for size in body.reads), body.reads

    refused = CountingStream(b"x" * 1000)
    url = _mint(client)["upload_url"]
    declared = {"CONTENT_LENGTH": str(10**9)}  # werkzeug would measure the stream
    too_large = client.put(url, input_stream=refused, content_type="image/png", environ_overrides=declared)
    assert _error(too_large, 413) == "payload_too_large"
    assert refused.reads == []

    # The app's own MAX_CONTENT_LENGTH still holds, answered as the spec's 413.
    app.config["MAX_CONTENT_LENGTH"] = 100
    capped = client.put(_mint(client)["upload_url"], data=bytes(1000), headers={"Content-Type": "image/png"})
    assert _error(capped, 413) == "payload_too_large"


def test_upload_urls_follow_the_url_prefix_and_the_application_root() -> None:
    app, _ = _app(memory_service(), url_prefix="/files/v2/")
    client = app.test_client()
    minted = _mint(client, "/files/v2")
    assert minted["upload_url"].startswith("http://uploads.test/files/v2/uploads/upl_")
    put = client.put(minted["upload_url"], data=image_bytes("image/png"), headers=minted["upload_headers"])
    assert put.status_code == 200
    paths = client.get("/files/v2/openapi.json").get_json()["paths"]
    assert "/files/v2/uploads/{upload_id}" in paths

    # Under a WSGI dispatcher, APPLICATION_ROOT names the mount: the URLs lead there.
    app, _ = _app(memory_service(), root="/api")
    outer = Client(DispatcherMiddleware(Flask("outer"), {"/api": app}))
    minted = _mint(outer, "/api/uploads")
    assert minted["upload_url"].startswith("http://uploads.test/api/uploads/uploads/upl_")
    put = outer.put(minted["upload_url"], data=image_bytes("image/png"), headers=minted["upload_headers"])
    assert put.status_code == 200


def test_a_mount_the_upload_urls_do_not_lead_to_is_loud(caplog: pytest.LogCaptureFixture) -> None:
    app, _ = _app(memory_service())  # APPLICATION_ROOT left at "/"
    outer = Client(DispatcherMiddleware(Flask("outer"), {"/api": app}))
    with caplog.at_level(logging.ERROR, logger="upload_tickets.flask"):
        response = outer.post(f"/api/uploads{INIT}", json=PNG, headers=AUTH)
    assert response.status_code == 500
    error = response.get_json()["error"]
    assert error["code"] == "configuration_error"
    # A 500's message stays in the log, with the fix.
    assert "set app.config['APPLICATION_ROOT'] = '/api' before app.register_blueprint" in caplog.text

    # One blueprint, one mount point: a second prefix is refused at registration.
    other = Flask("other")
    with pytest.raises(ConfigurationError, match="one adapter per mount point"):
        other.register_blueprint(_app(memory_service())[1], url_prefix="/elsewhere")


def test_the_sweep_thread_evicts_expired_tickets() -> None:
    service = memory_service()
    app, uploads = _app(service, sweep=0.05)
    assert uploads.sweeping is not None
    minted = service.mint(TEAM, MintRequest("a.png", "png", "image/png"))
    service.clock.advance(timedelta(days=2))
    try:
        # The first request this process serves starts the thread.
        assert app.test_client().get("/uploads/healthz").status_code == 200
        deadline = time.monotonic() + 5
        while service.store.get(TEAM.id, minted.ticket.id) is not None:
            assert time.monotonic() < deadline, "the sweep thread never evicted the expired ticket"
            time.sleep(0.02)
    finally:
        uploads.sweeping.stop(timeout=5)
    beat = Sweeper(service).last_sweep()
    assert beat is not None
    assert beat.tickets >= 1


@pytest.mark.parametrize("sweep", [0, -1, "never", True])
def test_a_sweep_that_is_neither_seconds_nor_external_fails_at_construction(sweep: Any) -> None:
    with pytest.raises(ConfigurationError, match="'external'"):
        UploadTicketsBlueprint(memory_api(), sweep=sweep)


def test_an_async_api_is_refused_with_the_fix() -> None:
    with pytest.raises(ConfigurationError, match="sync HttpApi"):
        UploadTicketsBlueprint(async_memory_api())  # type: ignore[arg-type]


def test_flask_upload_tickets_sweep_and_its_status() -> None:
    service = memory_service()
    app, _ = _app(service, sweep="external")
    cli = app.test_cli_runner()
    never = cli.invoke(args=["upload-tickets", "sweep", "--status"])
    assert never.exit_code == 1
    assert "no sweep has ever finished" in never.output

    minted = service.mint(TEAM, MintRequest("a.png", "png", "image/png"))
    service.clock.advance(timedelta(days=2))
    swept = cli.invoke(args=["upload-tickets", "sweep"])
    assert swept.exit_code == 0, swept.output
    assert "swept 1 expired tickets" in swept.output
    assert service.store.get(TEAM.id, minted.ticket.id) is None
    # The lease is given back: the next cron run (another holder) sweeps at once.
    assert "swept 0 expired tickets" in cli.invoke(args=["upload-tickets", "sweep"]).output

    fresh = cli.invoke(args=["upload-tickets", "sweep", "--status"])
    assert fresh.exit_code == 0
    assert "0 tickets" in fresh.output
    service.clock.advance(timedelta(minutes=3))
    stale = cli.invoke(args=["upload-tickets", "sweep", "--status"])
    assert stale.exit_code == 1
    assert "stale" in stale.output
    assert cli.invoke(args=["upload-tickets", "sweep", "--status", "--max-age", "3600"]).exit_code == 0


@pytest.fixture(scope="module")
def example() -> Iterator[str]:
    with example_app("flask", KEY) as url:
        yield url


def test_the_example_under_waitress_runs_the_full_flow(example: str) -> None:
    full_flow(example, AUTH)


def test_the_example_under_waitress_mints_while_200_uploads_stall(example: str) -> None:
    mint_while_stalled(example, AUTH)
