"""The ``upload-tickets`` command: serve, keys create | list | revoke, sweep."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import shlex
import shutil
import sys
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

import anyio
import attrs
import sqlalchemy as sa

from upload_tickets import DEFAULT_API_VERSION, AsyncSweeper, AsyncUploadTickets, SweepBeat, SweepReport
from upload_tickets.sweeping import DEFAULT_SWEEP_EVERY_S, default_holder, heartbeat_text, report_text
from upload_tickets_server.build import build, build_service, close_backend
from upload_tickets_server.keys import KEY_PREFIX_LENGTH, KEY_START, KeyInfo, SqlTeamDirectory
from upload_tickets_server.settings import Settings, env_default

_DEFAULTS = Settings()
PROGRAM = "upload-tickets"
DEV_TEAM = "dev"
_ENV_NOTE = "An option's environment variable, in brackets, replaces its default."

# A 1x1 PNG, so the walkthrough needs no image of your own.
_TINY_PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"


def walkthrough(base_url: str, api_key: str) -> str:
    """A ready-to-paste shell session: init, PUT, classify, create character."""
    extract = "python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])'"
    json_header = "-H 'Content-Type: application/json'"
    return f"""\
KEY={api_key}
BASE={base_url}
R=$(curl -s -X POST "$BASE/v1/characters/uploads/init" -H "X-Api-Key: $KEY" {json_header} \\
  -d '{{"filename":"front.png","extension":"png","content_type":"image/png"}}'); echo "$R"
UPLOAD_ID=$(printf '%s' "$R" | {extract} upload_id)
UPLOAD_URL=$(printf '%s' "$R" | {extract} upload_url)
python3 -c 'import base64,sys; sys.stdout.buffer.write(base64.b64decode(sys.argv[1]))' {_TINY_PNG_B64} > front.png
curl -s -X PUT "$UPLOAD_URL" -H 'Content-Type: image/png' --data-binary @front.png; echo
curl -s -X POST "$BASE/v1/characters/uploads/classify" -H "X-Api-Key: $KEY" {json_header} \\
  -d "{{\\"upload_id\\":\\"$UPLOAD_ID\\"}}"; echo
curl -s -X POST "$BASE/v1/characters" -H "X-Api-Key: $KEY" {json_header} \\
  -d "{{\\"upload_ids\\":[\\"$UPLOAD_ID\\"]}}"; echo
