"""Hostile input: generated bodies, headers and tampered URLs.

Whatever arrives, the answer is a 4xx with an error code (never an unexpected exception
or a 5xx) and no ticket changes.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import API_KEY_A, make_api, mint
from upload_tickets.http import HttpApi, HttpResponse
from upload_tickets.testing import image_bytes

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
near_mint_bodies = st.fixed_dictionaries(
    {},
    optional={
        "filename": st.one_of(st.text(max_size=130), json_values),
        "extension": st.one_of(st.sampled_from(["jpg", "jpeg", "png", "webp", "gif", ""]), json_values),
        "content_type": st.one_of(st.sampled_from(["image/jpeg", "image/png", "image/webp", "text/html"]), json_values),
        "extra": json_values,
    },
)
header_values = st.none() | st.text(max_size=40) | st.sampled_from(["2026-05-15", "2026-05-16", API_KEY_A])


def _assert_client_error(response: HttpResponse) -> None:
    assert 400 <= response.status < 500, response.body
    error = response.json()
    assert isinstance(error, dict)
    assert set(error["error"]) == {"type", "code", "message", "param"}
    assert error["error"]["code"]


def _snapshot(api: HttpApi, upload_id: object) -> object:
    assert isinstance(upload_id, str)
    return api.service.store.get("team_a", upload_id)


@settings(max_examples=300)
@given(body=st.one_of(near_mint_bodies, json_values), version=header_values, key=header_values)
def test_generated_mint_requests_are_201_or_a_coded_4xx(body: object, version: str | None, key: str | None) -> None:
    api = make_api()
    headers = {name: value for name, value in (("x-api-key", key), ("x-api-version", version)) if value is not None}
    response = api.handle("POST", "/v1/characters/uploads/init", "", headers, json.dumps(body).encode())
    if response.status != 201:
        _assert_client_error(response)


@settings(max_examples=200)
@given(raw=st.binary(max_size=200))
def test_raw_bytes_as_a_body_are_a_coded_4xx(raw: bytes) -> None:
    api = make_api()
    for path in ("/v1/characters/uploads/init", "/v1/characters/uploads/classify", "/v1/characters"):
        response = api.handle("POST", path, "", {"x-api-key": API_KEY_A}, raw)
        if response.status >= 300:
            _assert_client_error(response)


@settings(max_examples=300)
@given(
    body=st.one_of(
        st.fixed_dictionaries({}, optional={"upload_ids": json_values, "generate": json_values}), json_values
    )
)
def test_generated_consume_requests_change_nothing(body: object) -> None:
    api = make_api()
    minted = mint(api)
    before = _snapshot(api, minted["upload_id"])
    response = api.handle("POST", "/v1/characters", "", {"x-api-key": API_KEY_A}, json.dumps(body).encode())
    _assert_client_error(response)
    assert _snapshot(api, minted["upload_id"]) == before
    assert minted["upload_id"]


def test_every_single_character_change_of_a_signed_url_is_refused(api: HttpApi) -> None:
    minted = mint(api)
    url = urlsplit(str(minted["upload_url"]))
    target = f"{url.path}?{url.query}"
    before = _snapshot(api, minted["upload_id"])
    statuses = set()
    for index in range(len(target)):
        for replacement in {"0", "Z", "a", "_", "-", "=", "&", "/", "%", "?", ""} - {target[index]}:
            tampered = target[:index] + replacement + target[index + 1 :]
            path, _, query = tampered.partition("?")
            response = api.handle("PUT", path, query, {"content-type": "image/png"}, image_bytes("image/png"))
            _assert_client_error(response)
            statuses.add(response.status)
    assert _snapshot(api, minted["upload_id"]) == before
    assert statuses <= {400, 403, 404}
    # And the untouched URL still works, so the refusals were about the changes.
    path, _, query = target.partition("?")
    assert api.handle("PUT", path, query, {}, image_bytes("image/png")).status == 200


@settings(max_examples=200)
@given(
    content_type=st.none() | st.text(max_size=30),
    content_length=st.none() | st.text(max_size=8),
)
def test_generated_put_headers_are_200_or_a_coded_4xx(content_type: str | None, content_length: str | None) -> None:
    api = make_api()
    minted = mint(api)
    url = urlsplit(str(minted["upload_url"]))
    headers = {
        name: value
        for name, value in (("content-type", content_type), ("content-length", content_length))
        if value is not None
    }
    response = api.handle("PUT", url.path, url.query, headers, image_bytes("image/png"))
    if response.status != 200:
        _assert_client_error(response)
