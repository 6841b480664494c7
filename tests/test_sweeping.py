"""Sweepers: one process sweeps at a time through the store's lease, and each sweep leaves a heartbeat."""

from __future__ import annotations

import os
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from upload_tickets import (
    ConfigurationError,
    FileBlobStore,
    HmacSigner,
    ManualClock,
    MintRequest,
    SweepReport,
    Team,
    UploadTickets,
    backend_from_url,
)
from upload_tickets.sweeping import Sweeper, sweep_every
from upload_tickets.testing import START_US
from upload_tickets.testing.kit import memory_service

PNG = MintRequest("a.png", "png", "image/png")
TEAM = Team("swept")


def test_one_holder_sweeps_until_its_lease_runs_out() -> None:
    service = memory_service()
    first, second = Sweeper(service, every_s=60, holder="app-1"), Sweeper(service, every_s=60, holder="app-2")
    service.mint(TEAM, PNG)
    service.clock.advance(timedelta(days=2))
    assert first.run_once() == SweepReport(tickets=1, blobs=0)
    assert second.run_once() is None  # app-1's lease runs two intervals
    service.clock.advance(timedelta(seconds=60))
    assert second.run_once() is None
    assert first.run_once() is not None  # the holder renews at each tick
    service.clock.advance(timedelta(seconds=121))  # app-1 stopped ticking: its lease ran out
    assert second.run_once() is not None
    beat = first.last_sweep()
    assert beat is not None
    assert (beat.holder, beat.finished_at_us) == ("app-2", service.clock.now_us())


def test_the_heartbeat_counts_what_the_last_sweep_did() -> None:
    service = memory_service()
    sweeper = Sweeper(service, every_s=60, holder="app-1")
    assert sweeper.last_sweep() is None
    for _ in range(3):
        service.mint(TEAM, PNG)
    service.clock.advance(timedelta(days=2))
    assert sweeper.run_once(until_done=True) == SweepReport(tickets=3, blobs=0)
    beat = sweeper.last_sweep()
    assert beat is not None
    assert (beat.tickets, beat.blobs, beat.characters) == (3, 0, 0)


def test_release_hands_the_lease_over_at_once() -> None:
    service = memory_service()
    first, second = Sweeper(service, holder="app-1"), Sweeper(service, holder="app-2")
    assert first.run_once() is not None
    assert second.run_once() is None
    first.release()
    assert second.run_once() is not None


def test_app_servers_sharing_a_database_sweep_one_at_a_time(tmp_path: Path) -> None:
    # Four app servers: each its own engine on one SQLite database, all ticking at once.
    url = f"sqlite:///{tmp_path / 'tickets.db'}"
    clock = ManualClock(START_US)
    services = []
    for _ in range(4):
        backend = backend_from_url(url, create=True)
        services.append(
            UploadTickets(
                store=backend.store,
                limiter=backend.limiter,
                signer=HmacSigner("http://uploads.test/u", {"k": b"k" * 32}, "k"),
                blobs=FileBlobStore(tmp_path / "blobs"),
                clock=clock,
            )
        )
    sweepers = [Sweeper(service, every_s=60) for service in services]
    for rounds in range(5):
        barrier = threading.Barrier(len(sweepers))
        swept: list[str] = []

        def tick(sweeper: Sweeper, barrier: threading.Barrier = barrier, swept: list[str] = swept) -> None:
            barrier.wait()
            if sweeper.run_once() is not None:
                swept.append(sweeper.holder)

        threads = [threading.Thread(target=tick, args=(sweeper,)) for sweeper in sweepers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(swept) == 1, (rounds, swept)
        # The holder keeps sweeping while it lives; nobody else does.
        assert swept[0] == sweepers[0].last_sweep().holder  # type: ignore[union-attr]
        clock.advance(timedelta(seconds=60))


@pytest.mark.parametrize("sweep", [0, -1, "cron", True, float("nan")])
def test_a_bad_sweep_setting_is_refused(sweep: object) -> None:
    with pytest.raises(ConfigurationError, match="sweep="):
        sweep_every(sweep)  # type: ignore[arg-type]  # the mistake under test


def test_external_means_no_sweeper() -> None:
    assert sweep_every("external") is None
    assert sweep_every(30) == 30.0


def test_a_worker_forked_after_the_sweeper_was_built_is_another_holder() -> None:
    service = memory_service()
    sweeper = Sweeper(service, every_s=60)
    assert sweeper.run_once() is not None
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker a pre-forking server (gunicorn --preload) makes
        os.write(write, b"1" if sweeper.run_once() is None else b"0")
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1"  # the parent's lease runs: the child may not sweep as if it held it
