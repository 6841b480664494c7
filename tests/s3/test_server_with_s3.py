"""The reference server configured for S3: clients PUT straight to the (signature-checking) bucket."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.s3.support import ACCESS_KEY, BUCKET, SECRET_KEY, S3Server
from tests.server.conftest import cli, start_server
from upload_tickets.testing import image_bytes


def test_full_flow_through_the_server_and_s3(s3rver: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    flags = [
        "--s3-bucket",
        BUCKET,
        "--s3-endpoint",
        s3rver.endpoint,
        "--s3-addressing",
        "path",
        "--sweep-interval",
        "0",
    ]
    server = start_server(tmp_path, *flags)
    try:
        key = cli("keys", "create", "--team", "s3team", "--data-dir", str(tmp_path)).strip()
        headers = {"X-Api-Key": key}
        minted = httpx.post(
            f"{server.base_url}/v1/characters/uploads/init",
            json={"filename": "f.png", "extension": "png", "content_type": "image/png"},
            headers=headers,
        ).json()
        staged = f"uploads/staged/s3team/{minted['upload_id']}"
        assert minted["upload_url"].startswith(f"{s3rver.endpoint}/{BUCKET}/{staged}?X-Amz-")
        put = httpx.put(minted["upload_url"], content=image_bytes("image/png"), headers=minted["upload_headers"])
        assert put.status_code == 200
        classified = httpx.post(
            f"{server.base_url}/v1/characters/uploads/classify",
            json={"upload_id": minted["upload_id"]},
            headers=headers,
        )
        assert classified.status_code == 200, classified.text
        created = httpx.post(
            f"{server.base_url}/v1/characters", json={"upload_ids": [minted["upload_id"]]}, headers=headers
        )
        assert created.status_code == 201, created.text
        # The character's copy is outside the upload prefix; the staged object is gone.
        objects = s3rver.object_keys()
        assert f"characters/s3team/{created.json()['id']}/0" in objects
        assert staged not in objects
        # This server is no upload host when S3 is: a PUT to it is a clear 404.
        assert httpx.put(f"{server.base_url}/uploads/{minted['upload_id']}?x=1", content=b"x").status_code == 404
    finally:
        server.stop()
