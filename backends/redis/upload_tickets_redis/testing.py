"""Throwaway Redis servers for tests and benchmarks: a single node, or a 3-node Cluster.

They run the ``redis-server`` binary on free loopback ports, keep nothing on disk, and
are stopped by PID by whoever started them.
"""

from __future__ import annotations

import random
import socket
import subprocess
import time
from pathlib import Path
from typing import cast

import attrs
import redis

from upload_tickets.testing.processes import free_port, stop


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too."""
    for _ in range(200):
        port = random.randint(20000, 29999)
        if _port_free(port) and _port_free(port + 10000):
            return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


@attrs.define
class RedisProcesses:
    """redis-server processes started by a test, stopped by it (only these, by PID)."""

    ports: list[int]
    processes: list[subprocess.Popen[bytes]]
    directory: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    @property
    def cluster_url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.ports[0]}"

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            stop(process)
        self.processes.clear()

    def stop_node(self, port: int) -> None:
        """Stop the one node listening on ``port`` (the others keep running)."""
        process = self.processes.pop(self.ports.index(port))
        self.ports.remove(port)
        stop(process)

    def restart(self) -> None:
        """Start the same single node again on the same port."""
        self.processes[:] = [_start_node(self.ports[0], self.directory, cluster=False)]
        _wait_ping(self.ports[0])


def redis_server_command(port: int, directory: Path, *, cluster: bool = False, full_coverage: bool = True) -> list[str]:
    """A ``redis-server`` on loopback ``port`` that keeps nothing on disk, logging to ``directory``."""
    command = [
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(directory),
        "--logfile",
        str(directory / f"redis-{port}.log"),
    ]
    if cluster:
        command += [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            f"nodes-{port}.conf",
            "--cluster-node-timeout",
            "5000",
            "--cluster-require-full-coverage",
            "yes" if full_coverage else "no",
        ]
    return command


def _start_node(port: int, directory: Path, *, cluster: bool, full_coverage: bool = True) -> subprocess.Popen[bytes]:
    command = redis_server_command(port, directory, cluster=cluster, full_coverage=full_coverage)
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_ping(port: int) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            if redis.Redis(port=port, socket_timeout=1).ping():
                return
        except redis.RedisError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"redis-server on port {port} did not start")
        time.sleep(0.05)


def start_single(directory: Path) -> RedisProcesses:
    """A single redis-server on a free port (no persistence)."""
    port = free_port()
    nodes = RedisProcesses([port], [_start_node(port, directory, cluster=False)], directory)
    _wait_ping(port)
    return nodes


def _cluster_state(port: int) -> object:
    info = cast("dict[str, object]", redis.Redis(port=port).cluster("INFO"))
    return info.get("cluster_state")


def start_cluster(directory: Path, nodes: int = 3, *, full_coverage: bool = True) -> RedisProcesses:
    """A Redis Cluster of ``nodes`` masters joined with ``redis-cli --cluster create``.

    With ``full_coverage=False`` the masters that are up keep serving their slots while
    another is down (``cluster-require-full-coverage no``), as a partition-tolerant
    deployment is configured.
    """
    ports = [free_cluster_port() for _ in range(nodes)]
    processes = [_start_node(port, directory, cluster=True, full_coverage=full_coverage) for port in ports]
    cluster = RedisProcesses(ports, processes, directory)
    try:
        for port in ports:
            _wait_ping(port)
        subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *(f"127.0.0.1:{port}" for port in ports),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        deadline = time.monotonic() + 30
        while not all(_cluster_state(port) == "ok" for port in ports):
            if time.monotonic() > deadline:
                raise RuntimeError("the Redis Cluster never reached cluster_state:ok")
            time.sleep(0.1)
    except BaseException:
        cluster.stop()
        raise
    return cluster
