"""Real servers: ``upload-tickets serve`` in a subprocess, on a free loopback port."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import httpx
import pytest

from upload_tickets.testing.processes import free_port, stop


def cli(*args: str) -> str:
    """Run ``upload-tickets`` and return its standard output."""
    done = subprocess.run(
        [sys.executable, "-m", "upload_tickets_server.cli", *args], capture_output=True, text=True, check=True
    )
    return done.stdout


@attrs.define
class RunningServer:
    """A server process, its URL and everything it printed."""

    process: subprocess.Popen[str]
    base_url: str
    data_dir: Path
    output: list[str]

    def printed(self) -> str:
        return "".join(self.output)

    def stop(self) -> None:
        stop(self.process)
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_server(data_dir: Path, *flags: str) -> RunningServer:
    """Start ``upload-tickets serve`` and wait until /healthz answers."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "upload_tickets_server.cli",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            *flags,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    stdout = process.stdout
    assert stdout is not None
    threading.Thread(target=lambda: output.extend(iter(stdout.readline, "")), daemon=True).start()
    server = RunningServer(process, f"http://127.0.0.1:{port}", data_dir, output)
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{server.base_url}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"server did not start:\n{server.printed()}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data_dir = tmp_path_factory.mktemp("server")
    # Keys made before the first start: the server then prints no walkthrough.
    running = start_server(data_dir, "--max-bytes", "200000", "--sweep-interval", "0")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def keys(server: RunningServer) -> dict[str, str]:
    return {
        team: cli("keys", "create", "--team", team, "--data-dir", str(server.data_dir)).strip()
        for team in ("alpha", "beta", "gamma", "limited")
    }
