"""upload-tickets in a Flask app: the spec's routes under /uploads. Run ``./dev example flask`` (waitress)."""

import os

from flask import Flask

from upload_tickets import (
    HmacSigner,
    MemoryBlobStore,
    MemoryTeamDirectory,
    Team,
    UploadTickets,
    backend_from_url,
)
from upload_tickets.http import HttpApi
from upload_tickets.integrations.flask import UploadTicketsBlueprint

# Only the origin: the blueprint fills in the upload host's path under its url_prefix.
origin = os.environ.get("UPLOAD_TICKETS_ORIGIN", "http://127.0.0.1:8000")
backend = backend_from_url("memory://")
service = UploadTickets(
    store=backend.store,
    limiter=backend.limiter,
    signer=HmacSigner(origin, {"k1": os.urandom(32)}, "k1"),
    blobs=MemoryBlobStore(),
)
teams = MemoryTeamDirectory({os.environ.get("UPLOAD_TICKETS_DEMO_KEY", "al_live_demo_key_0001"): Team("demo")})
# A sweep thread in each serving process (every 60 s, one process at a time); sweep="external" for cron.
uploads = UploadTicketsBlueprint(HttpApi(service, teams))

app = Flask(__name__)
app.register_blueprint(uploads, url_prefix="/uploads")
