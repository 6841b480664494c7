"""The ``upload-tickets`` command: serve, keys create, sweep."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from upload_tickets_server.build import build
from upload_tickets_server.settings import Settings, env_default

_DEFAULTS = Settings()

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


def _settings(args: argparse.Namespace) -> Settings:
    return Settings(
        host=args.host,
        port=int(args.port),
        public_url=args.public_url,
        data_dir=Path(args.data_dir),
        store_url=args.store_url,
        keys_url=args.keys_url,
        upload_url_ttl_s=int(args.upload_url_ttl),
        ticket_ttl_s=int(args.ticket_ttl),
        rate_per_minute=int(args.rate),
        burst=int(args.burst),
        max_upload_bytes=int(args.max_bytes),
        sweep_interval_s=float(args.sweep_interval),
        body_idle_timeout_s=float(args.body_idle_timeout),
        body_min_rate=int(args.body_min_rate),
        body_grace_s=float(args.body_grace),
        s3_bucket=args.s3_bucket,
        s3_endpoint=args.s3_endpoint,
        s3_region=args.s3_region,
        s3_prefix=args.s3_prefix,
        s3_character_prefix=args.s3_character_prefix,
        s3_addressing=args.s3_addressing,
    )


def _add_settings(parser: argparse.ArgumentParser) -> None:
    def option(flag: str, name: str, default: object, help_text: str) -> None:
        env = f"UPLOAD_TICKETS_{name.upper()}"
        parser.add_argument(flag, dest=name, default=env_default(name, default), help=f"{help_text} [${env}]")

    option("--host", "host", _DEFAULTS.host, "interface to listen on")
    option("--port", "port", _DEFAULTS.port, "port to listen on")
    option("--public-url", "public_url", None, "URL clients use to reach this server (default http://HOST:PORT)")
    option("--data-dir", "data_dir", str(_DEFAULTS.data_dir), "where the SQLite files, signing keys and blobs live")
    option(
        "--store-url",
        "store_url",
        None,
        "ticket store URL, e.g. postgresql+psycopg://..., redis://... (default: SQLite in the data dir)",
    )
    option("--keys-url", "keys_url", None, "API key database URL (default: SQLite in the data dir)")
    option("--upload-url-ttl", "upload_url_ttl", _DEFAULTS.upload_url_ttl_s, "signed URL lifetime, seconds")
    option("--ticket-ttl", "ticket_ttl", _DEFAULTS.ticket_ttl_s, "ticket lifetime, seconds")
    option("--rate", "rate", _DEFAULTS.rate_per_minute, "sustained requests per minute per team")
    option("--burst", "burst", _DEFAULTS.burst, "burst size per team")
    option("--max-bytes", "max_bytes", _DEFAULTS.max_upload_bytes, "largest accepted upload, bytes")
    option("--sweep-interval", "sweep_interval", _DEFAULTS.sweep_interval_s, "seconds between evictions (0: never)")
    option(
        "--body-idle-timeout",
        "body_idle_timeout",
        _DEFAULTS.body_idle_timeout_s,
        "seconds a request body may go without a byte before 408",
    )
    option("--body-min-rate", "body_min_rate", _DEFAULTS.body_min_rate, "slowest accepted body rate, bytes/s")
    option("--body-grace", "body_grace", _DEFAULTS.body_grace_s, "seconds before the minimum rate applies")
    option("--s3-bucket", "s3_bucket", None, "upload straight to this S3 bucket (credentials as for boto3)")
    option("--s3-endpoint", "s3_endpoint", None, "S3-compatible endpoint URL (default: AWS)")
    option("--s3-region", "s3_region", _DEFAULTS.s3_region, "S3 region")
    option("--s3-prefix", "s3_prefix", _DEFAULTS.s3_prefix, "key prefix of staged uploads (the lifecycle rule's)")
    option(
        "--s3-character-prefix",
        "s3_character_prefix",
        _DEFAULTS.s3_character_prefix,
        "key prefix of characters' copies (never expired)",
    )
    option("--s3-addressing", "s3_addressing", _DEFAULTS.s3_addressing, "path or virtual")


def serve(settings: Settings, log_level: str = "info") -> int:
    """Run the server until interrupted."""
    import uvicorn

    from upload_tickets_server.app import create_app

    api, teams = build(settings)
    if teams.count() == 0:
        key = teams.create_key("dev")
        print(
            f"First start: created a dev key for team 'dev' (shown once, stored hashed).\n"
            f"Try the whole flow:\n\n{walkthrough(settings.base_url, key)}",
            flush=True,
        )
    embedded = settings.effective_store_url.startswith(("sqlite:", "memory:"))
    app = create_app(
        api,
        sweep_interval_s=settings.sweep_interval_s or None,
        embedded_store=embedded,
        deadlines=settings.body_deadlines,
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``upload-tickets``."""
    parser = argparse.ArgumentParser(prog="upload-tickets", description="Direct uploads through signed URLs.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run the reference server")
    _add_settings(serve_parser)
    serve_parser.add_argument(
        "--log-level", default=env_default("log_level", "info"), help="uvicorn log level (warning: no access log)"
    )
    keys = commands.add_parser("keys", help="manage API keys").add_subparsers(dest="keys_command", required=True)
    create = keys.add_parser("create", help="create an API key for a team and print it")
    create.add_argument("--team", required=True)
    create.add_argument("--pinned-version", default=None, help="the team's API version pin (YYYY-MM-DD)")
    _add_settings(create)
    _add_settings(commands.add_parser("sweep", help="evict expired tickets and their bytes once"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Schema migrations narrate every plugin and step at INFO; only their problems matter here.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    settings = _settings(args)
    if args.command == "serve":
        return serve(settings, args.log_level)
    api, teams = build(settings)
    if args.command == "keys":
        try:
            print(teams.create_key(args.team, args.pinned_version))
        except ValueError as error:
            parser.error(str(error))
        return 0
    total_tickets = total_blobs = total_characters = 0
    skipped: set[str] = set()
    while True:
        report = api.service.sweep()
        total_tickets, total_blobs = total_tickets + report.tickets, total_blobs + report.blobs
        total_characters += report.characters
        skipped.update(report.skipped)
        if not (report.tickets or report.characters):
            break
    print(f"swept {total_tickets} expired tickets and {total_blobs} blobs; finished {total_characters} characters")
    if skipped:
        print(f"could not reach: {', '.join(sorted(skipped))}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
