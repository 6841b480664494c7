"""The OpenAPI document is generated from HttpApi's routes: every route, method and parameter it reads is in it."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import jsonschema_rs
from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR

from tests.support import API_KEY_A, TEAM_A, make_api
from upload_tickets import (
    ManualClock,
    MemoryBlobStore,
    MemoryRateLimiter,
    MemoryTeamDirectory,
    MemoryTicketStore,
    SignedUpload,
    UploadTicket,
    UploadTickets,
)
from upload_tickets.http import HttpApi, Route
from upload_tickets.openapi import openapi_document
from upload_tickets.testing import START_US, image_bytes

# Headers every route may look at that are HTTP framing, not API parameters (OpenAPI
# ignores a Content-Type parameter: the request body's media types say it).
FRAMING = {"content-length", "transfer-encoding", "content-type"}
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


class RecordingHeaders(Mapping[str, str]):
    """Lower-case request headers that remember every name looked up in them."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = dict(headers)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return self._headers[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._headers)

    def __len__(self) -> int:
        return len(self._headers)


class Recorder:
    """Sends requests to an :class:`HttpApi` and notes, per route, the headers read and statuses answered."""

    def __init__(self, api: HttpApi) -> None:
        self.api = api
        self.read: dict[str, set[str]] = defaultdict(set)
        self.statuses: dict[str, set[int]] = defaultdict(set)

    def send(self, method: str, target: str, headers: Mapping[str, str], body: bytes = b"") -> Any:
        """Make the request (``target`` may carry a query) and return its JSON body, or ``None``."""
        url = urlsplit(target)
        route, _ = self.api.match(method, url.path)
        sent = RecordingHeaders({"content-length": str(len(body)), **headers})
        response = self.api.handle(method, url.path, url.query, sent, body)
        assert response.status < 300, (method, target, response.body)
        self.read[route.name] |= sent.read
        self.statuses[route.name].add(response.status)
        return response.json() if response.body else None

    def post(self, path: str, payload: object, idempotency_key: str | None = None) -> Any:
        """POST ``payload`` as JSON with team A's key."""
        headers = {"x-api-key": API_KEY_A, "content-type": "application/json"}
        if idempotency_key is not None:
            headers["idempotency-key"] = idempotency_key
        return self.send("POST", path, headers, json.dumps(payload).encode())

    def get(self, target: str) -> Any:
        """GET with team A's key."""
        return self.send("GET", target, {"x-api-key": API_KEY_A})


def _every_route_once(api: HttpApi) -> Recorder:
    """Drive every route of ``api`` to each of its success statuses (replays included)."""
    recorder = Recorder(api)
    init = {"filename": "front.png", "extension": "png", "content_type": "image/png"}
    minted = recorder.post("/v1/characters/uploads/init", init, idempotency_key="mint-1")
    recorder.post("/v1/characters/uploads/init", init, idempotency_key="mint-1")
    recorder.send("PUT", minted["upload_url"], {"content-type": "image/png"}, image_bytes("image/png"))
    recorder.post("/v1/characters/uploads/classify", {"upload_id": minted["upload_id"]})
    consume = {"upload_ids": [minted["upload_id"]]}
    character = recorder.post("/v1/characters", consume, idempotency_key="consume-1")
    recorder.post("/v1/characters", consume, idempotency_key="consume-1")
    recorder.get(f"/v1/characters/uploads/{minted['upload_id']}")
    recorder.get(f"/v1/characters?limit=10&cursor={character['id']}")
    recorder.get(f"/v1/characters/{character['id']}")
    recorder.send("DELETE", f"/v1/characters/{character['id']}", {"x-api-key": API_KEY_A})
    return recorder


def _operation(document: dict[str, Any], route: Route) -> dict[str, Any]:
    operation = document["paths"].get(route.path, {}).get(route.method.lower())
    assert operation is not None, f"{route.method} {route.path} ({route.name}) is missing from the document"
    assert isinstance(operation, dict)
    return operation


def _declared(operation: dict[str, Any], location: str) -> list[str]:
    return [param["name"] for param in operation.get("parameters", []) if param["in"] == location]


def test_every_route_and_method_is_in_the_document_and_nothing_else() -> None:
    api = make_api()
    document = openapi_document(api)
    assert {route.name for route in api.routes} >= {"put_upload", "init_upload", "list_characters"}
    served = {(route.path, route.method.lower()) for route in api.routes}
    documented = {
        (path, method) for path, item in document["paths"].items() for method in item if method in METHODS
    } - {("/healthz", "get")}
    assert documented == served
    assert document["security"] == [{"ApiKey": []}]
    for route in api.routes:
        # Auth as the route needs it: the document-wide API key, or none at all for the signed PUT.
        assert _operation(document, route).get("security") == (None if route.auth else []), route.name


