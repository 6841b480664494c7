"""upload-tickets in a Django project: the app, its setting, and nothing Django does not need (no database)."""

import os

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-a-secret")
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["upload_tickets.integrations.django"]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware", "django.middleware.csrf.CsrfViewMiddleware"]
ROOT_URLCONF = "project.urls"
# The sync API for WSGI (waitress); asgi.py picks its async twin, whose views run on uvicorn's loop.
# The sweep runs on each serving process (SWEEP: seconds), or "external" for cron: manage.py upload_tickets_sweep.
UPLOAD_TICKETS = {"API": os.environ.get("UPLOAD_TICKETS_API", "project.uploads.api"), "SWEEP": 60}
