"""Starts LocalStack's runtime with S3's object files under the folder given as the only argument.

Run by tests/s3/conftest.py with the interpreter of tests/s3/localstack/.venv; configured by the
environment (GATEWAY_LISTEN, SERVICES, FILESYSTEM_ROOT, ...).
"""

import sys

from localstack.runtime.main import main  # type: ignore[import-not-found]  # LocalStack lives in its own virtualenv
from localstack.services.s3 import provider  # type: ignore[import-not-found]  # LocalStack lives in its own virtualenv

# Else they go to /tmp/localstack-s3-storage, shared by every instance and never removed.
provider.DEFAULT_S3_TMP_DIR = sys.argv[1]
main()
