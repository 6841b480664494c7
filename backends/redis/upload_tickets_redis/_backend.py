"""Where ``RedisBackend`` and its error mapping lived before the async flavour: kept for older imports.

The backend is now written once in ``_async/_backend.py`` (``AsyncRedisBackend``) and
its sync twin generated into ``_sync/_backend.py``; the error mapping is ``_errors``.
"""

from __future__ import annotations

from upload_tickets_redis._errors import DRIVER_ERRORS as _DRIVER_ERRORS
from upload_tickets_redis._errors import UNREACHABLE as _UNREACHABLE
from upload_tickets_redis._errors import mapped_errors as _mapped_errors
from upload_tickets_redis._sync._backend import RedisBackend

__all__ = ["RedisBackend", "_DRIVER_ERRORS", "_UNREACHABLE", "_mapped_errors"]
