"""The bucket lifecycle rule behind the sweep, installed through a boto3 client (an admin step, at deploy time)."""

from __future__ import annotations

from typing import Any

import botocore.exceptions

from upload_tickets.backend_kit import map_errors
from upload_tickets_s3._location import S3Location

# botocore's errors end here: callers see ``StoreUnavailable`` (503).
_mapped_errors = map_errors((botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError), "S3 is unavailable")


def lifecycle_rule(location: S3Location, *, days: int = 2) -> dict[str, Any]:
    """A bucket lifecycle rule expiring the upload prefix after ``days``: eviction's second line of defence.

    Tickets live 24 h and the sweeper deletes their bytes; this rule removes anything it
    missed (a crashed sweeper, an upload for a ticket that was never recorded, a PUT
    replayed after its ticket was consumed). It covers ``location.prefix`` only, never
    ``location.character_prefix``: characters' bytes are kept until the character is deleted.

    ``days`` must exceed the ticket TTL plus the longest promotion lag: a consumed upload
    is copied out of the prefix by the consume, or, if that was cut short, by the next
    sweep (one sweep interval later), and its staged bytes must still be there then.
    S3 counts from the object's creation, rounded up to midnight UTC.
    """
    return {
        "ID": f"upload-tickets-expire-{location.prefix.strip('/') or 'all'}",
        "Filter": {"Prefix": location.prefix},
        "Status": "Enabled",
        "Expiration": {"Days": days},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
    }


def apply_lifecycle_rule(client: Any, location: S3Location, *, days: int = 2) -> dict[str, Any]:
    """Install :func:`lifecycle_rule` on the bucket (keeping other rules) and return it."""
    rule = lifecycle_rule(location, days=days)
    with _mapped_errors:
        try:
            current = client.get_bucket_lifecycle_configuration(Bucket=location.bucket).get("Rules", [])
        except botocore.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") != "NoSuchLifecycleConfiguration":
                raise
            current = []
        rules = [r for r in current if r.get("ID") != rule["ID"]] + [rule]
        client.put_bucket_lifecycle_configuration(Bucket=location.bucket, LifecycleConfiguration={"Rules": rules})
    return rule
