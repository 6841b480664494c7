"""The spec's HTTP surface as a Flask blueprint over the sync facade: ``app.register_blueprint(uploads, ...)``.

    uploads = UploadTicketsBlueprint(HttpApi(service, teams))
    app.register_blueprint(uploads, url_prefix="/uploads")

Every route (init, the upload host's signed PUT, classify, characters, upload status)
sits under the blueprint's ``url_prefix``; routing is left to :class:`HttpApi`, so a 404
or 405 below the prefix is the spec's JSON. The team comes from the api's (sync)
resolver. A body is read from ``request.stream`` in pieces and streamed into the blob
store, never spooled. Upload URLs point under the prefix: the mount is bound when the
blueprint is registered (``APPLICATION_ROOT`` plus ``url_prefix``) and checked against
``SCRIPT_NAME`` at request time.

WSGI gives an app no way to time a body read: under a server that hands a request to a
thread before its body is in (gunicorn's sync and gthread workers), each stalled upload
holds a thread. Waitress buffers bodies first; the integration guide shows the options.

The sweep runs on a daemon thread per process, started by the first request the app
serves there, one process at a time through the store's lease (``sweep="external"``
when cron runs ``flask upload-tickets sweep``).
"""

from __future__ import annotations

try:
    import flask
except ImportError as error:
    raise ImportError("upload_tickets.integrations.flask needs Flask: pip install 'upload-tickets[flask]'") from error

import logging
from collections.abc import Callable

import click
from flask.sansio.blueprints import BlueprintSetupState
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge

from upload_tickets import ConfigurationError, InvalidRequest, PayloadTooLarge
from upload_tickets.http import HttpApi, HttpResponse
from upload_tickets.integrations._mount import MountPoint
from upload_tickets.integrations._own import OwnRoutes
from upload_tickets.integrations.wsgi import respond, sweep_thread
from upload_tickets.sweeping import DEFAULT_SWEEP_EVERY_S, Sweep, Sweeper, heartbeat_text, report_text, sweep_every

logger = logging.getLogger("upload_tickets.flask")

# Every method reaches HttpApi, which answers a wrong one with the spec's 405.
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class UploadTicketsBlueprint(flask.Blueprint):
    """The spec's routes as a :class:`flask.Blueprint` over a sync :class:`HttpApi`; register it under a url_prefix.

    ``sweep`` is the seconds between sweeps run by this process's sweep thread, or
    ``"external"`` when cron runs ``flask upload-tickets sweep``. One blueprint serves
    one mount point: registering it under a second prefix is a configuration error.
    """

    def __init__(self, api: HttpApi, *, sweep: Sweep = DEFAULT_SWEEP_EVERY_S, name: str = "upload_tickets") -> None:
        if not isinstance(api, HttpApi):
            raise ConfigurationError(
                f"the Flask blueprint serves a sync HttpApi over UploadTickets, not {type(api).__name__}"
                " (in tests: upload_tickets.testing.kit.memory_api())"
            )
        super().__init__(name, __name__, cli_group="upload-tickets")
        self.api = api
        self.mount = MountPoint(api)
        #: The interval of the sweep thread, ``None`` when the sweep runs elsewhere.
        self.sweep_every_s = sweep_every(sweep)
        #: This process's sweep thread (``None`` for ``"external"``).
        self.sweeping = sweep_thread(api, sweep)
        self._url_prefix: str | None = None
        self.own_routes = OwnRoutes(api)
        self.record(self._registered)
        self.before_app_request(self._start_sweeping)
        for rule in ("/", "/<path:rest>"):
            self.add_url_rule(rule, "api", self._serve, methods=_METHODS, strict_slashes=False)
        self.cli.add_command(_sweep_command(self))

    def _registered(self, state: BlueprintSetupState) -> None:
        url_prefix = (state.url_prefix or "").rstrip("/")
        # Bound now, not at the first request: a mint from a CLI command or a background job gets the right URLs.
        root: str = state.app.config.get("APPLICATION_ROOT") or "/"
        self.mount.bind(root.rstrip("/") + url_prefix)
        self._url_prefix = url_prefix

    def _start_sweeping(self) -> None:
        if self.sweeping is not None:
            self.sweeping.ensure_started()

    def _serve(self, rest: str = "") -> flask.Response:
        request = flask.request
        path = "/" + rest
        try:
            prefix = self._check_mount(request.root_path)
        except ConfigurationError as error:
            logger.error("%s", error)
            return _answer(self.api.error_response(error))
        own = self.own_routes.answer(request.method, path, prefix)
        if own is not None:
            return _answer(own)
        headers = {name.lower(): value for name, value in request.headers.items()}
        transport = {
            "client": (request.environ.get("REMOTE_ADDR"), request.environ.get("REMOTE_PORT")),
            "scheme": request.scheme,
        }
        query = request.query_string.decode("latin-1")
        return _answer(respond(self.api, request.method, path, query, headers, _reader(request), transport))

    def _check_mount(self, script_name: str) -> str:
        """The prefix requests reach the routes under; a ``SCRIPT_NAME`` the URLs were not bound to is an error."""
        bound = self.mount.prefix or ""
        if not script_name:
            # A proxy that strips a prefix leaves no trace: the URLs stay as registered.
            return bound
        served = script_name.rstrip("/") + (self._url_prefix or "")
        if served != bound:
            raise ConfigurationError(
                f"this Flask app is served under SCRIPT_NAME {script_name!r} but its upload URLs were bound to"
                f" {bound!r} when the blueprint was registered: set app.config['APPLICATION_ROOT'] ="
                f" {script_name.rstrip('/')!r} before app.register_blueprint(...)"
            )
        return served


