"""The spec's validation rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from upload_tickets import InvalidRequest, MintRequest, NotSupported, Team, Unauthenticated, content_disposition
from upload_tickets._bodies import decode_json_object, parse_consume_request, parse_mint_request
from upload_tickets._rules import parse_api_key, resolve_api_version

VALID = {"filename": "front-portrait.jpg", "extension": "jpg", "content_type": "image/jpeg"}


@pytest.mark.parametrize(
    ("extension", "content_type"),
    [("jpeg", "image/jpeg"), ("jpg", "image/jpeg"), ("png", "image/png"), ("webp", "image/webp")],
)
def test_matching_pairs_are_accepted(extension: str, content_type: str) -> None:
    request = parse_mint_request({**VALID, "extension": extension, "content_type": content_type})
    assert (request.extension, request.content_type) == (extension, content_type)


@pytest.mark.parametrize(
    ("change", "code", "param"),
    [
        ({"extension": "png"}, "extension_mismatch", "content_type"),
        ({"extension": "gif"}, "invalid_extension", "extension"),
        ({"extension": "JPG"}, "invalid_extension", "extension"),
        ({"content_type": "image/gif"}, "invalid_content_type", "content_type"),
        ({"filename": ""}, "invalid_filename", "filename"),
        ({"filename": "x" * 121}, "invalid_filename", "filename"),
        ({"filename": "a\nb.jpg"}, "invalid_filename", "filename"),
        ({"filename": "a\x00.jpg"}, "invalid_filename", "filename"),
        ({"filename": "evil\u202egpj.exe"}, "invalid_filename", "filename"),
        ({"filename": "bad\ud800.jpg"}, "invalid_filename", "filename"),
        ({"filename": "evil\u061cgpj.exe"}, "invalid_filename", "filename"),  # ARABIC LETTER MARK (Cf)
        ({"filename": "a\u200bb.png"}, "invalid_filename", "filename"),  # zero-width space (Cf)
        ({"filename": "a\U000e0041.png"}, "invalid_filename", "filename"),  # tag character (Cf)
        ({"filename": "a\u2028b.png"}, "invalid_filename", "filename"),  # line separator (Zl)
        ({"filename": "a\x85b.png"}, "invalid_filename", "filename"),  # NEL (Cc)
        ({"filename": 5}, "invalid_type", "filename"),
        ({"extension": None}, "invalid_type", "extension"),
        ({"surprise": 1}, "unknown_parameter", "surprise"),
    ],
)
def test_bad_mint_bodies_name_the_param(change: dict[str, object], code: str, param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_mint_request({**VALID, **change})
    assert (caught.value.code, caught.value.param, caught.value.http_status) == (code, param, 400)


def test_filename_limits_count_characters_not_bytes() -> None:
    assert parse_mint_request({**VALID, "filename": "é" * 120}).filename == "é" * 120


def test_filenames_are_kept_in_nfc_and_counted_after_it() -> None:
    decomposed = "e\u0301" * 120  # 240 code points, 120 characters once composed
    request = MintRequest(decomposed, "png", "image/png")
    assert request.filename == "\u00e9" * 120


@pytest.mark.parametrize(
    "name", ["\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645.png", "\U0001f469\u200d\U0001f4bb.png"]
)
def test_joiners_that_words_and_emoji_need_are_kept(name: str) -> None:
    assert MintRequest(name, "png", "image/png").filename == name


@given(st.characters(categories=["Cc", "Cf", "Zl", "Zp", "Cs"], exclude_characters="\u200c\u200d"))
def test_every_control_format_and_separator_character_is_refused(char: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        MintRequest(f"a{char}b.png", "png", "image/png")
    assert refused.value.param == "filename"


@pytest.mark.parametrize(
    ("args", "param"),
    [
        (("a.gif", "gif", "image/gif"), "extension"),
        (("a.png", "jpg", "image/png"), "content_type"),
        (("", "png", "image/png"), "filename"),
        (("x" * 500, "png", "image/png"), "filename"),
        (("a\x00.png", "png", "image/png"), "filename"),
        ((b"a.png", "png", "image/png"), "filename"),
        (("a.png", "png", None), "content_type"),
    ],
)
def test_an_invalid_mint_request_cannot_be_built(args: tuple[object, object, object], param: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        MintRequest(*args)  # type: ignore[arg-type]  # wrong types on purpose
    assert refused.value.param == param


def test_json_bodies_must_be_utf8() -> None:
    body = '{"filename": "a.png"}'
    assert decode_json_object(body.encode()) == {"filename": "a.png"}
    for encoding in ("utf-16", "utf-16-le", "utf-32"):
        with pytest.raises(InvalidRequest) as refused:
            decode_json_object(body.encode(encoding))
        assert refused.value.code == "invalid_json"


def test_team_policy_is_validated() -> None:
    assert Team("t", content_types={"image/png"}).content_types == frozenset({"image/png"})
    for bad in [{"image/gif"}, set()]:
        with pytest.raises(InvalidRequest):
            Team("t", content_types=bad)
    for cap in [0, -1, True, 1.5]:
        with pytest.raises(InvalidRequest):
            Team("t", max_upload_bytes=cap)  # type: ignore[arg-type]  # wrong types on purpose


@pytest.mark.parametrize("missing", ["filename", "extension", "content_type"])
def test_missing_fields_are_named(missing: str) -> None:
    body = {k: v for k, v in VALID.items() if k != missing}
    with pytest.raises(InvalidRequest) as caught:
        parse_mint_request(body)
    assert (caught.value.code, caught.value.param) == ("missing_parameter", missing)


def test_content_disposition_is_rfc6266_with_rfc5987_fallback() -> None:
    assert content_disposition("front.jpg") == 'attachment; filename="front.jpg"'
    assert content_disposition('ré "x".png') == (
        "attachment; filename=\"r_ _x_.png\"; filename*=UTF-8''r%C3%A9%20%22x%22.png"
    )


@pytest.mark.parametrize("key", [None, "", "sk_live_abcdefgh", "al_live_", "al_live_short", "al_live_bad key!"])
def test_bad_api_keys(key: str | None) -> None:
    with pytest.raises(Unauthenticated):
        parse_api_key(key)


def test_api_version_defaults_and_pins() -> None:
    assert resolve_api_version(None, None) == "2026-05-15"
    assert resolve_api_version(None, Team("t", pinned_version="2026-05-15")) == "2026-05-15"
    known = frozenset({"2026-05-15", "2026-09-01"})
    assert resolve_api_version(None, Team("t", pinned_version="2026-09-01"), known) == "2026-09-01"
    assert resolve_api_version("2026-05-15", Team("t", pinned_version="2026-09-01"), known) == "2026-05-15"
    for bad, code in [
        ("2026-5-15", "invalid_api_version"),
        ("latest", "invalid_api_version"),
        ("2020-01-01", "unknown_api_version"),
        ("2026-05-15\n", "invalid_api_version"),
    ]:
        with pytest.raises(InvalidRequest) as caught:
            resolve_api_version(bad, None)
        assert caught.value.code == code
        assert caught.value.param == "X-Api-Version"


ID = "upl_01HXMQ7Z3K8Y2NABCDEFGHJKMR"
ID2 = "upl_01HXMQ7Z3K8Y2NABCDEFGHJKMS"


def test_consume_takes_one_to_six_distinct_ids() -> None:
    assert parse_consume_request({"upload_ids": [ID]}) == (ID,)
    for body, code in [
        ({"upload_ids": []}, "invalid_upload_count"),
        ({"upload_ids": [ID] * 7}, "invalid_upload_count"),
        ({"upload_ids": [ID, ID]}, "duplicate_upload_ids"),
        ({"upload_ids": ID}, "invalid_type"),
        ({"upload_ids": [ID, 3]}, "invalid_type"),
        ({"upload_ids": [ID, "upl_nope"]}, "invalid_upload_id"),
        ({}, "missing_parameter"),
        ({"upload_ids": [ID], "extra": True}, "unknown_parameter"),
    ]:
        with pytest.raises(InvalidRequest) as caught:
            parse_consume_request(body)
        assert caught.value.code == code, body
    with pytest.raises(InvalidRequest) as caught:
        parse_consume_request({"upload_ids": [ID2, "nope"]})
    assert caught.value.param == "upload_ids[1]"


def test_generate_flow_is_refused_clearly() -> None:
    with pytest.raises(NotSupported) as caught:
        parse_consume_request({"generate": True, "attributes": {}})
    assert caught.value.param == "generate"
    assert caught.value.http_status == 400
    assert parse_consume_request({"upload_ids": [ID], "generate": False}) == (ID,)


@pytest.mark.parametrize("team_id", ["", "a/b", ".hidden", "{tag}", "has space", "x" * 65])
def test_team_ids_that_a_key_layout_would_have_to_escape_are_refused(team_id: str) -> None:
    # Team ids become blob-key segments (staged/<team>/...) and Redis hash tags.
    with pytest.raises(InvalidRequest) as refused:
        Team(team_id)
    assert refused.value.param == "team"
