"""The S3 README's Python blocks run as written, against LocalStack (s3rver has no lifecycle rules)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.s3.support import S3Server
from tests.test_readme import python_blocks, run_block


@pytest.mark.parametrize(("where", "code"), python_blocks("backends/s3/README.md"))
def test_s3_readme_block_runs(
    where: str, code: str, localstack: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "UPLOADS_BUCKET": localstack.location.bucket,
        "AWS_ENDPOINT_URL_S3": localstack.endpoint,
        "AWS_ACCESS_KEY_ID": localstack.key,
        "AWS_SECRET_ACCESS_KEY": localstack.key,
    }.items():
        monkeypatch.setenv(name, value)
    namespace = run_block(code, "readme_s3")
    if "client" in namespace:  # the sync block, which installs the lifecycle rule
        rules = namespace["client"].get_bucket_lifecycle_configuration(Bucket=localstack.location.bucket)["Rules"]
        assert any(rule["Filter"].get("Prefix") == namespace["location"].prefix for rule in rules)
        assert namespace["blobs"].client.is_closed
    else:
        assert "AsyncS3BlobStore" in code
