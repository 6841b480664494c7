"""The WSGI entry: ``./dev example django`` serves it under waitress (a stalled upload holds no thread there)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
application = get_wsgi_application()
