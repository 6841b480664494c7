"""Constants and helpers shared by the test modules."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from hypothesis import settings

from upload_tickets import (
    HmacSigner,
    ManualClock,
    MemoryBlobStore,
    MemoryRateLimiter,
    MemoryTeamDirectory,
    MemoryTicketStore,
    Team,
    UploadTickets,
)
from upload_tickets.http import HttpApi, HttpResponse
from upload_tickets.testing import START_US, service_state_machine

API_KEY_A = "al_live_team_a_key_0001"
API_KEY_B = "al_live_team_b_key_0002"
TEAM_A = Team("team_a")
TEAM_B = Team("team_b", pinned_version="2026-05-15")
SIGNING_KEYS = {"k1": b"k1-secret-" * 4, "k0": b"k0-secret-" * 4}


def make_signer() -> HmacSigner:
    """The local signer the tests use."""
    return HmacSigner("http://127.0.0.1:8000/uploads", SIGNING_KEYS, "k1")


def make_service(clock: ManualClock) -> UploadTickets:
    """A service on fresh memory backends."""
    return UploadTickets(
        store=MemoryTicketStore(),
        limiter=MemoryRateLimiter(clock),
        signer=make_signer(),
        blobs=MemoryBlobStore(),
        clock=clock,
    )


def make_api(clock: ManualClock | None = None) -> HttpApi:
    """An HTTP API on fresh memory backends, with teams A and B."""
    service = make_service(clock or ManualClock(START_US))
    return HttpApi(service, MemoryTeamDirectory({API_KEY_A: TEAM_A, API_KEY_B: TEAM_B}))


def post(api: HttpApi, path: str, payload: object, key: str = API_KEY_A, **headers: str) -> HttpResponse:
    """POST a JSON body with an API key."""
    all_headers = {"x-api-key": key, **{name.replace("_", "-").lower(): value for name, value in headers.items()}}
    return api.handle("POST", path, "", all_headers, json.dumps(payload).encode())


def mint(api: HttpApi, content_type: str = "image/png", key: str = API_KEY_A) -> dict[str, object]:
    """Mint through HTTP and return the 201 body."""
    extension = content_type.partition("/")[2]
    response = post(
        api,
        "/v1/characters/uploads/init",
        {"filename": f"f.{extension}", "extension": extension, "content_type": content_type},
        key,
    )
    assert response.status == 201, response.json()
    body = response.json()
    assert isinstance(body, dict)
    return body


def put(api: HttpApi, upload_url: object, data: bytes, content_type: str | None = None) -> HttpResponse:
    """PUT bytes to a signed upload URL through the HTTP mapping."""
    assert isinstance(upload_url, str)
    url = urlsplit(upload_url)
    headers = {} if content_type is None else {"content-type": content_type}
    return api.handle("PUT", url.path, url.query, headers, data)


def run_state_machine(backend: Any) -> None:
    """Run the exported state machine (200 examples x 50 steps) on a backend that is store and limiter.

    The backend's tables or keys are emptied before each example (it must have ``clear()``);
    its limiter keeps its own clock, so rate-limit refusals are allowed but not predicted.
    """

    def make_service(clock: ManualClock) -> UploadTickets:
        backend.clear()
        return UploadTickets(
            store=backend,
            limiter=backend,
            signer=make_signer(),
            blobs=MemoryBlobStore(),
            clock=clock,
            max_upload_bytes=4096,
        )

    machine = service_state_machine(make_service, exact_rate_limit=False)
    machine.TestCase.settings = settings(max_examples=200, stateful_step_count=50, deadline=None)
    machine.TestCase("runTest").runTest()
