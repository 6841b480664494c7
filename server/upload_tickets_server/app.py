"""The reference server's ASGI app: :mod:`upload_tickets.integrations.asgi`, which any app can mount."""

from upload_tickets.integrations.asgi import UploadTicketsApp, create_app

__all__ = ["UploadTicketsApp", "create_app"]
