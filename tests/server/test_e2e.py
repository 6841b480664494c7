"""End to end over real HTTP: uvicorn, SQLite, files, HMAC URLs."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.conftest import RunningServer, cli, start_server
from upload_tickets.testing import image_bytes

INIT = "/v1/characters/uploads/init"
CLASSIFY = "/v1/characters/uploads/classify"
CHARACTERS = "/v1/characters"
PNG_BODY = {"filename": "front.png", "extension": "png", "content_type": "image/png"}


def _post(server: RunningServer, key: str, path: str, body: object, **headers: str) -> httpx.Response:
    return httpx.post(f"{server.base_url}{path}", json=body, headers={"X-Api-Key": key, **headers})


def _mint(server: RunningServer, key: str) -> dict[str, Any]:
    response = _post(server, key, INIT, PNG_BODY)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _put(minted: dict[str, Any], data: bytes, content_type: str | None = "image/png") -> httpx.Response:
    headers = {} if content_type is None else {"Content-Type": content_type}
    return httpx.put(minted["upload_url"], content=data, headers=headers)


def _code(response: httpx.Response) -> str:
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"type", "code", "message", "param"}
    return str(error["code"])


def test_full_flow(server: RunningServer, keys: dict[str, str]) -> None:
    key = keys["alpha"]
    minted = _mint(server, key)
    assert minted["upload_url"].startswith(f"{server.base_url}/uploads/{minted['upload_id']}?")
    assert minted["upload_headers"] == {"Content-Type": "image/png"}
    assert _put(minted, image_bytes("image/png"), content_type=None).status_code == 200
    classified = _post(server, key, CLASSIFY, {"upload_id": minted["upload_id"]})
    assert classified.status_code == 200
    assert classified.json()["width"] == 8
    created = _post(server, key, CHARACTERS, {"upload_ids": [minted["upload_id"]]})
    assert created.status_code == 201
    character = created.json()
    assert character["id"].startswith("chr_")
    assert [ref["upload_id"] for ref in character["refs"]] == [minted["upload_id"]]
    state = httpx.get(f"{server.base_url}/v1/characters/uploads/{minted['upload_id']}", headers={"X-Api-Key": key})
    assert state.json()["state"] == "consumed"
    # Consumed: the URL still verifies, but the bytes can no longer change.
    assert _put(minted, image_bytes("image/png")).status_code == 409


def test_every_error_status(server: RunningServer, keys: dict[str, str]) -> None:
    key = keys["alpha"]
    minted = _mint(server, key)
    upload_id = minted["upload_id"]
    tampered = minted["upload_url"].replace("&sig=", "&sig=x")
    assert (_put({"upload_url": tampered}, b"x").status_code, _code(_put({"upload_url": tampered}, b"x"))) == (
        403,
        "invalid_signature",
    )
    assert _put(minted, b"x", content_type="image/jpeg").status_code == 415
    assert _put(minted, b"x" * 200_001).status_code == 413
    assert _post(server, key, CLASSIFY, {"upload_id": upload_id}).status_code == 409
    assert _post(server, key, CHARACTERS, {"upload_ids": [upload_id]}).status_code == 409
    assert _put(minted, b"not an image").status_code == 200
    unreadable = _post(server, key, CLASSIFY, {"upload_id": upload_id})
    assert (unreadable.status_code, _code(unreadable)) == (422, "image_unreadable")
    assert _post(server, key, CHARACTERS, {"upload_ids": []}).status_code == 400
    assert _post(server, key, CHARACTERS, {"upload_ids": [upload_id] * 7}).status_code == 400
    assert _post(server, key, CHARACTERS, {"generate": True}).status_code == 400
    assert _post(server, key, INIT, {**PNG_BODY, "extension": "jpg"}).status_code == 400
    assert _post(server, key, INIT, PNG_BODY, **{"X-Api-Version": "2019-01-01"}).status_code == 400
    assert _post(server, "al_live_nobody_knows_me", INIT, PNG_BODY).status_code == 401
    assert httpx.post(f"{server.base_url}{INIT}", content=b"{").status_code == 401
    assert _post(server, key, INIT, PNG_BODY, **{"X-Api-Version": "2026-05-15"}).headers["X-Api-Version"] == (
        "2026-05-15"
    )


CLI = (sys.executable, "-m", "upload_tickets_server.cli")


def test_short_ttls_expire_urls_then_tickets(tmp_path: Path) -> None:
    server = start_server(tmp_path, "--upload-url-ttl", "1", "--ticket-ttl", "2", "--sweep-interval", "0")
    try:
        key = cli("keys", "create", "--team", "hasty", "--data-dir", str(tmp_path)).strip()
        late, uploaded = _mint(server, key), _mint(server, key)
        # Both tickets were minted by now, however slowly the server answered under load.
        minted_by = time.time()
        assert _put(uploaded, image_bytes("image/png")).status_code == 200
        # URLs carry whole seconds, rounded up: a 1 s URL ends 1-2 s after its mint.
        url_end = datetime.fromisoformat(late["expires_at"].replace("Z", "+00:00")).timestamp()
        time.sleep(max(0.0, url_end - time.time()) + 0.05)
        expired_url = _put(late, image_bytes("image/png"))
        assert (expired_url.status_code, _code(expired_url)) == (403, "upload_url_expired")
        time.sleep(max(0.0, minted_by + 2.1 - time.time()))
        gone = _post(server, key, CHARACTERS, {"upload_ids": [uploaded["upload_id"]]})
        assert (gone.status_code, _code(gone)) == (410, "upload_expired")
        # No sweeper ran yet (the server's is off): the heartbeat says so, and fails the check.
        never = subprocess.run([*CLI, "sweep", "--status", "--data-dir", str(tmp_path)], capture_output=True, text=True)
        assert (never.returncode, "no sweep has ever finished" in never.stdout) == (1, True), never
        assert "swept 2 expired tickets and 1 blobs" in cli("sweep", "--data-dir", str(tmp_path))
        assert not list((tmp_path / "blobs").rglob("upl_*"))
        beat = cli("sweep", "--status", "--data-dir", str(tmp_path))
        assert "by cli:" in beat
        assert "2 tickets, 1 blobs" in beat
    finally:
        server.stop()


def test_teams_cannot_see_each_others_uploads(server: RunningServer, keys: dict[str, str]) -> None:
    theirs = _mint(server, keys["beta"])
    assert _put(theirs, image_bytes("image/png")).status_code == 200
    mine = keys["gamma"]
    url = f"{server.base_url}/v1/characters/uploads/{theirs['upload_id']}"
    assert httpx.get(url, headers={"X-Api-Key": mine}).status_code == 404
    assert _post(server, mine, CLASSIFY, {"upload_id": theirs["upload_id"]}).status_code == 404
    assert _post(server, mine, CHARACTERS, {"upload_ids": [theirs["upload_id"]]}).status_code == 404
    assert httpx.get(url, headers={"X-Api-Key": keys["beta"]}).json()["state"] == "uploaded"


def test_the_sixty_first_rapid_init_is_refused(server: RunningServer, keys: dict[str, str]) -> None:
    key = keys["limited"]
    with httpx.Client(base_url=server.base_url, headers={"X-Api-Key": key}) as client:
        statuses = [client.post(INIT, json=PNG_BODY).status_code for _ in range(60)]
        refused = client.post(INIT, json=PNG_BODY)
    assert statuses == [201] * 60
    assert refused.status_code == 429
    assert _code(refused) == "rate_limited"
    assert refused.headers["Retry-After"] in ("1", "2")
    assert refused.headers["RateLimit-Policy"] == '"characters_post";q=60;w=120'
    assert refused.headers["RateLimit"].startswith('"characters_post";r=0;t=')


def test_keys_are_stored_hashed(server: RunningServer, keys: dict[str, str]) -> None:
    with sqlite3.connect(server.data_dir / "keys.db") as connection:
        stored = [row[0] for row in connection.execute("SELECT key_hash FROM upload_ticket_api_keys")]
    assert len(stored) >= 4
    assert not any(key in stored for key in keys.values())


def test_first_start_prints_a_walkthrough_that_works(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        deadline = time.monotonic() + 10
        while "KEY=" not in server.printed() or "\n\n" not in server.printed().partition("KEY=")[2]:
            assert time.monotonic() < deadline, server.printed()
            time.sleep(0.05)
        # The walkthrough runs from KEY= to the first blank line, exactly as printed.
        script = "KEY=" + server.printed().partition("KEY=")[2].partition("\n\n")[0]
        done = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.strip().splitlines()
        assert '"upload_id":"upl_' in lines[0]
        assert '"state":"uploaded"' in lines[1]
        assert '"pose":"unknown"' in lines[2]
        assert '"id":"chr_' in lines[3]
    finally:
        server.stop()


@pytest.mark.parametrize("team", ["", "has space", "x" * 65])
def test_keys_create_refuses_bad_team_ids(tmp_path: Path, team: str) -> None:
    with pytest.raises(subprocess.CalledProcessError):
        cli("keys", "create", "--team", team, "--data-dir", str(tmp_path))


def test_characters_keep_their_bytes_over_http(tmp_path: Path) -> None:
    server = start_server(tmp_path, "--ticket-ttl", "2", "--upload-url-ttl", "1", "--sweep-interval", "0")
    try:
        key = cli("keys", "create", "--team", "keeper", "--data-dir", str(tmp_path)).strip()
        kept, dropped = _mint(server, key), _mint(server, key)
        for minted in (kept, dropped):
            assert _put(minted, image_bytes("image/png")).status_code == 200
        created = _post(server, key, CHARACTERS, {"upload_ids": [kept["upload_id"]]})
        assert created.status_code == 201
        character = created.json()
        time.sleep(2.1)
        assert "swept 2 expired tickets and 1 blobs" in cli("sweep", "--data-dir", str(tmp_path))
        url = f"{server.base_url}{CHARACTERS}/{character['id']}"
        assert httpx.get(url, headers={"X-Api-Key": key}).json() == character
        blob = tmp_path / "blobs" / character["refs"][0]["blob_key"]
        stored = [p for p in blob.parent.rglob("*") if p.is_file()]
        assert [p.read_bytes() for p in stored] == [image_bytes("image/png")]
        assert not list((tmp_path / "blobs" / "staged").rglob("upl_*"))
        listed = httpx.get(f"{server.base_url}{CHARACTERS}", headers={"X-Api-Key": key}).json()
        assert [c["id"] for c in listed["data"]] == [character["id"]]
        assert httpx.delete(url, headers={"X-Api-Key": key}).status_code == 204
        assert httpx.get(url, headers={"X-Api-Key": key}).status_code == 404
        assert not [p for p in (tmp_path / "blobs" / "characters").rglob("*") if p.is_file()]
    finally:
        server.stop()
