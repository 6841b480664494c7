"""The OpenAPI 3.1 description of the HTTP surface, built from the live configuration.

Paths, methods, parameters, auth, request bodies and success statuses come from the
routes an :class:`~upload_tickets.http.AsyncHttpApi` (or its sync twin ``HttpApi``)
serves; this module adds only the words (summaries, descriptions) and the schemas,
keyed by route and parameter name.
"""

from __future__ import annotations

from typing import Any

from upload_tickets import _rules
from upload_tickets.http import API_VERSION, IDEMPOTENCY_KEY, SIGNED_QUERY, AsyncHttpApi, HttpApi, Route

#: Either flavour: the document depends only on the routes and the service's settings.
AnyHttpApi = AsyncHttpApi | HttpApi

_UPLOAD_ID = {"type": "string", "pattern": _rules.UPLOAD_ID_RE.pattern.replace("\\A", "^").replace("\\Z", "$")}
_CHARACTER_ID = {"type": "string", "pattern": _rules.CHARACTER_ID_RE.pattern.replace("\\A", "^").replace("\\Z", "$")}
_ISO = {"type": "string", "format": "date-time"}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _json_body(ref: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


def _ok(description: str, ref: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }
    if headers:
        response["headers"] = headers
    return response


_RATE_HEADERS = {
    "RateLimit-Policy": {"schema": {"type": "string"}, "description": "IETF draft: quota and window of the bucket"},
    "RateLimit": {"schema": {"type": "string"}, "description": "IETF draft: remaining tokens and seconds to full"},
}
_RATE_LIMITED = {
    **_error("The team's characters_post bucket is empty"),
    "headers": {**_RATE_HEADERS, "Retry-After": {"schema": {"type": "integer"}}},
}
# What a minted upload_id feeds, so stateful testing (and readers) can follow the flow.
_UPLOAD_ID_FROM_MINT = "$response.body#/upload_id"
_LINKS = {
    "GetUpload": {"operationId": "getUpload", "parameters": {"upload_id": _UPLOAD_ID_FROM_MINT}},
    "ClassifyUpload": {"operationId": "classifyUpload", "requestBody": {"upload_id": _UPLOAD_ID_FROM_MINT}},
    "CreateCharacter": {"operationId": "createCharacter", "requestBody": {"upload_ids": [_UPLOAD_ID_FROM_MINT]}},
}
# Characters the filename rule refuses: C0/C1 controls, line/paragraph separators, bidi controls.
_FILENAME_PATTERN = "^[^\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069]+$"

_COMMON_POST = {
    "400": _error("Malformed body, bad parameter or unknown API version"),
    "401": _error("Missing, malformed or unknown API key"),
    "413": _error("JSON body over 64 KiB"),
    "429": _RATE_LIMITED,
}


def _parameter_docs(api: AnyHttpApi) -> dict[str, dict[str, Any]]:
    """Schema and description of each parameter, by name; a name not here is a plain string."""
    return {
        "upload_id": {"schema": _UPLOAD_ID},
        "character_id": {"schema": _CHARACTER_ID},
        "cursor": {"schema": _CHARACTER_ID},
        "limit": {"schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50}},
        API_VERSION.name: {
            "description": f"API version pin; default: the team's pin, else {_rules.DEFAULT_API_VERSION}",
            "schema": {"type": "string", "enum": sorted(api.service.known_versions)},
        },
        IDEMPOTENCY_KEY.name: {
            "description": "The same key and body answer as the first request did, uncharged; another body is a 409",
            "schema": {"type": "string", "pattern": "^[!-~]{1,255}$"},
        },
        **{
            param.name: {"description": "Copied as minted from the signed upload URL", "schema": {"type": "string"}}
            for param in SIGNED_QUERY
        },
    }


def _operation_docs(api: AnyHttpApi) -> dict[str, dict[str, Any]]:
    """Each route's operation id, summary and responses, by route name."""
    return {
        "init_upload": {
            "operationId": "mintUpload",
            "summary": "Mint a signed PUT URL for one reference image",
            "responses": {
                "201": {**_ok("Upload ticket minted", "MintResponse", {**_RATE_HEADERS}), "links": _LINKS},
                "200": _ok("Replay of an earlier mint with the same Idempotency-Key", "MintResponse"),
                "409": _error("Idempotency-Key reused with a different body"),
                **_COMMON_POST,
            },
        },
        "put_upload": {
            "operationId": "putUpload",
            "summary": "Upload the image bytes (no API key: the signature is in the query string)",
            "responses": {
                "200": _ok("Bytes stored", "UploadReceived"),
                "400": _error("Malformed Content-Length"),
                "403": _error("Bad, tampered or expired signature"),
                "404": _error("No such upload"),
                "409": _error("The upload was already consumed"),
                "410": _error("The ticket expired"),
                "413": _error(f"More than the byte cap ({api.service.max_upload_bytes} by default)"),
                "415": _error("Content-Type differs from the signed one"),
            },
        },
        "classify": {
            "operationId": "classifyUpload",
            "summary": "Check the bytes are the declared image type; read dimensions and pose",
            "responses": {
                "200": _ok("Classified (or a replay: Idempotent-Replayed: true)", "Classification", {**_RATE_HEADERS}),
                "404": _error("Unknown upload, or another team's"),
                "409": _error("Nothing uploaded yet, already consumed, or Idempotency-Key reused with another body"),
                "410": _error("The ticket expired"),
                "415": _error("Bytes stored straight to object storage with another type"),
                "422": _error("The bytes are not a readable image of the declared type"),
                **_COMMON_POST,
            },
        },
        "list_characters": {
            "operationId": "listCharacters",
            "summary": "The team's characters, oldest first, a page at a time",
            "responses": {
                "200": _ok("A page of characters", "CharacterList"),
                "400": _error("Bad cursor, limit or query parameter"),
                "401": _error("Missing, malformed or unknown API key"),
            },
        },
        "create_character": {
            "operationId": "createCharacter",
            "summary": "Consume 1-6 uploads atomically into a new character",
            "responses": {
                "201": {
                    **_ok("Character created; it owns the uploads' bytes", "Character", {**_RATE_HEADERS}),
                    "links": {
                        "GetCharacter": {
                            "operationId": "getCharacter",
                            "parameters": {"character_id": "$response.body#/id"},
                        },
                    },
                },
                "200": _ok("Replay of an earlier consume with the same Idempotency-Key", "Character"),
                "404": _error("Unknown upload, or another team's"),
                "409": _error(
                    "An upload is not uploaded yet, already consumed (the message names the character),"
                    " changed since checked, or Idempotency-Key reused with another body"
                ),
                "410": _error("An upload expired"),
                "415": _error("Bytes stored straight to object storage with another type"),
                "422": _error("An upload's bytes are not a complete image of its declared type"),
                **_COMMON_POST,
            },
        },
        "get_character": {
            "operationId": "getCharacter",
            "summary": "One of the team's characters, with its refs and their blob keys",
            "responses": {
                "200": _ok("The character", "Character"),
                "400": _error("Not a character id"),
                "401": _error("Missing, malformed or unknown API key"),
                "404": _error("Unknown character, or another team's"),
            },
        },
        "delete_character": {
            "operationId": "deleteCharacter",
            "summary": "Delete a character and its bytes",
            "responses": {
                "204": {"description": "Deleted"},
                "400": _error("Not a character id"),
                "401": _error("Missing, malformed or unknown API key"),
                "404": _error("Unknown character, or another team's"),
                "409": _error("The character is still being created or changed; retry"),
            },
        },
        "get_upload": {
            "operationId": "getUpload",
            "summary": "The state of one of the team's uploads",
            "responses": {
                "200": _ok("The upload", "Upload"),
                "400": _error("Not an upload id"),
                "401": _error("Missing, malformed or unknown API key"),
                "404": _error("Unknown upload, or another team's"),
            },
        },
    }


def _operation(route: Route, docs: dict[str, Any], parameter_docs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The operation object of ``route``: what it reads from the route, the words from ``docs``."""
    documented = {int(status) for status in docs["responses"] if status.startswith("2")}
    if documented != set(route.statuses):
        # A success status only one side knows would be undocumented, or documented but never sent.
        raise ValueError(f"route {route.name} answers {sorted(route.statuses)}, its docs say {sorted(documented)}")
    operation: dict[str, Any] = {"operationId": docs["operationId"], "summary": docs["summary"]}
    if not route.auth:
        operation["security"] = []
    if route.parameters:
        operation["parameters"] = [
            {
                "name": param.name,
                "in": param.location,
                "required": param.required,
                **parameter_docs.get(param.name, {"schema": {"type": "string"}}),
            }
            for param in route.parameters
        ]
    if route.request_schema is not None:
        operation["requestBody"] = _json_body(route.request_schema)
    elif route.body == "upload":
        operation["requestBody"] = {
            "required": True,
            "content": {
                content_type: {"schema": {"type": "string", "format": "binary"}}
                for content_type in sorted(_rules.CONTENT_TYPES)
            },
        }
    operation["responses"] = docs["responses"]
    return operation


def openapi_document(api: AnyHttpApi, *, prefix: str = "") -> dict[str, Any]:
    """Describe every endpoint ``api`` serves, one operation per route in ``api.routes``, under ``prefix``."""
    operation_docs, parameter_docs = _operation_docs(api), _parameter_docs(api)
    paths: dict[str, dict[str, Any]] = {}
    for route in api.routes:
        # A route without docs is a KeyError here, at startup: never a route missing from the document.
        operation = _operation(route, operation_docs[route.name], parameter_docs)
        paths.setdefault(prefix + route.path, {})[route.method.lower()] = operation
    paths[prefix + "/healthz"] = {
        "get": {
            "operationId": "health",
            "security": [],
            "responses": {
                "200": {"description": "Alive", "content": {"application/json": {"schema": {"type": "object"}}}}
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "upload-tickets",
            "version": "0.1.0",
            "description": "Direct uploads through signed URLs: mint, PUT, classify, consume 1-6 atomically.",
        },
        "security": [{"ApiKey": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key", "description": "Starts with al_live_"}
            },
            "schemas": _schemas(),
        },
    }


def _schemas() -> dict[str, Any]:
    nullable_int = {"type": ["integer", "null"]}
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["type", "code", "message", "param"],
                    "properties": {
                        "type": {"type": "string"},
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "param": {"type": ["string", "null"]},
                    },
                }
            },
        },
        "MintRequest": {
            "type": "object",
            "additionalProperties": False,
            "required": ["filename", "extension", "content_type"],
            "properties": {
                "filename": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": _rules.FILENAME_MAX_CHARS,
                    "pattern": _FILENAME_PATTERN,
                },
                "extension": {"type": "string", "enum": sorted(_rules.CONTENT_TYPE_BY_EXTENSION)},
                "content_type": {"type": "string", "enum": sorted(_rules.CONTENT_TYPES)},
            },
            # The extension must match the content type: one branch per accepted pair.
            "oneOf": [
                {"properties": {"extension": {"const": extension}, "content_type": {"const": content_type}}}
                for extension, content_type in sorted(_rules.CONTENT_TYPE_BY_EXTENSION.items())
            ],
        },
        "MintResponse": {
            "type": "object",
            "required": ["upload_id", "upload_url", "upload_headers", "expires_at"],
            "properties": {
                "upload_id": _UPLOAD_ID,
                "upload_url": {"type": "string", "format": "uri"},
                "upload_headers": {"type": "object", "additionalProperties": {"type": "string"}},
                "expires_at": _ISO,
            },
        },
        "UploadReceived": {
            "type": "object",
            "required": ["upload_id", "state", "size"],
            "properties": {"upload_id": _UPLOAD_ID, "state": {"type": "string"}, "size": {"type": "integer"}},
        },
        "ClassifyRequest": {
            "type": "object",
            "additionalProperties": False,
            "required": ["upload_id"],
            "properties": {"upload_id": _UPLOAD_ID},
        },
        "Classification": {
            "type": "object",
            "required": ["upload_id", "pose", "width", "height", "content_type"],
            "properties": {
                "upload_id": _UPLOAD_ID,
                "pose": {"type": "string"},
                "width": {"type": "integer"},
                "height": {"type": "integer"},
                "content_type": {"type": "string"},
            },
        },
        "CreateCharacterRequest": {
            "type": "object",
            "additionalProperties": False,
            "required": ["upload_ids"],
            "properties": {
                "upload_ids": {
                    "type": "array",
                    "items": _UPLOAD_ID,
                    "minItems": 1,
                    "maxItems": _rules.MAX_UPLOADS_PER_CHARACTER,
                    "uniqueItems": True,
                },
                "generate": {
                    "type": "boolean",
                    "enum": [False],
                    "description": "The synthesize flow; true is refused with 400: this server does not synthesize",
                },
            },
        },
        "Character": {
            "type": "object",
            "required": ["id", "state", "refs", "created_at"],
            "properties": {
                "id": _CHARACTER_ID,
                "state": {"type": "string", "enum": ["promoting", "ready"]},
                "created_at": _ISO,
                "refs": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["upload_id", "filename", "content_type", "size", "pose", "blob_key"],
                        "properties": {
                            "upload_id": _UPLOAD_ID,
                            "filename": {"type": "string"},
                            "content_type": {"type": "string"},
                            "size": nullable_int,
                            "pose": {"type": ["string", "null"]},
                            "width": nullable_int,
                            "height": nullable_int,
                            "blob_key": {"type": "string", "description": "Where the character's copy of the bytes is"},
                        },
                    },
                },
            },
        },
        "CharacterList": {
            "type": "object",
            "required": ["data", "next_cursor"],
            "properties": {
                "data": {"type": "array", "items": {"$ref": "#/components/schemas/Character"}},
                "next_cursor": {"type": ["string", "null"]},
            },
        },
        "Upload": {
            "type": "object",
            "required": ["upload_id", "state", "filename", "content_type", "expires_at"],
            "properties": {
                "upload_id": _UPLOAD_ID,
                "state": {"type": "string", "enum": ["minted", "uploaded", "classified", "consumed", "expired"]},
                "filename": {"type": "string"},
                "content_type": {"type": "string"},
                "size": nullable_int,
                "upload_url_expires_at": _ISO,
                "expires_at": _ISO,
                "classification": {"type": ["object", "null"]},
                "character_id": {"type": ["string", "null"]},
            },
        },
    }
