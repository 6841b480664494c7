"""HTTP mint throughput next to a trivial Starlette endpoint served the same way.

Both run under uvicorn with whatever it finds installed: the server depends on
``uvicorn[standard]``, so httptools and uvloop. That stack makes the trivial endpoint
2.6x faster and ours 1.6x faster, so it lowers the ratio while raising our throughput.
"""

from __future__ import annotations

import json
import sys
import tempfile

from benchmarks._harness import Figure
from benchmarks._http_load import post_json, requests_per_second
from benchmarks._server import create_key, serve_command, serving
from upload_tickets.testing.processes import free_port

_PATH = "/v1/characters/uploads/init"
_BODY = json.dumps({"filename": "front.png", "extension": "png", "content_type": "image/png"}).encode()


def run(*, seconds: float, rounds: int, store_url: str | None = None, name: str = "HTTP mint (SQLite)") -> Figure:
    """Requests per second of our mint and of the trivial endpoint, alternating rounds."""
    with tempfile.TemporaryDirectory() as data_dir:
        ours, trivial = free_port(), free_port()
        key = create_key(data_dir)
        serve = serve_command(data_dir, ours, store_url)
        baseline = [
            sys.executable,
            "-m",
            "uvicorn",
            "benchmarks._trivial_app:app",
            "--port",
            str(trivial),
            "--log-level",
            "warning",
        ]
        request = post_json(_PATH, _BODY, {"X-Api-Key": key})
        subject_rps: list[float] = []
        baseline_rps: list[float] = []
        with serving(serve, ours), serving(baseline, trivial):
            # Warm both servers (first connections, first store calls) before timing.
            for port in (trivial, ours):
                requests_per_second("127.0.0.1", port, request, connections=8, seconds=0.1)
            for _ in range(rounds):
                for port, sink in ((trivial, baseline_rps), (ours, subject_rps)):
                    rps, statuses = requests_per_second("127.0.0.1", port, request, connections=8, seconds=seconds)
                    assert set(statuses) == {201}, statuses
                    sink.append(rps)
    # Figures hold per-call costs: the throughput ratio is baseline cost / subject cost.
    return Figure(
        name,
        "trivial Starlette endpoint",
        tuple(1e6 / rps for rps in subject_rps),
        tuple(1e6 / rps for rps in baseline_rps),
        target=">= 0.6x throughput (cost ratio <= 1.67)",
    )
