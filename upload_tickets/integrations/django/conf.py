"""The ``UPLOAD_TICKETS`` setting, loaded once per process, and what the views keep for the loaded API.

    UPLOAD_TICKETS = {"API": "project.uploads.api", "SWEEP": 60}

``API`` is a dotted path to an :class:`HttpApi` or :class:`AsyncHttpApi`, or to a
zero-arg callable returning one (the object itself works too). It is imported on first
use (the first request, ``manage.py check``, :func:`get_api`), once: a changed setting
(``override_settings`` in tests) loads it again. ``SWEEP`` is the seconds between sweeps
(default 60), or ``"external"`` when cron runs ``manage.py upload_tickets_sweep``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, TypeAlias, cast

from django.conf import settings
from django.core.signals import setting_changed
from django.urls import reverse
from django.utils.module_loading import import_string

from upload_tickets._errors import ConfigurationError
from upload_tickets.auth import header_credentials
from upload_tickets.http import AsyncHttpApi, HttpApi
from upload_tickets.integrations._mount import MountPoint
from upload_tickets.integrations._own import OwnRoutes
from upload_tickets.integrations.django.sweeping import AsyncSweeping
from upload_tickets.integrations.wsgi import SweepThread, sweep_thread
from upload_tickets.sweeping import DEFAULT_SWEEP_EVERY_S, Sweep, sweep_every

#: The Django setting this app reads.
SETTING = "UPLOAD_TICKETS"
#: The name of the catch-all URL in the include (``reverse(URL_NAME, kwargs={"rest": ""})`` is the mount).
URL_NAME = "upload_tickets:api"
#: What ``API`` may name.
Api: TypeAlias = HttpApi | AsyncHttpApi

_KEYS = ("API", "SWEEP")
_EXAMPLE = "UPLOAD_TICKETS = {'API': 'yourproject.uploads.api', 'SWEEP': 60}"


def options() -> Mapping[str, object]:
    """The ``UPLOAD_TICKETS`` dict, checked for shape: an ``API`` and only the known keys."""
    value = getattr(settings, SETTING, None)
    if value is None:
        raise ConfigurationError(
            f"settings.{SETTING} is missing: set {_EXAMPLE} (API: a dotted path to an HttpApi or AsyncHttpApi,"
            " or to a zero-arg callable returning one)"
        )
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"settings.{SETTING} must be a dict like {_EXAMPLE}, not {type(value).__name__}")
    unknown = sorted(str(key) for key in value if key not in _KEYS)
    if unknown:
        raise ConfigurationError(f"settings.{SETTING} has unknown keys {unknown}: it takes {list(_KEYS)}")
    if "API" not in value:
        raise ConfigurationError(f"settings.{SETTING} names no 'API': set {_EXAMPLE}")
    return cast("Mapping[str, object]", value)


def sweep_setting(config: Mapping[str, object] | None = None) -> Sweep:
    """``SWEEP``: seconds between sweeps (default 60) or ``"external"``; anything else is a ConfigurationError."""
    sweep = (options() if config is None else config).get("SWEEP", DEFAULT_SWEEP_EVERY_S)
    try:
        sweep_every(cast("Sweep", sweep))
    except ConfigurationError:
        raise ConfigurationError(
            f"settings.{SETTING}['SWEEP'] takes the seconds between sweeps run in each serving process (> 0,"
            f" default {DEFAULT_SWEEP_EVERY_S:g}) or 'external' when cron runs `manage.py upload_tickets_sweep`,"
            f" not {sweep!r}"
        ) from None
    return cast("Sweep", sweep)


def _load(named: object) -> Api:
    source = named
    if isinstance(named, str):
        try:
            source = import_string(named)
        except Exception as error:
            raise ConfigurationError(
                f"settings.{SETTING}['API'] = {named!r} could not be imported: {_why(error)}"
            ) from error
    if not isinstance(source, HttpApi | AsyncHttpApi) and callable(source):
        try:
            source = source()
        except Exception as error:
            raise ConfigurationError(
                f"settings.{SETTING}['API'] = {named!r} failed when called: {_why(error)}"
            ) from error
    if not isinstance(source, HttpApi | AsyncHttpApi):
        raise ConfigurationError(
            f"settings.{SETTING}['API'] = {named!r} is a {type(source).__name__}, not an HttpApi or AsyncHttpApi"
            " (nor a zero-arg callable returning one): e.g. api = HttpApi(UploadTickets(...), teams)"
        )
    return source


def _why(error: Exception) -> str:
    # The message may reach API clients: an import error names a module, anything else (a driver's) may name a host.
    if isinstance(error, ImportError):
        return str(error)
    return f"{type(error).__name__} (the traceback is in the log; `manage.py check` shows it)"


def cause(error: ConfigurationError) -> str:
    """``error``'s message, with what caused it (for the log and ``manage.py check``, never for clients)."""
    return f"{error}: {error.__cause__!r}" if error.__cause__ is not None else str(error)


class Runtime:
    """The loaded API with its mount point, its own routes (OpenAPI, health) and this process's sweep."""

    def __init__(self, api: Api, sweep: Sweep) -> None:
        self.api = api
        self.sweep = sweep
        self.mount = MountPoint(api)
        #: Whether the views may skip CSRF checks: the resolver reads no credential a browser adds by itself.
        self.header_credentials = header_credentials(api.resolver)
        #: Started by the first request a process serves; ``None`` for ``"external"``.
        self.sweeping: SweepThread | AsyncSweeping | None = (
            sweep_thread(api, sweep) if isinstance(api, HttpApi) else AsyncSweeping.every(api, sweep)
        )
        self.own_routes = OwnRoutes(api)

    def stop(self) -> None:
        """Stop this process's sweep (a changed setting, tests)."""
        if self.sweeping is not None:
            self.sweeping.stop(timeout=5)


_lock = threading.Lock()
_runtime: Runtime | None = None


def runtime() -> Runtime:
    """The loaded API and its companions, built on first use under a lock (two first requests load it once)."""
    current = _runtime
    if current is not None:
        return current
    return _build()


def _build() -> Runtime:
    global _runtime
    with _lock:
        if _runtime is None:
            config = options()
            sweep = sweep_setting(config)
            _runtime = Runtime(_load(config["API"]), sweep)
        return _runtime


def mount_prefix() -> str:
    """Where the URLconf includes the app, script prefix (``SCRIPT_NAME``/``FORCE_SCRIPT_NAME``) included."""
    path: str = reverse(URL_NAME, kwargs={"rest": ""})
    return path.rstrip("/")


def get_api() -> Api:
    """The configured API, loaded once, its upload URLs bound to where the URLconf includes the app.

    For your own code (a view, a job) that calls ``api.service`` directly. Outside a
    request the script prefix is ``FORCE_SCRIPT_NAME`` (or none), as for ``reverse()``;
    so that binding is provisional: the first request may add its ``SCRIPT_NAME`` once.
    """
    current = runtime()
    current.mount.bind(mount_prefix(), provisional=True)
    return current.api


def reset() -> None:
    """Forget the loaded API and stop its sweep: the next use loads the setting again."""
    global _runtime
    with _lock:
        previous, _runtime = _runtime, None
    if previous is not None:
        previous.stop()


def _setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTING:
        reset()


setting_changed.connect(_setting_changed)

__all__ = ["SETTING", "URL_NAME", "Api", "Runtime", "cause", "get_api", "mount_prefix", "options", "reset", "runtime"]
