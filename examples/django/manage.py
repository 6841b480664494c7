"""The example's command line: ``.venv/bin/python examples/django/manage.py check`` (or upload_tickets_sweep)."""

import os
import sys

from django.core.management import execute_from_command_line

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    execute_from_command_line(sys.argv)
