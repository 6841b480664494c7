"""Who is calling, the parts both flavours share: the request's head and how keys are stored.

See :mod:`upload_tickets.auth` for the resolvers.

A resolver turns a request's head (:class:`RequestContext`) into the :class:`Team`
making it, or raises :class:`Unauthenticated` with a code and, for the 401's
``WWW-Authenticate``, a ``challenge``. :class:`ApiKeyResolver` (``X-Api-Key: al_live_…``
looked up in a :class:`TeamDirectory`) is the default; bring your own for session
cookies, JWT bearer tokens or mTLS (the ASGI ``tls`` extension is in ``transport``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import attrs

from upload_tickets import _rules
from upload_tickets._errors import Unauthenticated

API_KEY_CHALLENGE = 'ApiKey header="X-Api-Key"'


def hash_api_key(api_key: str) -> str:
    """The form every key directory stores an API key in: SHA-256 hex (keys are random, so no salt is needed)."""
    return hashlib.sha256(api_key.encode()).hexdigest()


@attrs.frozen
class RequestContext:
    """The head of a request, as a resolver sees it; ``headers`` names are lower-case.

    ``transport`` holds what the server knows beyond the headers, e.g. the ASGI
    ``tls`` extension (client certificate chain) or the peer address.
    """

    method: str
    path: str
    headers: Mapping[str, str]
    transport: Mapping[str, object] = attrs.field(factory=dict)


def api_key_from(request: RequestContext) -> str:
    """The request's ``X-Api-Key``, well formed, or ``Unauthenticated`` with the challenge."""
    try:
        return _rules.parse_api_key(request.headers.get("x-api-key"))
    except Unauthenticated as error:
        error.challenge = API_KEY_CHALLENGE
        raise


def unknown_key() -> Unauthenticated:
    """The refusal of a key no directory knows (or one revoked)."""
    return Unauthenticated(
        "unknown or revoked API key", code="invalid_api_key", param="X-Api-Key", challenge=API_KEY_CHALLENGE
    )


__all__ = ["API_KEY_CHALLENGE", "RequestContext", "api_key_from", "hash_api_key", "unknown_key"]
