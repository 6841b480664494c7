"""The Django app config: registers the system check that verifies the setting and the include at startup."""

from __future__ import annotations

from django.apps import AppConfig


class UploadTicketsConfig(AppConfig):  # type: ignore[misc]  # Django ships no type information
    """The app in ``INSTALLED_APPS``: its system checks and ``manage.py upload_tickets_sweep``."""

    name = "upload_tickets.integrations.django"
    # The last part of the name ("django") would be a confusing label.
    label = "upload_tickets"
    verbose_name = "Upload tickets"

    def ready(self) -> None:
        """Register the system checks (``manage.py check``, runserver, migrate run them)."""
        from django.core import checks

        from upload_tickets.integrations.django.checks import check_configuration

        checks.register(check_configuration)
