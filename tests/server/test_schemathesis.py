"""A Schemathesis run against the live server's /openapi.json: no 5xx, every response as documented.

The run uses Schemathesis' own command line (its pytest plugin does not yet support
pytest 9); a failed check makes it exit non-zero, and its report is shown on failure.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.server.conftest import cli, start_server

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    ]
)


def test_schemathesis_finds_no_server_error_and_no_schema_violation(tmp_path: Path) -> None:
    # A bucket the fuzzer cannot empty, so it explores the API rather than the 429 (the
    # end-to-end tests cover the limiter).
    server = start_server(tmp_path / "data", "--burst", "1000000", "--rate", "1000000", "--sweep-interval", "0")
    key = cli("keys", "create", "--team", "schemathesis", "--data-dir", str(server.data_dir)).strip()
    try:
        done = _run_schemathesis(server.base_url, key, tmp_path)
    finally:
        server.stop()
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    # The schema is as strict as the API (ids from random generation are simply unknown,
    # which Schemathesis reports as missing test data; the stateful phase follows links).
    assert "Schema validation mismatch" not in done.stdout, done.stdout[-3000:]
    assert "Stateful" in done.stdout
    # It did test every operation (a run that generated nothing must not pass).
    junit = next(tmp_path.rglob("*.xml")).read_text()
    for operation in (
        "POST /v1/characters/uploads/init",
        "PUT /uploads/{upload_id}",
        "POST /v1/characters",
        "POST /v1/characters/uploads/classify",
        "GET /v1/characters/uploads/{upload_id}",
    ):
        assert operation in junit


def _run_schemathesis(base_url: str, key: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{base_url}/openapi.json",
            "--checks",
            CHECKS,
            "--header",
            f"X-Api-Key: {key}",
            "--max-examples",
            "60",
            "--seed",
            "20261129",
            "--generation-deterministic",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
