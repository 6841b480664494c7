"""Where blob keys land in the bucket: staged uploads under ``prefix``, characters under ``character_prefix``."""

from __future__ import annotations

from typing import Literal

import pytest

from upload_tickets_s3 import S3Location, lifecycle_rule

KEYS = [
    "staged/team_a/upl_01J0000000000000000000000A",
    "staged/team_a/upl_01J0000000000000000000000A.0a1b2c3d4e5f",
    "characters/team_a/chr_01J0000000000000000000000B/0",
    "upl_contract.1",
    "staged/tëam ü/upl_x",
]


def test_staged_keys_go_under_the_upload_prefix_and_characters_under_their_own() -> None:
    location = S3Location(bucket="bucket", addressing="path")
    assert location.object_key("staged/team_a/upl_1") == "uploads/staged/team_a/upl_1"
    assert location.object_key("characters/team_a/chr_1/0") == "characters/team_a/chr_1/0"
    custom = S3Location(bucket="bucket", addressing="path", prefix="in/", character_prefix="kept/")
    assert custom.object_key("staged/team_a/upl_1") == "in/staged/team_a/upl_1"
    assert custom.object_key("characters/team_a/chr_1/0") == "kept/team_a/chr_1/0"


@pytest.mark.parametrize(
    ("prefix", "character_prefix"), [("uploads/", "characters/"), ("a/b/", "a/c/"), ("up", "kept")]
)
def test_object_keys_map_back_to_their_blob_keys(prefix: str, character_prefix: str) -> None:
    location = S3Location(bucket="bucket", addressing="path", prefix=prefix, character_prefix=character_prefix)
    assert [location.blob_key(location.object_key(key)) for key in KEYS] == KEYS
    # Objects no blob key maps to: outside both prefixes, or a character key under the upload prefix.
    assert location.blob_key("elsewhere/x") is None
    assert location.blob_key(f"{prefix}characters/x") is None


@pytest.mark.parametrize(
    ("prefix", "character_prefix"),
    [
        ("", "characters/"),  # a rule on the empty prefix expires the whole bucket
        ("uploads/", ""),
        ("data/", "data/characters/"),
        ("characters/staged/", "characters/"),
        ("up", "uploads-kept/"),  # S3 prefixes are string prefixes, not folders
        ("same/", "same/"),
    ],
)
def test_overlapping_prefixes_are_refused(prefix: str, character_prefix: str) -> None:
    with pytest.raises(ValueError, match="must not overlap"):
        S3Location(bucket="bucket", addressing="path", prefix=prefix, character_prefix=character_prefix)


@pytest.mark.parametrize("addressing", ["path", "virtual"])
def test_presigned_paths_follow_the_same_mapping(addressing: Literal["path", "virtual"]) -> None:
    location = S3Location(
        bucket="bucket", endpoint_url="https://storage.example.test/base", addressing=addressing, prefix="up loads/"
    )
    build = location.path_builder()
    assert [build(key) for key in KEYS] == [location.path(key) for key in KEYS]
    assert location.path("characters/team_a/chr_1/0").endswith("/characters/team_a/chr_1/0")
    assert location.path("staged/team_a/upl_1").endswith("/up%20loads/staged/team_a/upl_1")


def test_the_lifecycle_rule_covers_staged_objects_only() -> None:
    location = S3Location(bucket="bucket", addressing="path")
    prefix = lifecycle_rule(location)["Filter"]["Prefix"]
    assert location.object_key("staged/team_a/upl_1").startswith(prefix)
    assert not location.object_key("characters/team_a/chr_1/0").startswith(prefix)
