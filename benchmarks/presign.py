"""Our S3 presign next to botocore's generate_presigned_url, on identical inputs and output."""

from __future__ import annotations

import datetime
from unittest import mock

import boto3
from botocore.config import Config
from botocore.credentials import Credentials

from benchmarks._harness import Figure, side_by_side
from upload_tickets.testing import make_ticket
from upload_tickets_s3 import S3Location, S3Signer

_KEY, _SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def run(*, calls: int, rounds: int) -> list[Figure]:
    """Time both presigners on one ticket after checking they agree byte for byte."""
    location = S3Location(bucket="uploads-bench", region="eu-west-3", prefix="uploads/")
    ticket = make_ticket(now_us=1_790_000_000_000_000)
    ours = S3Signer(location, credentials=Credentials(_KEY, _SECRET))
    client = boto3.client(
        "s3",
        region_name="eu-west-3",
        aws_access_key_id=_KEY,
        aws_secret_access_key=_SECRET,
        config=Config(signature_version="s3v4", s3={"addressing_style": "virtual"}),
    )
    params = {"Bucket": location.bucket, "Key": location.object_key(ticket.blob_key), "ContentType": "image/jpeg"}
    expires = (ticket.url_expires_at - ticket.created_at) // 1_000_000
    minted = datetime.datetime.fromtimestamp(ticket.created_at // 1_000_000, datetime.UTC).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=minted):
        reference = client.generate_presigned_url("put_object", Params=params, ExpiresIn=expires)
    assert ours.sign_put(ticket).url == reference, "the fast path must give botocore's exact URL"
    return [
        side_by_side(
            "presign PUT (ours)",
            lambda: ours.sign_put(ticket),
            "botocore generate_presigned_url",
            lambda: client.generate_presigned_url("put_object", Params=params, ExpiresIn=expires),
            calls=calls,
            rounds=rounds,
            target="<= 1/15 (>= 15x faster)",
        )
    ]
