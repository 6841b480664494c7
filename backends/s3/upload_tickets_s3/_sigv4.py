"""SigV4 for S3, byte-identical to botocore: presigned PUT URLs, and the headers signing one request.

botocore rebuilds a request object, runs its handler chain and re-derives the signing
key on every call; a signature here is two HMACs and one SHA-256 over strings built
directly, with the signing key cached per (secret, date, region, service) as AWS
recommends. Tests compare every output with ``generate_presigned_url`` and ``S3SigV4Auth``.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Mapping
from urllib.parse import quote, urlsplit

from upload_tickets.backend_kit import HmacSha256

_SAFE = "-_.~"
#: ``x-amz-content-sha256`` of a request without a body.
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@functools.lru_cache(maxsize=256)
def signing_key(secret_key: str, date: str, region: str, service: str) -> HmacSha256:
    """The SigV4 signing key as a ready HMAC (changes once a day per credential)."""
    key = HmacSha256(f"AWS4{secret_key}".encode()).digest(date.encode())
    key = HmacSha256(key).digest(region.encode())
    key = HmacSha256(key).digest(service.encode())
    return HmacSha256(HmacSha256(key).digest(b"aws4_request"))


@functools.lru_cache(maxsize=256)
def _credential(access_key: str, scope: str) -> str:
    return quote(f"{access_key}/{scope}", safe=_SAFE)


@functools.lru_cache(maxsize=4096)
def amz_date(epoch_s: int) -> str:
    """``YYYYMMDDTHHMMSSZ`` for a Unix time (mints within a second share it)."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch_s))


def host_header(url: str) -> str:
    """What botocore signs as ``host`` for ``url``: lower-case, without a default port."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != {"http": 80, "https": 443}.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


def presign_put(
    *,
    origin: str,
    host: str,
    path: str,
    content_type: str,
    access_key: str,
    secret_key: str,
    token: str | None,
    region: str,
    amz_date: str,
    expires_s: int,
) -> str:
    """A presigned S3 PUT URL binding ``content_type``.

    ``origin`` is ``scheme://netloc`` as the URL shows it, ``host`` its :func:`host_header`
    (both fixed per signer), ``path`` the already percent-encoded object path.
    """
    date = amz_date[:8]
    scope = f"{date}/{region}/s3/aws4_request"
    # botocore's order: algorithm, credential, date, expires, signed headers, token.
    query = (
        f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={_credential(access_key, scope)}"
        f"&X-Amz-Date={amz_date}&X-Amz-Expires={expires_s}&X-Amz-SignedHeaders=content-type%3Bhost"
    )
    token_param = "" if token is None else f"&X-Amz-Security-Token={quote(token, safe=_SAFE)}"
    # The canonical query is sorted by name: the token sorts before SignedHeaders.
    canonical_query = (
        query.replace("&X-Amz-SignedHeaders=", f"{token_param}&X-Amz-SignedHeaders=") if token_param else query
    )
    canonical_request = (
        f"PUT\n{path}\n{canonical_query}\n"
        f"content-type:{' '.join(content_type.split())}\nhost:{host}\n\n"
        "content-type;host\nUNSIGNED-PAYLOAD"
    )
    string_to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
    signature = signing_key(secret_key, date, region, "s3").digest(string_to_sign.encode()).hex()
    return f"{origin}{path}?{query}{token_param}&X-Amz-Signature={signature}"


def sign_headers(
    *,
    method: str,
    host: str,
    path: str,
    headers: Mapping[str, str],
    payload_sha256: str,
    access_key: str,
    secret_key: str,
    token: str | None,
    region: str,
    amz_date: str,
) -> dict[str, str]:
    """``headers`` with ``host``, the ``x-amz-*`` SigV4 needs and an ``authorization`` signing them all.

    As botocore's ``S3SigV4Auth`` signs a request carrying exactly ``headers`` (names
    lower-case, every one signed): ``host`` is :func:`host_header`, ``path`` the already
    percent-encoded object path (S3 signs it as sent), ``payload_sha256`` the body's hex
    SHA-256 (:data:`EMPTY_SHA256` without one). No query string: none of our requests has one.
    """
    signed = {**headers, "host": host, "x-amz-content-sha256": payload_sha256, "x-amz-date": amz_date}
    if token:
        signed["x-amz-security-token"] = token
    names = sorted(signed)
    # Header values are signed trimmed, inner runs of whitespace made one space.
    canonical_headers = "".join(f"{name}:{' '.join(signed[name].split())}\n" for name in names)
    signed_names = ";".join(names)
    canonical_request = f"{method}\n{path}\n\n{canonical_headers}\n{signed_names}\n{payload_sha256}"
    date = amz_date[:8]
    scope = f"{date}/{region}/s3/aws4_request"
    string_to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
    signature = signing_key(secret_key, date, region, "s3").digest(string_to_sign.encode()).hex()
    signed["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={signed_names}, Signature={signature}"
    )
    return signed
