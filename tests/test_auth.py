"""Bring your own auth: the whole flow with a JWT-bearer resolver and a session-cookie resolver."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from http.cookies import SimpleCookie

import pytest

from tests.support import put
from upload_tickets import Team, Unauthenticated
from upload_tickets.auth import RequestContext
from upload_tickets.http import HttpApi
from upload_tickets.memory import MemoryTeamDirectory
from upload_tickets.testing import image_bytes
from upload_tickets.testing.kit import memory_api

JWT_SECRET = b"an-app-secret-of-the-embedding-app!"


class BearerJwtResolver:
    """HS256 JWTs in ``Authorization: Bearer``; the team is the ``team`` claim."""

    def resolve(self, request: RequestContext) -> Team:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        header, _, rest = token.partition(".")
        payload, _, signature = rest.partition(".")
        expected = hmac.new(JWT_SECRET, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        if scheme != "Bearer" or not hmac.compare_digest(_b64(expected), signature):
            raise Unauthenticated("a valid bearer token is required", code="invalid_token", challenge="Bearer")
        return Team(json.loads(base64.urlsafe_b64decode(payload + "==="))["team"])


class SessionCookieResolver:
    """A session id in a cookie, looked up in the app's own session store."""

    def __init__(self, sessions: dict[str, str]) -> None:
        self.sessions = sessions

    def resolve(self, request: RequestContext) -> Team:
        morsel = SimpleCookie(request.headers.get("cookie", "")).get("session")
        team = self.sessions.get(morsel.value) if morsel else None
        if team is None:
            raise Unauthenticated("log in first", code="no_session", challenge='Cookie name="session"')
        return Team(team)


class ClientCertificateResolver:
    """mTLS: the team is the client certificate's subject, from the ASGI ``tls`` extension."""

    def resolve(self, request: RequestContext) -> Team:
        tls = request.transport.get("tls")
        if not isinstance(tls, dict) or not tls.get("client_cert_name"):
            raise Unauthenticated("a client certificate is required", code="no_client_certificate")
        return Team(str(tls["client_cert_name"]).removeprefix("CN="))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_for(team: str) -> str:
    header, payload = _b64(b'{"alg":"HS256","typ":"JWT"}'), _b64(json.dumps({"team": team}).encode())
    signature = hmac.new(JWT_SECRET, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def full_flow(api: HttpApi, auth: dict[str, str], transport: dict[str, object] | None = None) -> None:
    def call(method: str, path: str, body: object = None) -> dict[str, object]:
        payload = b"" if body is None else json.dumps(body).encode()
        response = api.handle(method, path, "", auth, payload, transport)
        assert response.status in (200, 201), response.json()
        answer: dict[str, object] = response.json()
        return answer

    minted = call(
        "POST", "/v1/characters/uploads/init", {"filename": "a.png", "extension": "png", "content_type": "image/png"}
    )
    assert put(api, minted["upload_url"], image_bytes("image/png")).status == 200
    created = call("POST", "/v1/characters", {"upload_ids": [minted["upload_id"]]})
    assert call("GET", f"/v1/characters/{created['id']}")["id"] == created["id"]


def test_a_jwt_bearer_resolver_runs_the_whole_flow() -> None:
    api = memory_api(teams=BearerJwtResolver())
    full_flow(api, {"authorization": f"Bearer {jwt_for('acme')}"})
    forged = api.handle("GET", "/v1/characters", "", {"authorization": f"Bearer {jwt_for('acme')}x"}, b"")
    assert (forged.status, forged.json()["error"]["code"]) == (401, "invalid_token")
    assert forged.header("WWW-Authenticate") == "Bearer"


def test_a_session_cookie_resolver_runs_the_whole_flow() -> None:
    api = memory_api(teams=SessionCookieResolver({"s3cr3t": "acme"}))
    full_flow(api, {"cookie": "theme=dark; session=s3cr3t"})
    missing = api.handle("GET", "/v1/characters", "", {"cookie": "session=stale"}, b"")
    assert (missing.status, missing.json()["error"]["code"]) == (401, "no_session")


def test_a_client_certificate_resolver_reads_the_transport() -> None:
    api = memory_api(teams=ClientCertificateResolver())
    full_flow(api, {}, {"tls": {"client_cert_name": "CN=acme"}})
    assert api.handle("GET", "/v1/characters", "", {}, b"").status == 401


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "al_live_unknown_key_99"}, {"x-api-key": "a-jwt"}])
def test_the_default_resolver_is_the_api_key_directory(headers: dict[str, str]) -> None:
    refused = memory_api(teams={"al_live_known_key_0001": Team("k")}).handle("GET", "/v1/characters", "", headers, b"")
    assert refused.status == 401
    assert refused.header("WWW-Authenticate") == 'ApiKey header="X-Api-Key"'


def test_a_revoked_key_is_refused_on_the_next_request() -> None:
    directory = MemoryTeamDirectory({"al_live_revoke_me_0001": Team("k")})
    api = memory_api(teams=directory)
    headers = {"x-api-key": "al_live_revoke_me_0001"}
    assert api.handle("GET", "/v1/characters", "", headers, b"").status == 200
    assert directory.revoke("al_live_revoke_me_0001") is True
    assert api.handle("GET", "/v1/characters", "", headers, b"").status == 401
    assert directory.revoke("al_live_revoke_me_0001") is False