def test_every_parameter_a_route_reads_is_declared() -> None:
    api = make_api()
    document = openapi_document(api)
    recorder = _every_route_once(api)
    assert set(recorder.read) == {route.name for route in api.routes}
    for route in api.routes:
        operation = _operation(document, route)
        declared_headers = {name.lower() for name in _declared(operation, "header")}
        api_key = document["components"]["securitySchemes"]["ApiKey"]["name"].lower()
        read = recorder.read[route.name] - FRAMING
        # The API key is the security scheme's, asked for exactly where the document asks for it.
        assert (api_key in read) == route.auth, route.name
        assert read - {api_key} == declared_headers, route.name
        assert {param.key for param in route.params if param.location == "header"} == declared_headers
        assert _declared(operation, "query") == [param.name for param in route.params if param.location == "query"]
        assert _declared(operation, "path") == ([] if route.path_variable is None else [route.path_variable])
        for param in operation.get("parameters", []):
            assert param["required"] is (param["in"] == "path" or route.body == "upload"), (route.name, param)


def test_the_put_declares_every_field_of_a_minted_url() -> None:
    api = make_api()
    recorder = Recorder(api)
    minted = recorder.post(
        "/v1/characters/uploads/init", {"filename": "a.png", "extension": "png", "content_type": "image/png"}
    )
    query = urlsplit(minted["upload_url"]).query
    fields = [part.partition("=")[0] for part in query.split("&")]
    put = next(route for route in api.routes if route.method == "PUT")
    assert "tm" in fields
    assert _declared(_operation(openapi_document(api), put), "query") == fields


def test_the_list_declares_exactly_the_query_it_accepts() -> None:
    api = make_api()
    document = openapi_document(api)
    route = next(route for route in api.routes if route.name == "list_characters")
    declared = _declared(_operation(document, route), "query")
    assert declared == ["cursor", "limit"]
    headers = {"x-api-key": API_KEY_A}
    assert api.handle("GET", route.path, "limit=5", headers, b"").status == 200
    unknown = api.handle("GET", route.path, "page=2", headers, b"")
    assert unknown.status == 400
    assert unknown.json()["error"]["param"] == "page"


def test_every_success_status_is_documented_and_sent() -> None:
    api = make_api()
    document = openapi_document(api)
    recorder = _every_route_once(api)
    for route in api.routes:
        responses = _operation(document, route)["responses"]
        documented = {int(status) for status in responses if status.startswith("2")}
        assert recorder.statuses[route.name] == set(route.statuses) == documented, route.name


class _ObjectStorageSigner:
    """A signer whose URLs point at object storage: no PUT route on this server."""

    def sign_put(self, ticket: UploadTicket) -> SignedUpload:
        return SignedUpload(url=f"https://bucket.example/{ticket.id}", headers={}, expires_at=ticket.url_expires_at)


def test_no_put_is_documented_when_uploads_go_elsewhere() -> None:
    clock = ManualClock(START_US)
    service = UploadTickets(
        store=MemoryTicketStore(),
        limiter=MemoryRateLimiter(clock),
        signer=_ObjectStorageSigner(),
        blobs=MemoryBlobStore(),
        clock=clock,
    )
    api = HttpApi(service, MemoryTeamDirectory({API_KEY_A: TEAM_A}))
    document = openapi_document(api)
    assert all(route.method != "PUT" for route in api.routes)
    assert not any("put" in item for item in document["paths"].values())
    assert all(_operation(document, route) for route in api.routes)


def test_the_document_is_valid_openapi_3_1() -> None:
    document = openapi_document(make_api())
    OPENAPI_31_VALIDATOR.validate(document)
    # The 3.1 meta-schema leaves the JSON Schemas inside unchecked: check each against 2020-12.
    for schema in _schemas(document):
        jsonschema_rs.meta.validate(schema)
    for ref in _refs(document):
        assert ref.startswith("#/components/schemas/")
        assert ref.rpartition("/")[2] in document["components"]["schemas"]
    operations = [(path, operation) for path, item in document["paths"].items() for operation in item.values()]
    ids = [operation["operationId"] for _, operation in operations]
    assert len(ids) == len(set(ids))
    by_id = dict(zip(ids, (operation for _, operation in operations), strict=True))
    for path, operation in operations:
        variables = {part[1:-1] for part in path.split("/") if part.startswith("{")}
        assert set(_declared(operation, "path")) == variables, path
        for response in operation["responses"].values():
            for link in response.get("links", {}).values():
                target = by_id[link["operationId"]]
                assert set(link.get("parameters", {})) <= set(_declared(target, "path") + _declared(target, "query"))


def _schemas(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON Schema in the document: components, parameters, bodies and response headers."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "schema" and isinstance(value, dict):
                yield value
            elif key == "schemas" and isinstance(value, dict):
                yield from value.values()
            else:
                yield from _schemas(value)
    elif isinstance(node, list):
        for item in node:
            yield from _schemas(item)


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)
