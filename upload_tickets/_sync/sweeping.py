# Generated from the _async folder by scripts/unasync.py: edit that source, then run it.
"""One sweep at a time among N workers, async source: ``Sweeper`` (``Sweeper`` is generated from it).

Every worker of every app server may run a sweeper; the store's lease
(:class:`~upload_tickets.protocols.SweepLedger`) lets one of them sweep per
interval, and the heartbeat it records after each sweep tells anyone whether sweeping
runs at all (``upload-tickets sweep --status``).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket

from upload_tickets._errors import ConfigurationError
from upload_tickets._models import SweepBeat, SweepReport
from upload_tickets._policy import SECOND_US
from upload_tickets._sync.protocols import SweepLedger
from upload_tickets._sync.service import UploadTickets

logger = logging.getLogger("upload_tickets.sweep")

#: How often adapters sweep unless told otherwise.
DEFAULT_SWEEP_EVERY_S = 60.0


_HOST = socket.gethostname()


def default_holder() -> str:
    """A name for this process's sweeper that no other process shares: host, pid and a random tag."""
    return f"{_HOST}:{os.getpid()}:{secrets.token_hex(3)}"


class Sweeper:
    """Sweeps ``service`` when this process holds the store's lease; records a heartbeat after each sweep.

    The lease lasts two intervals and the holder renews it at every tick, so one process
    keeps sweeping while it lives and another takes over within two intervals once it
    stops. A store without a ledger (a third-party backend) is swept by everyone: the
    sweep is idempotent, only wasteful.
    """

    def __init__(self, service: UploadTickets, *, every_s: float = DEFAULT_SWEEP_EVERY_S, holder: str = "") -> None:
        if not every_s > 0:
            raise ConfigurationError(f"the sweep interval must be positive, not {every_s!r}")
        self.service = service
        self.every_s = every_s
        self._named = holder
        self._tag = secrets.token_hex(3)
        self._ledger = service.store if isinstance(service.store, SweepLedger) else None

    @property
    def holder(self) -> str:
        """This sweeper's name in the lease: the one given, else host, current pid and a tag of its own."""
        # Derived per call: a worker forked from the process that built the sweeper is another holder.
        return self._named or f"{_HOST}:{os.getpid()}:{self._tag}"

    def run_once(self, *, until_done: bool = False) -> SweepReport | None:
        """Sweep if this process holds (or takes) the lease; ``None`` when another process does.

        ``until_done`` repeats the sweep until a pass finds nothing more to evict or settle
        (a cron job's backlog) and reports the totals.
        """
        if self._ledger is not None:
            lease_us = int(2 * self.every_s * SECOND_US)
            if not self._ledger.claim_sweep(self.holder, self.service.clock.now_us(), lease_us):
                return None
        report = last = self.service.sweep()
        while until_done and (last.tickets or last.characters):
            last = self.service.sweep()
            report = _added(report, last)
        if self._ledger is not None:
            beat = SweepBeat(
                holder=self.holder,
                finished_at_us=self.service.clock.now_us(),
                tickets=report.tickets,
                blobs=report.blobs,
                characters=report.characters,
            )
            self._ledger.record_sweep(beat)
        _log_report(report)
        return report

    def tick(self) -> None:
        """:meth:`run_once`, logging instead of raising: a store briefly down is retried at the next tick."""
        try:
            self.run_once()
        except Exception:
            logger.exception("sweep failed; the next tick tries again")

    def release(self) -> None:
        """Give the lease up at shutdown, so another process takes over at once."""
        if self._ledger is not None:
            self._ledger.release_sweep(self.holder)

    def last_sweep(self) -> SweepBeat | None:
        """The heartbeat of the last sweep any process finished, or ``None`` (a store without a ledger too)."""
        return None if self._ledger is None else self._ledger.last_sweep()


def _added(total: SweepReport, report: SweepReport) -> SweepReport:
    return SweepReport(
        tickets=total.tickets + report.tickets,
        blobs=total.blobs + report.blobs,
        characters=total.characters + report.characters,
        skipped=tuple(sorted({*total.skipped, *report.skipped})),
        claims=total.claims + report.claims,
    )


def _log_report(report: SweepReport) -> None:
    if report.tickets or report.characters:
        logger.info(
            "swept %d expired tickets and %d blobs; finished %d characters",
            report.tickets,
            report.blobs,
            report.characters,
        )
    if report.skipped:
        logger.warning("the sweep could not reach %s; the next one tries again", ", ".join(report.skipped))


__all__ = ["DEFAULT_SWEEP_EVERY_S", "Sweeper", "default_holder"]
