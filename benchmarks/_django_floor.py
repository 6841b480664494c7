"""Django's own floor under ASGI: an async view that answers a constant, behind the example's middleware.

``benchmarks/adapters.py`` sets the Django ASGI adapter next to it: Django's ASGI handler
costs milliseconds per request by itself (thread hops for its signals), which a plain
ASGI baseline would charge to the adapter.
"""

from __future__ import annotations

from django.conf import settings
from django.core.asgi import get_asgi_application
from django.http import HttpRequest, JsonResponse
from django.urls import path

settings.configure(
    SECRET_KEY="benchmark-only",
    ALLOWED_HOSTS=["127.0.0.1"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=["django.middleware.common.CommonMiddleware", "django.middleware.csrf.CsrfViewMiddleware"],
    INSTALLED_APPS=[],
)


async def constant(request: HttpRequest, upload_id: str) -> JsonResponse:
    """What a status read answers, without reading anything."""
    return JsonResponse({"upload_id": upload_id, "state": "uploaded"})


urlpatterns = [path("uploads/v1/characters/uploads/<str:upload_id>", constant)]
application = get_asgi_application()
