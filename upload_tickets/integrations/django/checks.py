"""The system check (``manage.py check``, runserver): the setting loads, the sweep is set, the URLs are included."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error
from django.urls import NoReverseMatch

from upload_tickets._errors import ConfigurationError
from upload_tickets.integrations.django.conf import (
    SETTING,
    URL_NAME,
    cause,
    mount_prefix,
    options,
    runtime,
    sweep_setting,
)

_INCLUDE = 'path("uploads/", include("upload_tickets.integrations.django.urls"))'


def check_configuration(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """Errors for a setting that does not load, a bad ``SWEEP`` and an URLconf without the include."""
    errors: list[Any] = []
    try:
        config = options()
    except ConfigurationError as error:
        return [Error(str(error), hint=f"see {SETTING} in docs/integrations/django.md", id="upload_tickets.E001")]
    try:
        sweep_setting(config)
    except ConfigurationError as error:
        hint = "e.g. 'SWEEP': 60 (a thread per process, started by its first request), or 'SWEEP': 'external'"
        errors.append(Error(str(error), hint=hint, id="upload_tickets.E003"))
    else:
        try:
            runtime()
        except ConfigurationError as error:
            hint = "API names an HttpApi (sync views) or an AsyncHttpApi (async views), or a callable returning one"
            errors.append(Error(cause(error), hint=hint, id="upload_tickets.E002"))
    try:
        mount_prefix()
    except NoReverseMatch:
        errors.append(
            Error(
                f"the URLconf does not include upload_tickets.integrations.django.urls (no URL named {URL_NAME!r})",
                hint=f"add {_INCLUDE} to your urlpatterns",
                id="upload_tickets.E004",
            )
        )
    except Exception as error:
        # Django's own URL check reports a broken URLconf; this one only says what it could not verify.
        errors.append(
            Error(f"could not look the include up: {error}", hint=f"add {_INCLUDE}", id="upload_tickets.E004")
        )
    return errors


__all__ = ["check_configuration"]
