"""The ASGI entry: ``./dev example django-asgi`` serves it under uvicorn, with async views over the async API."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
os.environ.setdefault("UPLOAD_TICKETS_API", "project.uploads.async_api")
application = get_asgi_application()
