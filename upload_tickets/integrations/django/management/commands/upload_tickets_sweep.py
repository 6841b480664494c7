"""``manage.py upload_tickets_sweep``: one sweep from cron (``"SWEEP": "external"``), or ``--status``."""

from __future__ import annotations

from typing import Any, ClassVar

import anyio
from django.core.management.base import BaseCommand, CommandError

from upload_tickets._errors import ConfigurationError
from upload_tickets._models import SweepBeat, SweepReport
from upload_tickets.http import HttpApi
from upload_tickets.integrations.django.conf import cause, runtime
from upload_tickets.sweeping import (
    DEFAULT_SWEEP_EVERY_S,
    AsyncSweeper,
    Sweeper,
    heartbeat_text,
    report_text,
    sweep_every,
)


class Command(BaseCommand):  # type: ignore[misc]  # Django ships no type information
    """Evict expired tickets and their bytes once (one process at a time, the lease), or check the last sweep."""

    help = "Evict expired upload tickets and their bytes once (for cron), or --status: the last sweep's heartbeat."
    # A cron sweep must not wait on checks of the URLconf it does not use; the setting is checked below.
    requires_system_checks: ClassVar[list[str]] = []

    def add_arguments(self, parser: Any) -> None:
        """``--status`` and ``--max-age``."""
        parser.add_argument(
            "--status", action="store_true", help="print the last sweep's heartbeat; exit 1 if none or stale"
        )
        parser.add_argument(
            "--max-age",
            type=float,
            default=None,
            help="with --status: seconds after which the last sweep counts as stale (default: two intervals)",
        )

    def handle(self, *args: Any, status: bool = False, max_age: float | None = None, **options: Any) -> None:
        """Sweep once and print the report, or print the last heartbeat."""
        try:
            current = runtime()
        except ConfigurationError as error:
            raise CommandError(cause(error)) from error
        interval = sweep_every(current.sweep) or DEFAULT_SWEEP_EVERY_S
        api = current.api
        if isinstance(api, HttpApi):
            sweeper: Sweeper | AsyncSweeper = Sweeper(api.service, every_s=interval)
        else:
            sweeper = AsyncSweeper(api.service, every_s=interval)
        if status:
            self._status(sweeper, 2 * interval if max_age is None else max_age)
            return
        report = self._sweep(sweeper)
        if report is None:
            self.stdout.write("another process holds the sweep lease and sweeps now: nothing done here")
            return
        if report.skipped:
            raise CommandError(report_text(report))
        self.stdout.write(report_text(report))

    def _sweep(self, sweeper: Sweeper | AsyncSweeper) -> SweepReport | None:
        if isinstance(sweeper, Sweeper):
            try:
                return sweeper.run_once()
            finally:
                # The next cron run is another process: it must not wait for this lease to lapse.
                sweeper.release()
        return anyio.run(_sweep_async, sweeper)

    def _status(self, sweeper: Sweeper | AsyncSweeper, max_age_s: float) -> None:
        beat: SweepBeat | None = sweeper.last_sweep() if isinstance(sweeper, Sweeper) else anyio.run(sweeper.last_sweep)
        now_us = sweeper.service.clock.now_us()
        text, alive = heartbeat_text(beat, now_us, max_age_s, run_hint="manage.py upload_tickets_sweep")
        if not alive:
            raise CommandError(text)
        self.stdout.write(text)


async def _sweep_async(sweeper: AsyncSweeper) -> SweepReport | None:
    try:
        return await sweeper.run_once()
    finally:
        await sweeper.release()
