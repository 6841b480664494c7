"""Where an adapter is mounted, learnt once: upload URLs then point at the mounted upload host.

The signer is given only the public origin (``https://api.example.com``, from
configuration: never from a request's ``Host``); the path of the upload host is where
the adapter's routes live plus ``HttpApi.upload_path``, so nobody repeats it by hand.
"""

from __future__ import annotations

from upload_tickets._errors import ConfigurationError
from upload_tickets.http import AsyncHttpApi, HttpApi
from upload_tickets.protocols import VerifyingSigner


class MountPoint:
    """The prefix an adapter's routes are served under, and the signer bound to it."""

    def __init__(self, api: AsyncHttpApi | HttpApi) -> None:
        self.api = api
        #: The mount prefix once known (``""`` at the root), else ``None``.
        self.prefix: str | None = None

    def bind(self, prefix: str) -> None:
        """Record ``prefix`` and point the signer's upload URLs under it; a second, different one is an error."""
        prefix = prefix.rstrip("/")
        if prefix == self.prefix:
            return
        if self.prefix is not None:
            raise ConfigurationError(
                f"this upload-tickets adapter is mounted at {self.prefix!r} and at {prefix!r}:"
                " build one adapter per mount point (behind a proxy that strips a prefix, give the adapter"
                " that prefix as its root_path)"
            )
        signer = self.api.service.signer
        serve_at = getattr(signer, "serve_at", None)
        # Only a signer whose URLs lead to our own upload host has a path to follow.
        if isinstance(signer, VerifyingSigner) and serve_at is not None:
            serve_at(prefix + self.api.upload_path, unmounted=self.api.upload_path)
        self.prefix = prefix


__all__ = ["MountPoint"]
