"""``S3Signer``: presigned S3 PUTs for tickets, credentials resolved by botocore."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import botocore.credentials
import botocore.session

from upload_tickets import ConfigurationError, SignedUpload, StoreUnavailable, UploadTicket
from upload_tickets.backend_kit import SECOND_US
from upload_tickets_s3._location import S3Location
from upload_tickets_s3._sigv4 import amz_date, host_header, presign_put

# One map per content type, shared by every URL: read-only, so no caller can change what other mints hand out.
_HEADERS: dict[str, Mapping[str, str]] = {}


class CredentialsExpireTooSoon(StoreUnavailable):
    """The AWS credentials expire before the upload URL would (503): the URL would die early."""

    default_code = "credentials_expiring"


class UploadUrlTooShort(ConfigurationError):
    """The upload URL would live under one whole second, so S3 would get ``X-Amz-Expires=0`` (500)."""

    default_code = "upload_url_too_short"


class S3Signer:
    """Signs a PUT of each ticket's object, binding its Content-Type.

    Credentials come from botocore (environment, profiles, instance roles, SSO...);
    refreshable credentials are refreshed by botocore when near expiry, and a mint is
    refused when they would still expire before the URL does, or when the URL would
    live under one whole second (``X-Amz-Expires`` counts whole seconds).
    """

    def __init__(
        self,
        location: S3Location,
        *,
        session: botocore.session.Session | None = None,
        credentials: botocore.credentials.Credentials | None = None,
    ) -> None:
        self.location = location
        resolved = credentials or (session or botocore.session.get_session()).get_credentials()
        if resolved is None:
            raise StoreUnavailable("no AWS credentials found (environment, profile or role)")
        self._credentials: botocore.credentials.Credentials = resolved
        self._origin = location.origin()
        self._host = host_header(self._origin)
        self._path = location.path_builder()

    def sign_put(self, ticket: UploadTicket) -> SignedUpload:
        """A presigned PUT; the same ticket always gives the same URL."""
        created_s = ticket.created_at // SECOND_US
        expires_at_s = ticket.url_expires_at // SECOND_US
        if expires_at_s - created_s < 1:
            lifetime_s = (ticket.url_expires_at - ticket.created_at) / SECOND_US
            raise UploadUrlTooShort(
                f"the upload URL of {ticket.id} would live {lifetime_s:g} s, "
                "which S3 URLs carry as X-Amz-Expires=0 (dead when minted); "
                "set an upload URL TTL of at least one second"
            )
        frozen = self._frozen_credentials(ticket.url_expires_at)
        url = presign_put(
            origin=self._origin,
            host=self._host,
            path=self._path(ticket.blob_key),
            content_type=ticket.content_type,
            access_key=frozen.access_key,
            secret_key=frozen.secret_key,
            token=frozen.token,
            region=self.location.region,
            # Signed "at" mint time, so re-signing a ticket (idempotent replay) gives the same URL.
            amz_date=amz_date(created_s),
            expires_s=expires_at_s - created_s,
        )
        headers = _HEADERS.get(ticket.content_type)
        if headers is None:
            headers = _HEADERS.setdefault(ticket.content_type, MappingProxyType({"Content-Type": ticket.content_type}))
        return SignedUpload(url=url, headers=headers, expires_at=expires_at_s * SECOND_US)

    def _frozen_credentials(self, url_expires_at_us: int) -> Any:
        credentials = self._credentials
        frozen = credentials.get_frozen_credentials()
        expiry = getattr(credentials, "_expiry_time", None)
        if expiry is not None and expiry.timestamp() * SECOND_US < url_expires_at_us:
            raise CredentialsExpireTooSoon(
                f"the AWS credentials expire at {expiry.isoformat()}, before the upload URL would; "
                "refresh them (or shorten the upload URL TTL)"
            )
        return frozen
