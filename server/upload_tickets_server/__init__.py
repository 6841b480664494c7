"""Reference ASGI server and CLI for upload-tickets."""

from upload_tickets_server.app import create_app
from upload_tickets_server.build import build, build_service
from upload_tickets_server.keys import SqlTeamDirectory
from upload_tickets_server.settings import Settings

__all__ = ["Settings", "SqlTeamDirectory", "build", "build_service", "create_app"]
