"""Start a helper process for a test or a benchmark, wait until it answers, stop it by PID.

One launcher for every server the tests and benchmarks run (the reference server,
s3rver, LocalStack, throwaway Redis nodes): :func:`free_port`, then :func:`running`.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_answers(port: int, host: str = "127.0.0.1") -> Callable[[], bool]:
    """A readiness check: something accepts TCP connections on ``port``."""

    def ready() -> bool:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
            return True
        return False

    return ready


@contextlib.contextmanager
def running(
    command: Sequence[str],
    ready: Callable[[], bool],
    *,
    name: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    log: Path | None = None,
    timeout_s: float = 60.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` until the block ends; ``ready()`` is polled until true first.

    A ``ready`` that raises counts as not ready yet. The process's output goes to ``log``
    (or nowhere); when it dies or ``timeout_s`` passes before it is ready, the error
    quotes the end of that log. The process is stopped by its PID: terminate, then kill.
    """
    label = name or Path(command[0]).name
    sink = log.open("wb") if log is not None else subprocess.DEVNULL
    process = subprocess.Popen(list(command), env=env, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout_s
        while not _ready(ready):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:] if log is not None else ""
                raise RuntimeError(f"{label} did not start (exit {process.poll()}):\n{tail}")
            time.sleep(0.05)
        yield process
    finally:
        stop(process)
        if log is not None and not isinstance(sink, int):
            sink.close()


def stop(process: subprocess.Popen[Any]) -> None:
    """Stop ``process`` by its PID: terminate, and kill it if it has not gone in 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _ready(check: Callable[[], bool]) -> bool:
    try:
        return check()
    except Exception:  # not up yet: connection refused, a half-started server's 5xx...
        return False


__all__ = ["free_port", "port_answers", "running", "stop"]