"""


@attrs.frozen
class _Option:
    flag: str
    field: str
    convert: Callable[[str], object]
    default: object
    help: str
    unset: str | None = None  # the help's default when ``default`` is None

    @property
    def dest(self) -> str:
        """The argparse destination, which also names the environment variable."""
        return self.flag.removeprefix("--").replace("-", "_")


_OPTIONS = (
    _Option("--host", "host", str, _DEFAULTS.host, "interface to listen on"),
    _Option("--port", "port", int, _DEFAULTS.port, "port to listen on"),
    _Option("--public-url", "public_url", str, None, "URL clients use to reach this server", "http://HOST:PORT"),
    _Option(
        "--data-dir", "data_dir", Path, str(_DEFAULTS.data_dir), "where the SQLite files, signing keys and blobs live"
    ),
    _Option(
        "--store-url",
        "store_url",
        str,
        None,
        "ticket store URL, e.g. postgresql+psycopg://..., redis://...",
        "SQLite in the data dir",
    ),
    _Option("--keys-url", "keys_url", str, None, "API key database URL", "SQLite in the data dir"),
    _Option("--upload-url-ttl", "upload_url_ttl_s", int, _DEFAULTS.upload_url_ttl_s, "signed URL lifetime, seconds"),
    _Option("--ticket-ttl", "ticket_ttl_s", int, _DEFAULTS.ticket_ttl_s, "ticket lifetime, seconds"),
    _Option("--rate", "rate_per_minute", int, _DEFAULTS.rate_per_minute, "sustained requests per minute per team"),
    _Option("--burst", "burst", int, _DEFAULTS.burst, "burst size per team"),
    _Option("--max-bytes", "max_upload_bytes", int, _DEFAULTS.max_upload_bytes, "largest accepted upload, bytes"),
    _Option(
        "--sweep-interval",
        "sweep_interval_s",
        float,
        _DEFAULTS.sweep_interval_s,
        "seconds between evictions, 0 for never",
    ),
    _Option(
        "--body-idle-timeout",
        "body_idle_timeout_s",
        float,
        _DEFAULTS.body_idle_timeout_s,
        "seconds a request body may go without a byte before 408",
    ),
    _Option("--body-min-rate", "body_min_rate", int, _DEFAULTS.body_min_rate, "slowest accepted body rate, bytes/s"),
    _Option("--body-grace", "body_grace_s", float, _DEFAULTS.body_grace_s, "seconds before the minimum rate applies"),
    _Option(
        "--s3-bucket",
        "s3_bucket",
        str,
        None,
        "upload straight to this S3 bucket (credentials as for boto3)",
        "none: uploads come to this server, bytes go to the data dir",
    ),
    _Option("--s3-endpoint", "s3_endpoint", str, None, "S3-compatible endpoint URL", "AWS"),
    _Option("--s3-region", "s3_region", str, _DEFAULTS.s3_region, "S3 region"),
    _Option(
        "--s3-prefix", "s3_prefix", str, _DEFAULTS.s3_prefix, "key prefix of staged uploads (the lifecycle rule's)"
    ),
    _Option(
        "--s3-character-prefix",
        "s3_character_prefix",
        str,
        _DEFAULTS.s3_character_prefix,
        "key prefix of characters' copies (never expired)",
    ),
    _Option("--s3-addressing", "s3_addressing", str, _DEFAULTS.s3_addressing, "path or virtual"),
)
_KEYS_OPTIONS = frozenset({"data_dir", "keys_url"})
# What a sweep touches: the ticket store and the blobs (files in the data dir, or S3).
_SWEEP_OPTIONS = frozenset({"data_dir", "store_url", *(o.dest for o in _OPTIONS if o.dest.startswith("s3_"))})


def _add_options(parser: argparse.ArgumentParser, only: Collection[str] | None = None) -> argparse.ArgumentParser:
    for option in _OPTIONS:
        if only is None or option.dest in only:
            env = f"UPLOAD_TICKETS_{option.dest.upper()}"
            # The built-in default, never the environment's value: that may hold a password.
            shown = option.unset if option.default is None else str(option.default)
            parser.add_argument(
                option.flag,
                dest=option.dest,
                default=env_default(option.dest, option.default),
                help=f"{option.help} (default: {shown}) [${env}]".replace("%", "%%"),
            )
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    """Settings from the options the subcommand has; the others keep their defaults."""
    changes: dict[str, Any] = {}
    for option in _OPTIONS:
        value = getattr(args, option.dest, None)
        if value is not None:
            changes[option.field] = option.convert(value)
    return attrs.evolve(_DEFAULTS, **changes)


def _program() -> str:
    """How to run this command again from here: ``upload-tickets``, or its path when that is not on PATH."""
    invoked = sys.argv[0]
    if Path(invoked).name != PROGRAM:
        return PROGRAM  # python -m upload_tickets_server.cli, or an embedding: the installed name
    on_path = shutil.which(PROGRAM)
    if on_path is not None and Path(on_path).resolve() == Path(invoked).resolve():
        return PROGRAM
    return shlex.quote(invoked)  # e.g. .venv-serve/bin/upload-tickets, as ./dev serve runs it


def keys_flags(settings: Settings) -> str:
    """The flags that point ``keys`` at the key database ``serve`` uses, if not the default one."""
    if settings.keys_url is not None:
        shown = sa.make_url(settings.keys_url).render_as_string(hide_password=True)
        return f" --keys-url {shlex.quote(shown)}"
    if settings.data_dir != _DEFAULTS.data_dir:
        return f" --data-dir {shlex.quote(str(settings.data_dir))}"
    return ""


def start_message(settings: Settings, teams: SqlTeamDirectory, *, show_walkthrough: bool = False) -> str:
    """What ``serve`` prints before it listens: the walkthrough on a first start, then how to go on."""
    parts = []
    first_start = teams.count() == 0
    if first_start or show_walkthrough:
        key = teams.create_key(DEV_TEAM)
        made = "First start: created" if first_start else "Created"
        parts.append(
            f"{made} a key for team {DEV_TEAM!r} (shown once, stored hashed).\n"
            f"Try the whole flow:\n\n{walkthrough(settings.base_url, key)}"
        )
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    listening = f"Listening on http://{host}:{settings.port}"
    if settings.public_url is not None:
        listening += f" (clients use {settings.base_url})"
    program, flags = _program(), keys_flags(settings)
    parts.append(
        f"{listening}\n"
        f"  an API key for a team:  {program} keys create TEAM{flags}\n"
        f"  the keys so far:        {program} keys list{flags}\n"
        f"  the curl walkthrough:   restart with --walkthrough (it makes a new key for team {DEV_TEAM!r})"
    )
    return "\n".join(parts)


def serve(settings: Settings, log_level: str = "info", *, show_walkthrough: bool = False) -> int:
    """Run the server until interrupted."""
    import uvicorn

    from upload_tickets_server.app import create_app

    api, teams, shutdown = build(settings)
    print(start_message(settings, teams, show_walkthrough=show_walkthrough), flush=True)
    app = create_app(
        api,
        sweep=settings.sweep_interval_s or "external",
        deadlines=settings.body_deadlines,
        on_shutdown=shutdown,
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level)
    return 0


def _timestamp(moment: dt.datetime | None) -> str:
    return "never" if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def key_line(info: KeyInfo) -> str:
    """One ``keys list`` line: id, team, prefix, created, last used, revoked."""
    revoked = "active" if info.revoked_at is None else f"revoked {_timestamp(info.revoked_at)}"
    return (
        f"{info.key_id}  {info.team}  {info.key_prefix}\u2026  created {_timestamp(info.created_at)}"
        f"  last used {_timestamp(info.last_used_at)}  {revoked}"
    )


def _keys(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    settings = _settings(args)
    if settings.keys_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    teams = SqlTeamDirectory(settings.effective_keys_url)
    try:
        if args.keys_command == "create":
            team = args.team if args.team is not None else args.team_option
            if team is None or (args.team is not None and args.team_option not in (None, args.team)):
                parser.error("keys create: give the team once, as TEAM (or --team)")
            try:
                print(teams.create_key(team, args.pinned_version))
            except ValueError as error:
                parser.error(str(error))
        elif args.keys_command == "list":
            try:
                for info in teams.list_keys(args.team):
                    print(key_line(info), flush=True)
            except BrokenPipeError:
                # Piped into head and the like: the reader had enough. Python would report
                # the pipe again when it flushes stdout at exit, so point stdout elsewhere.
                sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        else:
            revoked = teams.revoke_key(args.key)
            if revoked is None:
                shown = args.key[:KEY_PREFIX_LENGTH] + "\u2026" if args.key.startswith(KEY_START) else args.key
                print(f"upload-tickets keys revoke: no key {shown!r} (use an id from 'keys list')", file=sys.stderr)
                return 1
            when = _timestamp(revoked.revoked_at)
            print(f"revoked {revoked.key_id} (team {revoked.team}, {revoked.key_prefix}\u2026) at {when}")
    finally:
        teams.dispose()
    return 0


async def sweep_until_done(service: AsyncUploadTickets, every_s: float) -> SweepReport | None:
    """Sweep until a pass finds nothing more to do, holding the store's sweep lease; ``None`` if another holds it.

    The lease keeps a cron job off a store an app server is sweeping right now; the
    heartbeat it records is what ``sweep --status`` reads. Closes the store after.
    """
    sweeper = AsyncSweeper(service, every_s=every_s, holder=f"cli:{default_holder()}")
    try:
        report = await sweeper.run_once(until_done=True)
        await sweeper.release()
        return report
    finally:
        await close_backend(service)


async def last_sweep(service: AsyncUploadTickets) -> SweepBeat | None:
    """The heartbeat of the last finished sweep in the store. Closes the store after."""
    try:
        return await AsyncSweeper(service).last_sweep()
    finally:
        await close_backend(service)


def _sweep(settings: Settings, *, status: bool, max_age_s: float | None) -> int:
    every_s = settings.sweep_interval_s or DEFAULT_SWEEP_EVERY_S
    service = build_service(settings)
    if status:
        return _sweep_status(anyio.run(last_sweep, service), service.clock.now_us(), max_age_s or 3 * every_s)
    report = anyio.run(sweep_until_done, service, every_s)
    if report is None:
        print("another process holds the sweep lease and is sweeping; nothing done")
        return 0
    print(report_text(report))
    return 1 if report.skipped else 0


def _sweep_status(beat: SweepBeat | None, now_us: int, max_age_s: float) -> int:
    text, alive = heartbeat_text(beat, now_us, max_age_s, run_hint="upload-tickets sweep")
    print(text)
    return 0 if alive else 1


def build_parser() -> argparse.ArgumentParser:
    """The ``upload-tickets`` argument parser; each subcommand has only the options it uses."""
    root = argparse.ArgumentParser(prog="upload-tickets", description="Direct uploads through signed URLs.")
    commands = root.add_subparsers(dest="command", required=True)
    serve_parser = _add_options(commands.add_parser("serve", help="run the reference server", epilog=_ENV_NOTE))
    serve_parser.add_argument(
        "--log-level",
        default=env_default("log_level", "info"),
        help="uvicorn log level; warning: no access log (default: info) [$UPLOAD_TICKETS_LOG_LEVEL]",
    )
    serve_parser.add_argument(
        "--walkthrough",
        action="store_true",
        help=f"make a key for team {DEV_TEAM!r} and print the curl walkthrough (default: on the first start only)",
    )
    keys = commands.add_parser("keys", help="manage API keys").add_subparsers(dest="keys_command", required=True)
    create = _add_options(
        keys.add_parser("create", help="create an API key for a team and print it", epilog=_ENV_NOTE), _KEYS_OPTIONS
    )
    create.add_argument("team", nargs="?", metavar="TEAM", help="the team the key acts for")
    create.add_argument("--team", dest="team_option", metavar="TEAM", help=argparse.SUPPRESS)
    create.add_argument(
        "--pin-version",
        "--pinned-version",
        dest="pinned_version",
        metavar="V",
        default=None,
        help=(
            "the API version a request without X-Api-Version gets, YYYY-MM-DD"
            f" (default: unpinned, i.e. {DEFAULT_API_VERSION})"
        ),
    )
    listing = _add_options(
        keys.add_parser(
            "list", help="one line per key: id, team, prefix, created, last used, revoked", epilog=_ENV_NOTE
        ),
        _KEYS_OPTIONS,
    )
    listing.add_argument("--team", default=None, help="only this team's keys (default: every team's)")
    revoke = _add_options(
        keys.add_parser("revoke", help="revoke a key; it fails from the next request on", epilog=_ENV_NOTE),
        _KEYS_OPTIONS,
    )
    revoke.add_argument("key", metavar="KEY_ID", help="the id 'keys list' shows, or the key itself")
    sweep = _add_options(
        commands.add_parser("sweep", help="evict expired tickets and their bytes once", epilog=_ENV_NOTE),
        _SWEEP_OPTIONS,
    )
    sweep.add_argument(
        "--status",
        action="store_true",
        help="print the last finished sweep (any process's) instead; exit 1 if none or stale (default: sweep)",
    )
    sweep.add_argument(
        "--max-age",
        type=float,
        default=None,
        metavar="S",
        help="with --status: how old the last sweep may be, in seconds (default: 3 sweep intervals)",
    )
    return root


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``upload-tickets``."""
    root = build_parser()
    args = root.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Schema migrations narrate every plugin and step at INFO; only their problems matter here.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if args.command == "serve":
        return serve(_settings(args), args.log_level, show_walkthrough=args.walkthrough)
    if args.command == "keys":
        return _keys(args, root)
    return _sweep(_settings(args), status=args.status, max_age_s=args.max_age)


if __name__ == "__main__":
    sys.exit(main())