def _reader(request: flask.Request) -> Callable[[int], bytes]:
    """``read(n)`` over ``request.stream`` (bounded by Content-Length), werkzeug's refusals as the spec's errors."""

    def read(size: int) -> bytes:
        try:
            return request.stream.read(size)
        except RequestEntityTooLarge:
            limit = request.max_content_length
            raise PayloadTooLarge(
                f"the body is larger than this app's MAX_CONTENT_LENGTH ({limit} bytes)", param="Content-Length"
            ) from None
        except ClientDisconnected:
            raise InvalidRequest("the body ended before its Content-Length", code="incomplete_body") from None

    return read


def _answer(response: HttpResponse) -> flask.Response:
    return flask.Response(response.body, status=response.status, headers=list(response.headers))


def _sweep_command(blueprint: UploadTicketsBlueprint) -> click.Command:
    interval = blueprint.sweep_every_s or DEFAULT_SWEEP_EVERY_S

    @click.command("sweep")
    @click.option("--status", is_flag=True, help="Print the last sweep's heartbeat; exit 1 if none or stale.")
    @click.option(
        "--max-age",
        type=float,
        default=2 * interval,
        show_default=True,
        help="With --status: seconds after which the last sweep counts as stale.",
    )
    def sweep(status: bool, max_age: float) -> None:
        """Evict expired tickets and their bytes once (one process at a time), or check the last sweep."""
        sweeper = Sweeper(blueprint.api.service, every_s=interval)
        if status:
            _status(sweeper, max_age)
            return
        try:
            report = sweeper.run_once()
        finally:
            # The next cron run is another process: it must not wait for this lease to lapse.
            sweeper.release()
        if report is None:
            click.echo("another process holds the sweep lease and sweeps now: nothing done here")
            return
        click.echo(report_text(report))
        if report.skipped:
            raise SystemExit(1)

    return sweep


def _status(sweeper: Sweeper, max_age_s: float) -> None:
    now_us = sweeper.service.clock.now_us()
    text, alive = heartbeat_text(sweeper.last_sweep(), now_us, max_age_s, run_hint="flask upload-tickets sweep")
    click.echo(text, err=not alive)
    if not alive:
        raise SystemExit(1)


__all__ = ["UploadTicketsBlueprint"]
