"""Real S3-compatible servers on free loopback ports, stopped by PID when the session ends.

- ``s3rver``: @20minutes/s3rver 4.0.4, which verifies SigV4 (presigned URLs included) but
  ignores ``x-amz-copy-source-if-match`` and ``If-Match`` on GET.
- ``localstack``: LocalStack 4.6.0's S3, which honours both (and, configured so here,
  verifies SigV4 too). It runs from its own virtualenv, installed on first use.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.s3.support import ACCESS_KEY, BUCKET, S3Server
from tests.services import service_down
from upload_tickets.testing.processes import free_port, running
from upload_tickets_s3 import S3Location

S3RVER = Path(__file__).parent / "s3rver"
LOCALSTACK = Path(__file__).parent / "localstack"
LOCALSTACK_VENV = Path(__file__).parents[2] / ".venv-localstack"
LOCALSTACK_KEY = "test"  # LocalStack's default account


def _ensure_s3rver() -> None:
    if (S3RVER / "node_modules" / "@20minutes" / "s3rver").exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        service_down("npm is not installed, so s3rver cannot be installed")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=S3RVER, check=True, capture_output=True, timeout=600)


def _localstack_python() -> Path:
    """The interpreter of LocalStack's own virtualenv, (re)installed when its lock changes.

    It lives beside the project's ``.venv``, outside the test tree, so nothing of it is
    ever collected, linted or type-checked with our own code.
    """
    venv = LOCALSTACK_VENV
    python = venv / "bin" / "python"
    lock = LOCALSTACK / "requirements.txt"
    stamp = venv / ".installed"
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == digest:
        return python
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, capture_output=True, timeout=120)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--disable-pip-version-check", "-q", "-r", str(lock)],
        check=True,
        capture_output=True,
        timeout=900,
    )
    stamp.write_text(digest)
    return python


def _answers(url: str) -> Callable[[], bool]:
    def ready() -> bool:
        httpx.get(url, timeout=1)
        return True

    return ready


@pytest.fixture(scope="session")
def s3rver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    _ensure_s3rver()
    port = free_port()
    data = tmp_path_factory.mktemp("s3rver")
    endpoint = f"http://127.0.0.1:{port}"
    command = ["node", str(S3RVER / "serve.js"), "-d", str(data), "-a", "127.0.0.1", "-p", str(port)]
    with running([*command, "--silent", "--configure-bucket", BUCKET], _answers(endpoint), name="s3rver"):
        yield S3Server(endpoint, S3Location(bucket=BUCKET, endpoint_url=endpoint, addressing="path"), ACCESS_KEY)


@pytest.fixture(scope="session")
def localstack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    python = _localstack_python()
    port = free_port()
    root = tmp_path_factory.mktemp("localstack")
    env = {
        **os.environ,
        "GATEWAY_LISTEN": f"127.0.0.1:{port}",
        # Hypercorn binds the address given; LocalStack's default server binds every interface.
        "GATEWAY_SERVER": "hypercorn",
        "SERVICES": "s3",
        "EAGER_SERVICE_LOADING": "1",
        "S3_SKIP_SIGNATURE_VALIDATION": "0",
        # This machine looks like a container to LocalStack, which would then write to
        # /var/lib/localstack and /etc/localstack: keep everything under the test's folder.
        "OVERRIDE_IN_DOCKER": "0",
        "FILESYSTEM_ROOT": str(root / "fs"),
        "XDG_CACHE_HOME": str(root / "cache"),
        "DNS_ADDRESS": "0",
        "SKIP_SSL_CERT_DOWNLOAD": "1",
        "DISABLE_EVENTS": "1",
    }
    endpoint = f"http://127.0.0.1:{port}"

    def s3_is_up() -> bool:
        health = httpx.get(f"{endpoint}/_localstack/health", timeout=1)
        return health.status_code == 200 and health.json()["services"].get("s3") in ("running", "available")

    command = [str(python), str(LOCALSTACK / "serve.py"), str(root / "objects")]
    with running(command, s3_is_up, name="LocalStack", env=env):
        server = S3Server(endpoint, S3Location(bucket=BUCKET, endpoint_url=endpoint, addressing="path"), LOCALSTACK_KEY)
        server.client().create_bucket(Bucket=BUCKET)
        yield server
