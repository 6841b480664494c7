"""Signed upload URLs for our own upload host: HMAC-SHA256 and Ed25519.

A URL binds the upload id (in the path), the owning team (base64url, so the upload host
can address the ticket without an API key), the method, the content type, the expiry
(Unix seconds) and the byte cap; ``kid`` names the key so keys can rotate: several keys
verify, one signs. The query string is parsed strictly (each field exactly once, no
percent-encoding) and the signature is compared in its encoded form in constant time,
so no two spellings of a URL share one signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping
from types import MappingProxyType
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from upload_tickets._errors import ConfigurationError, SignatureInvalid, UploadUrlExpired
from upload_tickets._models import SignedUpload, UploadTicket, VerifiedPut
from upload_tickets._policy import SECOND_US
from upload_tickets._rules import CONTENT_TYPES

_FIELDS = ("exp", "ct", "max", "tm", "kid", "sig")
_FIELD_SHAPES = {
    "exp": re.compile(r"\A[1-9][0-9]{0,11}\Z"),
    "ct": re.compile(r"\Aimage/[a-z]{3,4}\Z"),
    "max": re.compile(r"\A[1-9][0-9]{0,15}\Z"),
    "tm": re.compile(r"\A[A-Za-z0-9_-]{2,344}\Z"),
    "kid": re.compile(r"\A[A-Za-z0-9_-]{1,32}\Z"),
    "sig": re.compile(r"\A[A-Za-z0-9_-]{16,128}\Z"),
}
_KID_RE = _FIELD_SHAPES["kid"]
# Shared read-only header maps: building a dict per mint is measurable on the hot path.
_HEADERS = {content_type: MappingProxyType({"Content-Type": content_type}) for content_type in CONTENT_TYPES}


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64(data: bytes) -> str:
    # base64.urlsafe_b64encode makes this same call behind two more Python calls: about 20% slower here.
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class _HmacSha256:
    """HMAC-SHA256 (RFC 2104) with the key's inner and outer pad states hashed once.

    ``hmac.digest`` re-derives both pads on every call; copying two prepared SHA-256
    states is about 2.5x cheaper, and signing sits on the mint hot path.
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        key = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(key.translate(_IPAD))
        self._outer = hashlib.sha256(key.translate(_OPAD))

    def digest(self, message: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()


_IPAD = bytes(byte ^ 0x36 for byte in range(256))
_OPAD = bytes(byte ^ 0x5C for byte in range(256))


def _message(upload_id: str, team: str, content_type: str, exp: int, max_bytes: int, kid: str) -> bytes:
    return f"PUT\n{upload_id}\n{team}\n{content_type}\n{exp}\n{max_bytes}\n{kid}".encode()


def _decode_team(encoded: str) -> str:
    try:
        team = _unb64(encoded).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise SignatureInvalid("the upload URL is malformed") from None
    # One spelling per team, as for signatures.
    if _b64(team.encode()) != encoded:
        raise SignatureInvalid("the upload URL is malformed")
    return team


def _parse_query(query: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in query.split("&"):
        name, sep, value = part.partition("=")
        shape = _FIELD_SHAPES.get(name)
        if not sep or shape is None or name in fields or not shape.match(value):
            raise SignatureInvalid("the upload URL is malformed", code="invalid_signature")
        fields[name] = value
    # In the one order the signer writes: no two spellings of a URL verify.
    if tuple(fields) != _FIELDS:
        raise SignatureInvalid("the upload URL is malformed", code="invalid_signature")
    return fields


class _LocalUrlSigner:
    """URL layout and verification shared by the HMAC and Ed25519 signers."""

    def __init__(self, base_url: str, kid: str | None) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ConfigurationError(f"base_url must be an absolute http(s) URL without query: {base_url!r}")
        if kid is not None and not _KID_RE.match(kid):
            raise ConfigurationError(f"key id must match {_KID_RE.pattern}: {kid!r}")
        self.base_url = base_url.rstrip("/")
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._kid = kid

    def serve_at(self, path: str, *, unmounted: str = "") -> None:
        """Point upload URLs at ``path`` on the base URL's origin: where an adapter mounted the upload host.

        The framework adapters call it once they know their mount point, so the path is
        never repeated by hand. The base URL may name only the origin, or ``unmounted``
        (the upload host's path at the root, ``HttpApi.upload_path``), or ``path`` itself;
        any other path is a configuration error: the URLs would lead nowhere.
        """
        wanted = path.rstrip("/")
        current = self.base_url[len(self._origin) :]
        if current not in ("", wanted, unmounted.rstrip("/")):
            raise ConfigurationError(
                f"the upload host is mounted at {wanted!r} but the signer's base_url is {self.base_url!r}:"
                f" give the signer only the origin ({self._origin!r}) and the adapter fills in the path"
            )
        self.base_url = f"{self._origin}{wanted}"

    def sign_put(self, ticket: UploadTicket) -> SignedUpload:
        """Sign a PUT of ``ticket``'s bytes; deterministic for a given ticket and key."""
        if self._kid is None:
            raise TypeError(f"{type(self).__name__} holds no signing key")
        exp = ticket.url_expires_at // SECOND_US
        message = _message(ticket.id, ticket.team, ticket.content_type, exp, ticket.max_bytes, self._kid)
        url = (
            f"{self.base_url}/{ticket.id}?exp={exp}&ct={ticket.content_type}&max={ticket.max_bytes}"
            f"&tm={_b64(ticket.team.encode())}&kid={self._kid}&sig={self._sign(message)}"
        )
        return SignedUpload(url=url, headers=_HEADERS[ticket.content_type], expires_at=exp * SECOND_US)

    def verify_put(self, upload_id: str, query: str, now_us: int) -> VerifiedPut:
        """Check the raw query string of a PUT to ``upload_id``."""
        fields = _parse_query(query)
        content_type = fields["ct"]
        if content_type not in CONTENT_TYPES:
            raise SignatureInvalid("the upload URL is malformed", code="invalid_signature")
        exp, max_bytes, kid = int(fields["exp"]), int(fields["max"]), fields["kid"]
        team = _decode_team(fields["tm"])
        message = _message(upload_id, team, content_type, exp, max_bytes, kid)
        if not self._verify(kid, message, fields["sig"]):
            raise SignatureInvalid("the upload URL signature does not match")
        # Expiry is checked only after the signature, so a forged exp learns nothing.
        if now_us >= exp * SECOND_US:
            raise UploadUrlExpired("the upload URL has expired; mint a new one")
        return VerifiedPut(
            upload_id=upload_id, team=team, content_type=content_type, max_bytes=max_bytes, expires_at=exp * SECOND_US
        )

    def _sign(self, message: bytes) -> str:
        raise NotImplementedError

    def _verify(self, kid: str, message: bytes, signature: str) -> bool:
        raise NotImplementedError


class HmacSigner(_LocalUrlSigner):
    """HMAC-SHA256 URLs: ``keys`` maps key ids to secrets; ``signing_kid`` picks the one that signs."""

    def __init__(self, base_url: str, keys: Mapping[str, bytes], signing_kid: str) -> None:
        super().__init__(base_url, signing_kid)
        if signing_kid not in keys:
            raise ConfigurationError(f"signing key id {signing_kid!r} is not among the keys")
        for kid, secret in keys.items():
            if not _KID_RE.match(kid):
                raise ConfigurationError(f"key id must match {_KID_RE.pattern}: {kid!r}")
            if not isinstance(secret, bytes | bytearray):
                raise ConfigurationError(
                    f"HMAC key {kid!r} must be bytes, got {type(secret).__name__}: "
                    "use os.urandom(32) or bytes.fromhex(...) rather than a text password"
                )
            if len(secret) < 32:
                raise ConfigurationError(
                    f"HMAC key {kid!r} must be at least 32 bytes (os.urandom(32)), not {len(secret)}"
                )
        self._keys = {kid: _HmacSha256(secret) for kid, secret in keys.items()}
        self._signing_key = self._keys[signing_kid]

    def _sign(self, message: bytes) -> str:
        return _b64(self._signing_key.digest(message))

    def _verify(self, kid: str, message: bytes, signature: str) -> bool:
        key = self._keys.get(kid)
        if key is None:
            return False
        return hmac.compare_digest(_b64(key.digest(message)), signature)


class Ed25519Signer(_LocalUrlSigner):
    """Ed25519 URLs: the app signs with the private key; an upload host needs only public keys.

    Give ``private_key`` to sign (its public key also verifies); give ``public_keys``
    (key id -> public key) to verify, e.g. on a separate upload host or during rotation.
    """

    def __init__(
        self,
        base_url: str,
        *,
        private_key: Ed25519PrivateKey | None = None,
        kid: str | None = None,
        public_keys: Mapping[str, Ed25519PublicKey] | None = None,
    ) -> None:
        if (private_key is None) != (kid is None):
            raise ConfigurationError("give private_key and kid together")
        super().__init__(base_url, kid)
        self._private_key = private_key
        self._public_keys = dict(public_keys or {})
        if private_key is not None and kid is not None:
            self._public_keys.setdefault(kid, private_key.public_key())
        if not self._public_keys:
            raise ConfigurationError("an Ed25519Signer needs a private key or public keys")

    def _sign(self, message: bytes) -> str:
        assert self._private_key is not None  # sign_put checked that a signing key exists
        return _b64(self._private_key.sign(message))

    def _verify(self, kid: str, message: bytes, signature: str) -> bool:
        public_key = self._public_keys.get(kid)
        if public_key is None:
            return False
        # 64 bytes are exactly 86 base64url characters; anything else is not a signature.
        if len(signature) != 86:
            return False
        raw = _unb64(signature)
        # Refuse non-canonical base64 (spare trailing bits) so one signature has one spelling.
        if _b64(raw) != signature:
            return False
        try:
            public_key.verify(raw, message)
        except InvalidSignature:
            return False
        return True
