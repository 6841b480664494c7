"""The spec's JSON request bodies, decoded and turned into validated requests.

Only the shape of JSON is checked here (UTF-8, an object, known fields, field types);
the rules themselves are the request models' and :mod:`upload_tickets._rules`'.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from upload_tickets import _rules
from upload_tickets._errors import InvalidRequest, NotSupported
from upload_tickets._models import MintRequest


def decode_json_object(body: bytes) -> dict[str, object]:
    """Decode a request body that must be a UTF-8 JSON object (RFC 8259 section 8.1)."""
    try:
        # json.loads(bytes) would also take UTF-16 and UTF-32; JSON between systems is UTF-8.
        value = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidRequest("request body must be UTF-8 encoded JSON", code="invalid_json") from None
    except (ValueError, RecursionError):
        raise InvalidRequest("request body is not valid JSON", code="invalid_json") from None
    if not isinstance(value, dict):
        raise InvalidRequest("request body must be a JSON object", code="invalid_json")
    return value


def _require_fields(body: object, required: Iterable[str], optional: Iterable[str] = ()) -> Mapping[str, object]:
    if not isinstance(body, Mapping):
        raise InvalidRequest("request body must be a JSON object", code="invalid_json")
    allowed = set(required) | set(optional)
    for name in body:
        if name not in allowed:
            raise InvalidRequest(f"unknown parameter: {name!r}", code="unknown_parameter", param=name)
    for name in required:
        if name not in body:
            raise InvalidRequest(f"missing required parameter: {name!r}", code="missing_parameter", param=name)
    return body


def parse_mint_request(body: object) -> MintRequest:
    """The body of ``POST /v1/characters/uploads/init`` as a :class:`MintRequest`."""
    fields = _require_fields(body, ("filename", "extension", "content_type"))
    return MintRequest(
        filename=_rules.require_str(fields["filename"], "filename"),
        extension=_rules.require_str(fields["extension"], "extension"),
        content_type=_rules.require_str(fields["content_type"], "content_type"),
    )


def parse_classify_request(body: object) -> str:
    """The upload id in the body of ``POST /v1/characters/uploads/classify``."""
    return _rules.parse_upload_id(_require_fields(body, ("upload_id",))["upload_id"])


def parse_consume_request(body: object) -> tuple[str, ...]:
    """The 1-6 distinct upload ids in the body of ``POST /v1/characters``."""
    if isinstance(body, Mapping):
        generate = body.get("generate", False)
        if not isinstance(generate, bool):
            raise InvalidRequest("generate must be a boolean", code="invalid_type", param="generate")
        if generate:
            raise NotSupported(
                "this deployment does not synthesize characters; upload refs and pass upload_ids",
                code="generate_not_supported",
                param="generate",
            )
    fields = _require_fields(body, ("upload_ids",), ("generate",))
    if not isinstance(fields["upload_ids"], list):
        raise InvalidRequest("upload_ids must be an array", code="invalid_type", param="upload_ids")
    return _rules.parse_upload_ids(fields["upload_ids"])
