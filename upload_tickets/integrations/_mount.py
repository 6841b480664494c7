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
        self._provisional = False

    def bind(self, prefix: str, *, provisional: bool = False) -> None:
        """Record ``prefix`` and point the signer's upload URLs under it; a second, different one is an error.

        A ``provisional`` prefix (learnt at startup, where the server's root path is not
        known yet) may be replaced once by the one the first request shows, if that one
        ends with it: ``/uploads`` becomes ``/api/uploads`` behind ``--root-path /api``.
        """
        prefix = prefix.rstrip("/")
        if prefix == self.prefix:
            self._provisional = self._provisional and provisional
            return
        if provisional and self.prefix is not None and self.prefix.endswith(prefix):
            return  # a restart learns again what a request already settled
        follows = self.prefix is not None and self._provisional and not provisional and prefix.endswith(self.prefix)
        if self.prefix is not None and not follows:
            raise ConfigurationError(
                f"this upload-tickets adapter is mounted at {self.prefix!r} and at {prefix!r}:"
                " build one adapter per mount point (behind a proxy that strips a prefix, give the adapter"
                " that prefix as its root_path)"
            )
        signer = self.api.service.signer
        serve_at = getattr(signer, "serve_at", None)
        # Only a signer whose URLs lead to our own upload host has a path to follow.
        if isinstance(signer, VerifyingSigner) and serve_at is not None:
            # Once provisionally bound, the signer's path is the provisional one, which may be replaced.
            unmounted = self.api.upload_path if self.prefix is None else self.prefix + self.api.upload_path
            serve_at(prefix + self.api.upload_path, unmounted=unmounted)
        self.prefix = prefix
        self._provisional = provisional


__all__ = ["MountPoint"]
