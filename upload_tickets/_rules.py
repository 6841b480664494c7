"""Every validation rule of the spec, in one place.

Parsers take decoded JSON (``object``) or raw header values and return validated models,
or raise :class:`InvalidRequest` / :class:`Unauthenticated` naming the ``param`` at fault.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from urllib.parse import quote

from upload_tickets._errors import InvalidRequest, NotSupported, Unauthenticated
from upload_tickets._models import MintRequest, Team

DEFAULT_API_VERSION = "2026-05-15"
KNOWN_API_VERSIONS = frozenset({DEFAULT_API_VERSION})

CONTENT_TYPE_BY_EXTENSION: Mapping[str, str] = {
    "jpeg": "image/jpeg",
    "jpg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
}
CONTENT_TYPES = frozenset(CONTENT_TYPE_BY_EXTENSION.values())

FILENAME_MAX_CHARS = 120
MAX_UPLOADS_PER_CHARACTER = 6
API_KEY_PREFIX = "al_live_"

_VERSION_RE = re.compile(r"\A\d{4}-\d{2}-\d{2}\Z")
_API_KEY_RE = re.compile(r"\Aal_live_[A-Za-z0-9_-]{8,128}\Z")
UPLOAD_ID_RE = re.compile(r"\Aupl_[0-9A-HJKMNP-TV-Z]{26}\Z")
CHARACTER_ID_RE = re.compile(r"\Achr_[0-9A-HJKMNP-TV-Z]{26}\Z")
_IDEMPOTENCY_KEY_RE = re.compile(r"\A[\x21-\x7e]{1,255}\Z")
# Unicode bidi overrides/isolates: invisible, and able to disguise a filename's extension.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


def decode_json_object(body: bytes) -> dict[str, object]:
    """Decode a request body that must be a JSON object."""
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        raise InvalidRequest("request body is not valid JSON", code="invalid_json") from None
    if not isinstance(value, dict):
        raise InvalidRequest("request body must be a JSON object", code="invalid_json")
    return value


def _require_fields(body: Mapping[str, object], required: Iterable[str], optional: Iterable[str] = ()) -> None:
    allowed = set(required) | set(optional)
    for name in body:
        if name not in allowed:
            raise InvalidRequest(f"unknown parameter: {name!r}", code="unknown_parameter", param=name)
    for name in required:
        if name not in body:
            raise InvalidRequest(f"missing required parameter: {name!r}", code="missing_parameter", param=name)


def _string(body: Mapping[str, object], name: str) -> str:
    value = body[name]
    if not isinstance(value, str):
        raise InvalidRequest(f"{name} must be a string", code="invalid_type", param=name)
    return value


def validate_filename(filename: str) -> str:
    """Check the 1-120 character rule and refuse control and bidi characters."""
    if not 1 <= len(filename) <= FILENAME_MAX_CHARS:
        raise InvalidRequest(
            f"filename must be 1-{FILENAME_MAX_CHARS} characters", code="invalid_filename", param="filename"
        )
    for char in filename:
        if char in _BIDI_CONTROLS or unicodedata.category(char) in _REFUSED_CATEGORIES:
            raise InvalidRequest(
                "filename must not contain control characters", code="invalid_filename", param="filename"
            )
    return filename


def parse_mint_request(body: object) -> MintRequest:
    """Validate the body of ``POST /v1/characters/uploads/init``."""
    if not isinstance(body, Mapping):
        raise InvalidRequest("request body must be a JSON object", code="invalid_json")
    _require_fields(body, ("filename", "extension", "content_type"))
    filename = validate_filename(_string(body, "filename"))
    extension = _string(body, "extension")
    content_type = _string(body, "content_type")
    if extension not in CONTENT_TYPE_BY_EXTENSION:
        raise InvalidRequest(
            f"extension must be one of {sorted(CONTENT_TYPE_BY_EXTENSION)}", code="invalid_extension", param="extension"
        )
    if content_type not in CONTENT_TYPES:
        raise InvalidRequest(
            f"content_type must be one of {sorted(CONTENT_TYPES)}", code="invalid_content_type", param="content_type"
        )
    if CONTENT_TYPE_BY_EXTENSION[extension] != content_type:
        raise InvalidRequest(
            f"extension {extension!r} does not match content_type {content_type!r}",
            code="extension_mismatch",
            param="content_type",
        )
    return MintRequest(filename=filename, extension=extension, content_type=content_type)


def _parse_id(value: object, pattern: re.Pattern[str], kind: str, param: str) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(f"{param} must be a string", code="invalid_type", param=param)
    if not pattern.match(value):
        raise InvalidRequest(f"{param} is not {kind} id", code=f"invalid_{kind.split()[-1]}_id", param=param)
    return value


def parse_upload_id(value: object, param: str = "upload_id") -> str:
    """Check an ``upl_<ULID>`` id; an id of the wrong shape is simply not found later."""
    return _parse_id(value, UPLOAD_ID_RE, "an upload", param)


def parse_character_id(value: object, param: str = "id") -> str:
    """Check a ``chr_<ULID>`` id."""
    return _parse_id(value, CHARACTER_ID_RE, "a character", param)


def parse_classify_request(body: object) -> str:
    """Validate the body of ``POST /v1/characters/uploads/classify``; return the upload id."""
    if not isinstance(body, Mapping):
        raise InvalidRequest("request body must be a JSON object", code="invalid_json")
    _require_fields(body, ("upload_id",))
    return parse_upload_id(body["upload_id"])


def parse_consume_request(body: object) -> tuple[str, ...]:
    """Validate the body of ``POST /v1/characters``: 1-6 distinct upload ids."""
    if not isinstance(body, Mapping):
        raise InvalidRequest("request body must be a JSON object", code="invalid_json")
    generate = body.get("generate", False)
    if not isinstance(generate, bool):
        raise InvalidRequest("generate must be a boolean", code="invalid_type", param="generate")
    if generate:
        raise NotSupported(
            "this deployment does not synthesize characters; upload refs and pass upload_ids",
            code="generate_not_supported",
            param="generate",
        )
    _require_fields(body, ("upload_ids",), ("generate",))
    ids = body["upload_ids"]
    if not isinstance(ids, list):
        raise InvalidRequest("upload_ids must be an array", code="invalid_type", param="upload_ids")
    if not 1 <= len(ids) <= MAX_UPLOADS_PER_CHARACTER:
        raise InvalidRequest(
            f"a character takes 1-{MAX_UPLOADS_PER_CHARACTER} upload ids",
            code="invalid_upload_count",
            param="upload_ids",
        )
    parsed = tuple(parse_upload_id(value, f"upload_ids[{index}]") for index, value in enumerate(ids))
    if len(set(parsed)) != len(parsed):
        raise InvalidRequest("upload_ids must be distinct", code="duplicate_upload_ids", param="upload_ids")
    return parsed


def parse_api_key(header: str | None) -> str:
    """Check the ``X-Api-Key`` header has the ``al_live_`` shape (the key is looked up later)."""
    if header is None or header == "":
        raise Unauthenticated("missing X-Api-Key header", code="missing_api_key", param="X-Api-Key")
    if not _API_KEY_RE.match(header):
        raise Unauthenticated(f"API keys start with {API_KEY_PREFIX!r}", code="invalid_api_key", param="X-Api-Key")
    return header


def resolve_api_version(header: str | None, team: Team | None, known: frozenset[str] = KNOWN_API_VERSIONS) -> str:
    """Pick the API version: the header's pin, else the team's pin, else the default."""
    if header is None:
        return team.pinned_version if team is not None and team.pinned_version else DEFAULT_API_VERSION
    if not _VERSION_RE.match(header):
        raise InvalidRequest(
            "X-Api-Version must look like YYYY-MM-DD", code="invalid_api_version", param="X-Api-Version"
        )
    if header not in known:
        raise InvalidRequest(
            f"unknown API version {header!r}; known: {sorted(known)}",
            code="unknown_api_version",
            param="X-Api-Version",
        )
    return header


def parse_idempotency_key(header: str | None) -> str | None:
    """Check an optional ``Idempotency-Key``: 1-255 visible ASCII characters."""
    if header is None:
        return None
    if not _IDEMPOTENCY_KEY_RE.match(header):
        raise InvalidRequest(
            "Idempotency-Key must be 1-255 visible ASCII characters",
            code="invalid_idempotency_key",
            param="Idempotency-Key",
        )
    return header


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """Render ``filename`` per RFC 6266 with an RFC 5987 ``filename*`` for non-ASCII names."""
    fallback = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\%' else "_" for c in filename)
    header = f'{disposition}; filename="{fallback}"'
    if fallback != filename:
        header += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return header
