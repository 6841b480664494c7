"""A real S3-compatible server that verifies SigV4: @20minutes/s3rver 4.0.4 on a free loopback port."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from upload_tickets_s3 import S3Location, s3_client

HERE = Path(__file__).parent / "s3rver"
ACCESS_KEY = SECRET_KEY = "S3RVER"  # s3rver's built-in account
BUCKET = "uploads"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ensure_installed() -> None:
    if (HERE / "node_modules" / "@20minutes" / "s3rver").exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("SERVICE DOWN: npm is not installed, so s3rver cannot be installed")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, capture_output=True, timeout=600)


@attrs.frozen
class S3Server:
    """A running s3rver and how to reach its bucket."""

    endpoint: str
    location: S3Location

    def client(self) -> Any:
        return s3_client(self.location, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)


@pytest.fixture(scope="session")
def s3rver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    _ensure_installed()
    port = _free_port()
    data = tmp_path_factory.mktemp("s3rver")
    process = subprocess.Popen(
        [
            "node",
            str(HERE / "serve.js"),
            "-d",
            str(data),
            "-a",
            "127.0.0.1",
            "-p",
            str(port),
            "--silent",
            "--configure-bucket",
            BUCKET,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(endpoint, timeout=1)
            break
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("s3rver did not start") from None
            time.sleep(0.1)
    yield S3Server(endpoint, S3Location(bucket=BUCKET, endpoint_url=endpoint, addressing="path"))
    process.terminate()
    process.wait(timeout=10)
