"""The spec's API-key resolver, async source (``ApiKeyResolver`` is generated from it)."""

from __future__ import annotations

from typing import ClassVar

from upload_tickets._async.protocols import AsyncTeamDirectory
from upload_tickets._identity import RequestContext, api_key_from, unknown_key
from upload_tickets._models import Team


class AsyncApiKeyResolver:
    """The spec's auth: an ``X-Api-Key: al_live_…`` header looked up in an :class:`AsyncTeamDirectory`."""

    #: A browser never adds this header by itself, so a forged cross-site request cannot carry it.
    header_credentials: ClassVar[bool] = True

    def __init__(self, directory: AsyncTeamDirectory) -> None:
        self.directory = directory

    async def resolve(self, request: RequestContext) -> Team:
        """The team owning the request's API key, or ``Unauthenticated``."""
        team = await self.directory.team_for_key(api_key_from(request))
        if team is None:
            raise unknown_key()
        return team


__all__ = ["AsyncApiKeyResolver"]
