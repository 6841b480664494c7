"""Every validation rule of the spec, in one place, on plain values.

Each check takes a value (a string, an id, a header) and returns it (normalised where the
rule says so) or raises :class:`InvalidRequest` / :class:`Unauthenticated` naming the
``param`` at fault. The request models call them as validators, so a model that exists
is valid; nothing here knows about JSON or HTTP.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING
from urllib.parse import quote

from upload_tickets._errors import InvalidRequest, Unauthenticated

if TYPE_CHECKING:
    from upload_tickets._models import Team

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
#: Team ids are path segments of blob keys and Redis hash tags: no "/", no braces, no
#: leading dot, nothing a key layout would have to escape.
TEAM_ID_RE = re.compile(r"\A[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}\Z")
# Unicode's own categories, not a hand-kept list: controls (Cc), surrogates (Cs), line and
# paragraph separators (Zl, Zp) and every format character (Cf: bidi controls such as
# U+202E and U+061C that can disguise an extension, zero-width spaces, tag characters).
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp", "Cf"})
# ZWNJ and ZWJ are Cf yet part of ordinary text: Persian words and emoji sequences need them.
_JOINERS = frozenset("\u200c\u200d")


def require_str(value: object, param: str) -> str:
    """``value`` if it is a string; ``invalid_type`` naming ``param`` otherwise."""
    if not isinstance(value, str):
        raise InvalidRequest(f"{param} must be a string", code="invalid_type", param=param)
    return value


def normalize_filename(filename: object) -> str:
    """The filename in NFC, so one name has one spelling and one length."""
    text = require_str(filename, "filename")
    if text.isascii():
        return text
    try:
        return unicodedata.normalize("NFC", text)
    except UnicodeError:
        return text  # a lone surrogate: validate_filename refuses it by category


def validate_filename(filename: str) -> str:
    """Check the 1-120 character rule and refuse control, separator and format characters."""
    if not 1 <= len(filename) <= FILENAME_MAX_CHARS:
        raise InvalidRequest(
            f"filename must be 1-{FILENAME_MAX_CHARS} characters", code="invalid_filename", param="filename"
        )
    # The common case: printable ASCII holds none of the refused categories.
    if filename.isascii() and filename.isprintable():
        return filename
    for char in filename:
        if unicodedata.category(char) in _REFUSED_CATEGORIES and char not in _JOINERS:
            raise InvalidRequest(
                f"filename must not contain control, separator or format characters (U+{ord(char):04X})",
                code="invalid_filename",
                param="filename",
            )
    return filename


def validate_extension(extension: object) -> str:
    """One of the spec's extensions, exactly (``jpg``, not ``JPG``)."""
    value = require_str(extension, "extension")
    if value not in CONTENT_TYPE_BY_EXTENSION:
        raise InvalidRequest(
            f"extension must be one of {sorted(CONTENT_TYPE_BY_EXTENSION)}", code="invalid_extension", param="extension"
        )
    return value


def validate_content_type(content_type: object, extension: str) -> str:
    """One of the spec's content types, and the one ``extension`` stands for."""
    value = require_str(content_type, "content_type")
    if value not in CONTENT_TYPES:
        raise InvalidRequest(
            f"content_type must be one of {sorted(CONTENT_TYPES)}", code="invalid_content_type", param="content_type"
        )
    if CONTENT_TYPE_BY_EXTENSION[extension] != value:
        raise InvalidRequest(
            f"extension {extension!r} does not match content_type {value!r}",
            code="extension_mismatch",
            param="content_type",
        )
    return value


def validate_team_id(team_id: object) -> str:
    """1-64 of ``A-Z a-z 0-9 _ . -``, not starting with a dot."""
    if not isinstance(team_id, str) or not TEAM_ID_RE.match(team_id):
        raise InvalidRequest(
            f"team ids are 1-64 of A-Z a-z 0-9 _ . - (not starting with a dot), got {team_id!r}", param="team"
        )
    return team_id


def validate_team_content_types(content_types: Collection[str]) -> frozenset[str]:
    """A team's allowed types: a non-empty subset of the spec's three."""
    allowed = frozenset(content_types)
    if not allowed or not allowed <= CONTENT_TYPES:
        raise InvalidRequest(
            f"a team's content types must be a non-empty subset of {sorted(CONTENT_TYPES)}", param="content_types"
        )
    return allowed


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


def parse_upload_ids(ids: object, param: str = "upload_ids") -> tuple[str, ...]:
    """1-6 distinct ``upl_`` ids; the one at fault is named ``upload_ids[i]``."""
    if isinstance(ids, str | bytes) or not isinstance(ids, Sequence):
        raise InvalidRequest(f"{param} must be an array", code="invalid_type", param=param)
    if not 1 <= len(ids) <= MAX_UPLOADS_PER_CHARACTER:
        raise InvalidRequest(
            f"a character takes 1-{MAX_UPLOADS_PER_CHARACTER} upload ids", code="invalid_upload_count", param=param
        )
    parsed = tuple(parse_upload_id(value, f"{param}[{index}]") for index, value in enumerate(ids))
    if len(set(parsed)) != len(parsed):
        raise InvalidRequest(f"{param} must be distinct", code="duplicate_upload_ids", param=param)
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
    if not isinstance(header, str) or not _VERSION_RE.match(header):
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
    if not isinstance(header, str) or not _IDEMPOTENCY_KEY_RE.match(header):
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
