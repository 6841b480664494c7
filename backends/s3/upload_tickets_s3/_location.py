"""Where tickets' and characters' bytes live in S3, and how URLs address them."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Literal
from urllib.parse import quote, urlsplit

import attrs

# Bucket names that can go in a host name (lower case, no dots).
_VIRTUAL_HOST_BUCKET = re.compile(r"\A[a-z0-9][a-z0-9-]{1,61}[a-z0-9]\Z")
# Characters quote(..., safe="/~") leaves alone: such keys need no encoding.
_URL_SAFE = re.compile(r"\A[A-Za-z0-9_.~/-]*\Z")
# The core's namespace for the bytes characters own (``characters/<team>/<id>/<n>``).
_CHARACTERS = "characters/"


@attrs.frozen
class S3Location:
    """A bucket, where uploads and characters' bytes go in it, and how to reach them.

    Blob keys map to object keys by namespace: a character's ``characters/<rest>`` is
    ``character_prefix + <rest>``; every other key (staged uploads, ``staged/<team>/<id>``)
    is ``prefix + key``. The two prefixes must not overlap, so a lifecycle rule on
    ``prefix`` (:func:`~upload_tickets_s3.lifecycle_rule`) can never expire a character's bytes.
    """

    bucket: str
    region: str = "us-east-1"
    endpoint_url: str | None = None
    addressing: Literal["path", "virtual"] = "virtual"
    prefix: str = "uploads/"
    character_prefix: str = "characters/"

    @property
    def endpoint(self) -> str:
        """The service endpoint: ``endpoint_url``, else AWS' as botocore picks it for the region."""
        if self.endpoint_url:
            return self.endpoint_url.rstrip("/")
        # botocore keeps the legacy global endpoint for us-east-1.
        return "https://s3.amazonaws.com" if self.region == "us-east-1" else f"https://s3.{self.region}.amazonaws.com"

    def __attrs_post_init__(self) -> None:
        if self.addressing == "virtual" and not _VIRTUAL_HOST_BUCKET.match(self.bucket):
            # A dotted bucket in a host name breaks TLS wildcard certificates.
            raise ValueError(f"bucket {self.bucket!r} cannot be virtual-hosted; use addressing='path'")
        if self.prefix.startswith(self.character_prefix) or self.character_prefix.startswith(self.prefix):
            # An S3 prefix filter matches by string prefix: nested (or empty) prefixes would let
            # the uploads' lifecycle rule expire characters, and two blob keys share an object.
            raise ValueError(f"prefix {self.prefix!r} and character_prefix {self.character_prefix!r} must not overlap")

    @property
    def virtual(self) -> bool:
        """True when the bucket goes in the host name (never on an IP-address endpoint, as botocore)."""
        if self.addressing != "virtual":
            return False
        try:
            ipaddress.ip_address(urlsplit(self.endpoint).hostname or "")
        except ValueError:
            return True
        return False

    def object_key(self, blob_key: str) -> str:
        """The S3 key of a blob: characters' under ``character_prefix``, the rest under ``prefix``."""
        if blob_key.startswith(_CHARACTERS):
            return self.character_prefix + blob_key[len(_CHARACTERS) :]
        return self.prefix + blob_key

    def blob_key(self, object_key: str) -> str | None:
        """The blob key stored at ``object_key`` (inverse of :meth:`object_key`), or ``None`` if none maps there."""
        if object_key.startswith(self.character_prefix):
            return _CHARACTERS + object_key[len(self.character_prefix) :]
        if object_key.startswith(self.prefix):
            key = object_key[len(self.prefix) :]
            return None if key.startswith(_CHARACTERS) else key
        return None

    def origin(self) -> str:
        """``scheme://netloc`` of object URLs."""
        parts = urlsplit(self.endpoint)
        netloc = f"{self.bucket}.{parts.netloc}" if self.virtual else parts.netloc
        return f"{parts.scheme}://{netloc}"

    def path(self, blob_key: str) -> str:
        """The percent-encoded URL path of a blob."""
        key = quote(self.object_key(blob_key), safe="/~")
        base = urlsplit(self.endpoint).path.rstrip("/")
        return f"{base}/{key}" if self.virtual else f"{base}/{self.bucket}/{key}"

    def path_builder(self) -> Callable[[str], str]:
        """:meth:`path` with the fixed part of upload paths worked out once (for the signer's hot path)."""
        fixed = self.path("")

        def build(blob_key: str) -> str:
            if blob_key.startswith(_CHARACTERS):
                return self.path(blob_key)
            return fixed + (blob_key if _URL_SAFE.match(blob_key) else quote(blob_key, safe="/~"))

        return build
