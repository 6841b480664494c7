"""The spec's HTTP surface as a Django app: settings-configured, mounted by an ``include``.

    INSTALLED_APPS = [..., "upload_tickets.integrations.django"]
    UPLOAD_TICKETS = {"API": "project.uploads.api", "SWEEP": 60}
    urlpatterns = [path("uploads/", include("upload_tickets.integrations.django.urls"))]

``API`` names an :class:`~upload_tickets.http.HttpApi` (sync views, under WSGI) or an
:class:`~upload_tickets.http.AsyncHttpApi` (async views, native under ASGI), loaded once
per process. Every route sits below the include and routing is left to the API, so a
404 or 405 there is the spec's JSON. Upload URLs point at the include's path (plus
``SCRIPT_NAME``/``FORCE_SCRIPT_NAME``). The sweep runs in each serving process, started
by its first request (``"SWEEP": "external"`` when cron runs ``manage.py
upload_tickets_sweep``); ``manage.py check`` verifies the setting and the include.
"""

from __future__ import annotations

try:
    import django  # noqa: F401
except ImportError as error:
    raise ImportError(
        "upload_tickets.integrations.django needs Django: pip install 'upload-tickets[django]'"
    ) from error

from upload_tickets.integrations.django.conf import get_api

__all__ = ["get_api"]
