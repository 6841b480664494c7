"""Start the reference server (or any uvicorn app) for a benchmark, and stop it by PID."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from upload_tickets.testing.processes import running

CLI = [sys.executable, "-m", "upload_tickets_server.cli"]


def create_key(data_dir: str, team: str = "bench") -> str:
    """A fresh API key for ``team`` in the server's key database."""
    done = subprocess.run(
        [*CLI, "keys", "create", "--team", team, "--data-dir", data_dir], check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def serve_command(data_dir: str, port: int, store_url: str | None, *flags: str) -> list[str]:
    """``upload-tickets serve`` on ``port``, quiet, with an unlimited bucket and no sweeper."""
    command = [*CLI, "serve", "--port", str(port), "--data-dir", data_dir, "--log-level", "warning"]
    command += ["--rate", "60000000", "--burst", "1000000000", "--sweep-interval", "0", *flags]
    return command + (["--store-url", store_url] if store_url else [])


@contextmanager
def serving(command: list[str], port: int) -> Iterator[None]:
    """Run ``command`` until the block ends; ready once ``port`` answers HTTP."""
    with running(command, lambda: httpx.get(f"http://127.0.0.1:{port}/", timeout=1) is not None, timeout_s=30):
        yield
