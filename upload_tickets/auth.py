"""Who is calling: team resolvers for :class:`~upload_tickets.http.HttpApi` and ``AsyncHttpApi``.

A resolver turns a request's head (:class:`RequestContext`) into the :class:`Team`
making it, or raises :class:`Unauthenticated` with a code and, for the 401's
``WWW-Authenticate``, a ``challenge``. :class:`ApiKeyResolver` (``X-Api-Key: al_live_…``
looked up in a :class:`TeamDirectory`) is the default, ``AsyncApiKeyResolver`` its async
twin; bring your own for session cookies, JWT bearer tokens or mTLS (the ASGI ``tls``
extension is in ``transport``). A resolver that reads only headers a browser never
adds by itself declares ``header_credentials = True`` (:func:`header_credentials`): the
Django adapter then exempts its routes from CSRF checks, and keeps them otherwise.
"""

from upload_tickets._async._primitives import header_credentials
from upload_tickets._async.auth import AsyncApiKeyResolver
from upload_tickets._identity import API_KEY_CHALLENGE, RequestContext, hash_api_key
from upload_tickets._sync.auth import ApiKeyResolver

__all__ = [
    "API_KEY_CHALLENGE",
    "ApiKeyResolver",
    "AsyncApiKeyResolver",
    "RequestContext",
    "hash_api_key",
    "header_credentials",
]
