"""HTTP mint on PostgreSQL: the reference server next to the endpoint a team would write by hand.

Ours: ``upload-tickets serve`` with its tickets, rate limits and API keys in PostgreSQL
(asyncpg, on the loop) and S3 presigned PUT URLs. Theirs: ``benchmarks/_fastapi_handwritten.py``
(FastAPI, pydantic, the SQLAlchemy ORM on a pooled engine, ``limits`` in memory, one
boto3 client), on the same database, under the same uvicorn. Neither PUTs anything: a
mint never talks to S3. Same keep-alive load generator, alternating rounds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks._harness import Figure, throughput_figure
from benchmarks._http_load import post_json, requests_per_second
from benchmarks._server import CLI, serve_command
from benchmarks.mint_sql import POSTGRES_URL
from upload_tickets.testing.processes import free_port, port_answers, running

_PATH = "/v1/characters/uploads/init"
_BODY = json.dumps({"filename": "front.png", "extension": "png", "content_type": "image/png"}).encode()
_THEIR_KEY = "al_live_bench_handwritten_fastapi_01"
CONNECTIONS = 16
# No driver named: the server runs asyncpg for its store and keys, its CLI psycopg.
_PG = "postgresql://" + POSTGRES_URL.partition("://")[2]
_S3 = ["--s3-bucket", "bench", "--s3-endpoint", "http://127.0.0.1:9", "--s3-addressing", "path"]
_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret"}


def run(*, seconds: float, rounds: int, teams: int = 1) -> Figure:
    """Requests per second of our server and of the hand-written endpoint on PostgreSQL.

    With ``teams`` > 1 each connection sends another team's key, as a multi-tenant API
    sees them; with one, every mint charges the same bucket row (ours: a row lock per
    mint; theirs: ``limits`` in memory, which no second process would share).
    """
    cwd = Path(__file__).resolve().parents[1]
    env = {**os.environ, **_CREDENTIALS, "UT_BENCH_DATABASE_URL": POSTGRES_URL}
    with tempfile.TemporaryDirectory() as data_dir:
        ours, theirs = free_port(), free_port()
        our_keys = [_our_key(f"bench-fastapi-{index}", env) for index in range(teams)]
        their_keys = [f"{_THEIR_KEY}_{index}" for index in range(teams)]
        setup = "import benchmarks._fastapi_handwritten as app\n" + "".join(
            f"app.add_key({key!r}, 'b{index}')\n" for index, key in enumerate(their_keys)
        )
        subprocess.run([sys.executable, "-c", setup], check=True, env=env, cwd=cwd)
        serve = serve_command(data_dir, ours, _PG, "--keys-url", _PG, *_S3)
        handwritten = [
            sys.executable,
            "-m",
            "uvicorn",
            "benchmarks._fastapi_handwritten:app",
            "--port",
            str(theirs),
            "--log-level",
            "warning",
        ]
        requests = {
            ours: [post_json(_PATH, _BODY, {"X-Api-Key": key}) for key in our_keys],
            theirs: [post_json(_PATH, _BODY, {"X-Api-Key": key}) for key in their_keys],
        }
        rps: dict[int, list[float]] = {ours: [], theirs: []}
        logs = Path(data_dir)
        with (
            running(serve, port_answers(ours), name="ours", env=env, cwd=cwd, log=logs / "ours.log"),
            running(handwritten, port_answers(theirs), name="fastapi", env=env, cwd=cwd, log=logs / "theirs.log"),
        ):
            for port, request in requests.items():
                requests_per_second("127.0.0.1", port, request, connections=CONNECTIONS, seconds=0.2)
            for _ in range(rounds):
                for port, request in requests.items():
                    measured, statuses = requests_per_second(
                        "127.0.0.1", port, request, connections=CONNECTIONS, seconds=seconds
                    )
                    assert set(statuses) == {201}, statuses
                    rps[port].append(measured)
    who = "one team" if teams == 1 else f"{teams} teams"
    return throughput_figure(
        f"HTTP mint, reference server (PostgreSQL, {who})",
        f"hand-written FastAPI endpoint (PostgreSQL, {who})",
        rps[ours],
        rps[theirs],
        target="<= 0.33 (>= 3x its throughput)",
    )


def _our_key(team: str, env: dict[str, str]) -> str:
    created = subprocess.run(
        [*CLI, "keys", "create", "--team", team, "--keys-url", _PG], check=True, capture_output=True, text=True, env=env
    )
    return created.stdout.strip()


if __name__ == "__main__":
    for count in (1, CONNECTIONS):
        print(run(seconds=3.0, rounds=3, teams=count).row())
