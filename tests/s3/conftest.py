"""Real S3-compatible servers on free loopback ports, stopped by PID when the session ends.

- ``s3rver``: @20minutes/s3rver 4.0.4, which verifies SigV4 (presigned URLs included) but
  ignores ``x-amz-copy-source-if-match`` and ``If-Match`` on GET.
- ``localstack``: LocalStack 4.6.0's S3, which honours both (and, configured so here,
  verifies SigV4 too). It runs from its own virtualenv, installed on first use.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from anyio.from_thread import BlockingPortal

from tests.s3.servers import (
    BUCKET,
    S3Server,
    close_shared_client,
    install_s3rver,
    s3rver_installed,
    s3rver_running,
)
from tests.s3.support import Flavour
from tests.services import service_down
from upload_tickets.testing import event_loop_thread
from upload_tickets.testing.processes import free_port, running
from upload_tickets_s3 import S3Location

LOCALSTACK = Path(__file__).parent / "localstack"
LOCALSTACK_VENV = Path(__file__).parents[2] / ".venv-localstack"
LOCALSTACK_KEY = "test"  # LocalStack's default account


def _ensure_s3rver() -> None:
    if s3rver_installed():
        return
    try:
        install_s3rver()
    except FileNotFoundError as error:
        service_down(str(error))


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


@pytest.fixture(scope="session", autouse=True)
def _shared_client() -> Iterator[None]:
    yield
    close_shared_client()


@pytest.fixture(scope="session")
def portal() -> Iterator[BlockingPortal]:
    """One event loop, in a thread, for every async S3 test of the session (as an app's loop)."""
    with event_loop_thread() as portal:
        yield portal


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest, portal: BlockingPortal) -> Iterator[Flavour]:
    """Each blob-store flavour in turn; the stores it makes are closed after the test."""
    made = Flavour(request.param, portal)
    yield made
    made.close()


@pytest.fixture(scope="session")
def s3rver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    _ensure_s3rver()
    with s3rver_running(tmp_path_factory.mktemp("s3rver")) as server:
        yield server


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
