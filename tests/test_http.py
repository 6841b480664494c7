"""The framework-agnostic HTTP mapping, end to end over the memory backends."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.support import API_KEY_A, API_KEY_B, TEAM_A, mint, post, put
from upload_tickets.http import BodyDeadlines, HttpApi, HttpResponse, PendingRequest
from upload_tickets.testing import image_bytes


def test_full_flow(api: HttpApi) -> None:
    minted = mint(api)
    assert set(minted) == {"upload_id", "upload_url", "upload_headers", "expires_at"}
    assert minted["upload_headers"] == {"Content-Type": "image/png"}
    assert put(api, minted["upload_url"], image_bytes("image/png")).status == 200
    classified = post(api, "/v1/characters/uploads/classify", {"upload_id": minted["upload_id"]})
    assert classified.status == 200
    assert classified.json() == {
        "upload_id": minted["upload_id"],
        "pose": "unknown",
        "width": 8,
        "height": 6,
        "content_type": "image/png",
    }
    created = post(api, "/v1/characters", {"upload_ids": [minted["upload_id"]]})
    assert created.status == 201
    body = created.json()
    assert isinstance(body, dict)
    assert body["id"].startswith("chr_")
    assert body["refs"][0]["upload_id"] == minted["upload_id"]
    state = api.handle("GET", f"/v1/characters/uploads/{minted['upload_id']}", "", {"x-api-key": API_KEY_A}, b"")
    assert state.status == 200
    view = state.json()
    assert isinstance(view, dict)
    assert view["state"] == "consumed"
    assert view["character_id"] == body["id"]


def test_error_body_shape_and_statuses(api: HttpApi) -> None:
    minted = mint(api)
    not_uploaded = post(api, "/v1/characters", {"upload_ids": [minted["upload_id"]]})
    assert not_uploaded.status == 409
    assert not_uploaded.json() == {
        "error": {
            "type": "invalid_request_error",
            "code": "upload_not_uploaded",
            "message": f"cannot consume upload {minted['upload_id']}: it is minted",
            "param": "upload_ids[0]",
        }
    }
    assert post(api, "/v1/characters", {"upload_ids": [minted["upload_id"]]}, key=API_KEY_B).status == 404
    assert post(api, "/v1/characters", {"upload_ids": []}).status == 400
    assert post(api, "/v1/characters", {"generate": True}).status == 400
    assert put(api, minted["upload_url"], b"x", content_type="image/jpeg").status == 415
    assert put(api, str(minted["upload_url"]).replace("sig=", "sig=A"), b"x").status == 403
    unauthenticated = post(api, "/v1/characters/uploads/init", {}, key="al_live_unknown_key_99")
    assert unauthenticated.status == 401
    assert unauthenticated.header("WWW-Authenticate")
    assert api.handle("DELETE", "/v1/characters", "", {}, b"").status == 405
    assert api.handle("GET", "/v2/nothing", "", {}, b"").status == 404


def test_rate_limit_over_http(api: HttpApi) -> None:
    for _ in range(60):
        mint(api)
    refused = post(
        api, "/v1/characters/uploads/init", {"filename": "a.png", "extension": "png", "content_type": "image/png"}
    )
    assert refused.status == 429
    assert refused.header("Retry-After") == "2"
    assert refused.header("RateLimit-Policy") == '"characters_post";q=60;w=120'
    assert refused.header("RateLimit") == '"characters_post";r=0;t=120'
    assert mint(api, key=API_KEY_B)["upload_id"]


def test_version_header_is_echoed_and_checked(api: HttpApi) -> None:
    body = {"filename": "a.png", "extension": "png", "content_type": "image/png"}
    ok = post(api, "/v1/characters/uploads/init", body, x_api_version="2026-05-15")
    assert ok.status == 201
    assert ok.header("X-Api-Version") == "2026-05-15"
    bad = post(api, "/v1/characters/uploads/init", body, x_api_version="2026-13-99")
    assert bad.status == 400
    assert bad.json()["error"]["code"] == "unknown_api_version"


def test_idempotent_replay_over_http(api: HttpApi) -> None:
    body = {"filename": "a.png", "extension": "png", "content_type": "image/png"}
    first = post(api, "/v1/characters/uploads/init", body, idempotency_key="req-1")
    again = post(api, "/v1/characters/uploads/init", body, idempotency_key="req-1")
    assert (first.status, again.status) == (201, 200)
    assert first.json() == again.json()
    assert again.header("Idempotent-Replayed") == "true"
    changed = post(api, "/v1/characters/uploads/init", {**body, "filename": "b.png"}, idempotency_key="req-1")
    assert changed.status == 409


def test_consume_and_classify_take_idempotency_keys_over_http(api: HttpApi) -> None:
    minted = mint(api)
    assert put(api, minted["upload_url"], image_bytes("image/png")).status == 200
    upload = {"upload_id": minted["upload_id"]}
    classified = post(api, "/v1/characters/uploads/classify", upload, idempotency_key="c-1")
    replayed = post(api, "/v1/characters/uploads/classify", upload, idempotency_key="c-1")
    assert (classified.status, replayed.status) == (200, 200)
    assert replayed.json() == classified.json()
    assert replayed.header("Idempotent-Replayed") == "true"
    assert replayed.header("RateLimit") is None  # a replay costs no token
    body = {"upload_ids": [minted["upload_id"]]}
    created = post(api, "/v1/characters", body, idempotency_key="k-1")
    again = post(api, "/v1/characters", body, idempotency_key="k-1")
    assert (created.status, again.status) == (201, 200)
    assert again.json() == created.json()
    assert again.header("Idempotent-Replayed") == "true"
    other = post(api, "/v1/characters", {"upload_ids": [mint(api)["upload_id"]]}, idempotency_key="k-1")
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    taken = post(api, "/v1/characters", body)
    assert taken.status == 409
    assert created.json()["id"] in taken.json()["error"]["message"]


def test_json_bodies_must_be_utf8(api: HttpApi) -> None:
    body = '{"filename": "a.png", "extension": "png", "content_type": "image/png"}'
    for encoding in ("utf-16", "utf-32"):
        refused = api.handle("POST", "/v1/characters/uploads/init", "", {"x-api-key": API_KEY_A}, body.encode(encoding))
        assert (refused.status, refused.json()["error"]["code"]) == (400, "invalid_json")


def test_json_bodies_are_capped(api: HttpApi) -> None:
    huge = api.handle(
        "POST", "/v1/characters/uploads/init", "", {"x-api-key": API_KEY_A}, b'{"filename": "' + b"a" * 70_000 + b'"}'
    )
    assert huge.status == 413


def test_all_post_endpoints_share_the_bucket(api: HttpApi) -> None:
    minted = mint(api)
    assert put(api, minted["upload_url"], image_bytes("image/png")).status == 200
    classified = post(api, "/v1/characters/uploads/classify", {"upload_id": minted["upload_id"]})
    assert classified.header("RateLimit") == '"characters_post";r=58;t=4'
    for _ in range(57):
        mint(api)
    created = post(api, "/v1/characters", {"upload_ids": [minted["upload_id"]]})
    assert created.status == 201
    assert created.header("RateLimit") == '"characters_post";r=0;t=120'
    refused = post(api, "/v1/characters/uploads/classify", {"upload_id": minted["upload_id"]})
    assert refused.status == 429
    assert refused.header("Retry-After") == "2"
    # A malformed request is refused before it costs a token.
    assert post(api, "/v1/characters", {"upload_ids": []}).status == 400


def test_refusals_come_from_the_head_alone(api: HttpApi) -> None:
    minted = mint(api)
    target = urlsplit(str(minted["upload_url"]))
    tampered = target.query.replace("sig=", "sig=A")
    refusals = {
        ("PUT", target.path, tampered, "image/png"): 403,
        ("PUT", target.path, target.query, "image/jpeg"): 415,
        ("PUT", "/v1/characters/uploads/init", "", "image/png"): 405,
        ("POST", "/v1/characters/uploads/init", "", "application/json"): 401,
        ("GET", "/nowhere", "", "application/json"): 404,
    }
    for (method, path, query, content_type), status in refusals.items():
        outcome = api.begin(method, path, query, {"content-type": content_type, "content-length": "10"})
        assert isinstance(outcome, HttpResponse), (method, path)
        assert outcome.status == status
    too_long = api.begin("PUT", target.path, target.query, {"content-length": str(10**9)})
    assert isinstance(too_long, HttpResponse)
    assert too_long.status == 413
    accepted = api.begin("PUT", target.path, target.query, {"content-length": "10"})
    assert isinstance(accepted, PendingRequest)
    assert accepted.route.name == "put_upload"
    assert api.service.get(TEAM_A, str(minted["upload_id"])).state.value == "minted"


def test_405_names_the_allowed_methods(api: HttpApi) -> None:
    for method in ("OPTIONS", "TRACE", "DELETE", "GET"):
        response = api.handle(method, "/v1/characters/uploads/init", "", {}, b"")
        assert (response.status, response.header("Allow")) == (405, "POST")
        assert response.json()["error"]["code"] == "method_not_allowed"


def test_body_deadlines() -> None:
    deadlines = BodyDeadlines(idle_s=5, min_bytes_per_s=1000, grace_s=2)
    # Nothing yet: the rate floor (grace 2 s) comes before the idle deadline (5 s).
    assert deadlines.seconds_left(started=0, last_byte=0, received=0, now=1) == 1
    assert deadlines.seconds_left(started=0, last_byte=0, received=0, now=3) < 0
    # 10 kB bought 10 s at 1 kB/s on top of the grace.
    assert deadlines.seconds_left(started=0, last_byte=9, received=10_000, now=10) == 2
    # Far ahead of the rate, the idle deadline rules.
    assert deadlines.seconds_left(started=0, last_byte=1, received=100_000, now=3) == 3
    with pytest.raises(ValueError, match="idle_s"):
        BodyDeadlines(idle_s=0)


def _get(api: HttpApi, path: str, key: str = API_KEY_A, query: str = "") -> HttpResponse:
    return api.handle("GET", path, query, {"x-api-key": key}, b"")


def test_characters_can_be_read_listed_and_deleted_over_http(api: HttpApi) -> None:
    made = []
    for _ in range(3):
        minted = mint(api)
        assert put(api, minted["upload_url"], image_bytes("image/png")).status == 200
        created = post(api, "/v1/characters", {"upload_ids": [minted["upload_id"]]})
        assert created.status == 201
        made.append(created.json())
    first = made[0]
    assert first["state"] == "ready"
    assert first["refs"][0]["blob_key"].startswith(f"characters/{TEAM_A.id}/{first['id']}/")
    assert _get(api, f"/v1/characters/{first['id']}").json() == first
    assert _get(api, f"/v1/characters/{first['id']}", key=API_KEY_B).status == 404
    page = _get(api, "/v1/characters", query="limit=2").json()
    assert [c["id"] for c in page["data"]] == [c["id"] for c in made[:2]]
    rest = _get(api, "/v1/characters", query=f"limit=2&cursor={page['next_cursor']}").json()
    assert ([c["id"] for c in rest["data"]], rest["next_cursor"]) == ([made[2]["id"]], None)
    assert _get(api, "/v1/characters", key=API_KEY_B).json() == {"data": [], "next_cursor": None}
    for query, param in [("limit=0", "limit"), ("limit=x", "limit"), ("cursor=upl_1", "cursor"), ("page=2", "page")]:
        refused = _get(api, "/v1/characters", query=query)
        assert (refused.status, refused.json()["error"]["param"]) == (400, param), query
    assert _get(api, "/v1/characters/chr_nope").status == 400
    delete = api.handle("DELETE", f"/v1/characters/{first['id']}", "", {"x-api-key": API_KEY_B}, b"")
    assert delete.status == 404
    delete = api.handle("DELETE", f"/v1/characters/{first['id']}", "", {"x-api-key": API_KEY_A}, b"")
    assert (delete.status, delete.body) == (204, b"")
    assert _get(api, f"/v1/characters/{first['id']}").status == 404
    assert api.service.blobs.head(first["refs"][0]["blob_key"]) is None


def test_5xx_bodies_do_not_repeat_driver_messages(caplog: pytest.LogCaptureFixture) -> None:
    from upload_tickets import StoreUnavailable
    from upload_tickets.http import error_response

    leaked = StoreUnavailable("Error 111 connecting to 10.0.3.7:6379. Connection refused.")
    with caplog.at_level("WARNING", logger="upload_tickets"):
        response = error_response(leaked)
    assert response.status == 503
    assert "10.0.3.7" not in response.body.decode()
    assert response.json()["error"]["code"] == "store_unavailable"
    assert "10.0.3.7" in caplog.text  # the operator still sees it
