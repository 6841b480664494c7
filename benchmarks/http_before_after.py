"""HTTP mint throughput before and after the server moved onto the async facade.

"Before" is the sync ``HttpApi`` behind an ASGI shell that hops to a worker thread per
call, as the reference server did (on the loop for memory, as it did too); "after" is
today's app over ``AsyncHttpApi``. Both are in ``benchmarks/_http_apps.py``, serve the
same service and key, and run under uvicorn side by side, in alternating rounds, driven
by the same keep-alive load generator as ``http_mint``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from benchmarks._harness import Figure, throughput_figure
from benchmarks._http_apps import API_KEY, REDIS_PREFIX, STORE_URL
from benchmarks._http_load import post_json, requests_per_second
from upload_tickets.testing.processes import free_port, port_answers, running

_PATH = "/v1/characters/uploads/init"
_BODY = json.dumps({"filename": "front.png", "extension": "png", "content_type": "image/png"}).encode()
_KEY = "al_live_bench_before_after_0001"
CONNECTIONS = 16


def _uvicorn(factory: str, port: int) -> list[str]:
    app = f"benchmarks._http_apps:{factory}"
    return [sys.executable, "-m", "uvicorn", "--factory", app, "--port", str(port), "--log-level", "warning"]


def run(*, seconds: float, rounds: int, store: str, store_url: str, teams: int = 1) -> Figure:
    """Requests per second of the async server and of the thread-hop baseline, alternating rounds.

    With ``teams`` > 1 each connection mints for a team of its own (on SQL, one bucket
    row each: with one team every mint waits for the previous one's row lock and commit).
    """
    keys = [f"{_KEY}_{index}" for index in range(teams)]
    env = {**os.environ, STORE_URL: store_url, API_KEY: ",".join(keys)}
    # The servers import ``benchmarks`` from the working directory, as uvicorn does by default.
    cwd = Path(__file__).resolve().parents[1]
    request = [post_json(_PATH, _BODY, {"X-Api-Key": key}) for key in keys]
    before_rps: list[float] = []
    after_rps: list[float] = []
    with tempfile.TemporaryDirectory() as logs:
        before_port, after_port = free_port(), free_port()
        servers = [("before", before_port), ("after", after_port)]
        with (
            running(
                _uvicorn("before", before_port),
                port_answers(before_port),
                name="before",
                env=env,
                cwd=cwd,
                log=Path(logs, "before.log"),
            ),
            running(
                _uvicorn("after", after_port),
                port_answers(after_port),
                name="after",
                env=env,
                cwd=cwd,
                log=Path(logs, "after.log"),
            ),
        ):
            for _, port in servers:  # first connections, first store calls
                requests_per_second("127.0.0.1", port, request, connections=CONNECTIONS, seconds=0.1)
            for _ in range(rounds):
                for (_, port), sink in zip(servers, (before_rps, after_rps), strict=True):
                    rps, statuses = requests_per_second(
                        "127.0.0.1", port, request, connections=CONNECTIONS, seconds=seconds
                    )
                    assert set(statuses) == {201}, statuses
                    sink.append(rps)
    if store_url.startswith("redis"):
        from upload_tickets_redis import open_backend

        leftovers = open_backend(store_url, prefix=REDIS_PREFIX)
        leftovers.clear()
        leftovers.close()
    who = "" if teams == 1 else f", {teams} teams"
    return throughput_figure(
        f"HTTP mint, async server ({store}{who})",
        f"sync HttpApi + thread hop ({store}{who})",
        after_rps,
        before_rps,
        target="<= 1.0 (no slower than before)",
    )


if __name__ == "__main__":
    from benchmarks.redis_bench import REDIS_URL

    for name, url in (("memory", "memory://"), ("Redis", REDIS_URL)):
        print(run(seconds=3.0, rounds=3, store=name, store_url=url).row())
