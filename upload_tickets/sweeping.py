"""Sweepers in both flavours: ``Sweeper`` (sync) and ``AsyncSweeper``; one sweeps at a time among N processes."""

from typing import Literal

from upload_tickets._async.sweeping import DEFAULT_SWEEP_EVERY_S, AsyncSweeper, default_holder
from upload_tickets._errors import ConfigurationError
from upload_tickets._models import SweepBeat, SweepReport
from upload_tickets._sync.sweeping import Sweeper
from upload_tickets._wire import iso8601

#: ``sweep=`` for an adapter whose sweep runs elsewhere (``upload-tickets sweep`` from cron, another app).
EXTERNAL = "external"

#: What the adapters' ``sweep=`` takes: seconds between sweeps, or ``"external"``.
Sweep = float | Literal["external"]


def sweep_every(sweep: Sweep) -> float | None:
    """The seconds between sweeps that ``sweep`` asks for, ``None`` for ``"external"``; anything else is an error."""
    if sweep == EXTERNAL:
        return None
    if isinstance(sweep, bool) or not isinstance(sweep, int | float) or not sweep > 0:
        raise ConfigurationError(f"sweep= takes seconds between sweeps (> 0) or 'external', not {sweep!r}")
    return float(sweep)


def report_text(report: SweepReport) -> str:
    """One line on what a sweep did, as the sweep commands print it."""
    text = f"swept {report.tickets} expired tickets and {report.blobs} blobs; finished {report.characters} characters"
    return text + (f"; could not reach: {', '.join(report.skipped)}" if report.skipped else "")


def heartbeat_text(beat: SweepBeat | None, now_us: int, max_age_s: float, *, run_hint: str) -> tuple[str, bool]:
    """What ``sweep --status`` prints, and whether sweeping looks alive (a heartbeat at most ``max_age_s`` old).

    ``run_hint`` names the command that sweeps from cron, for the case no sweep ever finished.
    """
    if beat is None:
        return f"no sweep has ever finished on this store: sweep in the app, or run `{run_hint}` from cron", False
    age_s = (now_us - beat.finished_at_us) / 1_000_000
    text = (
        f"last sweep finished {iso8601(beat.finished_at_us)} ({age_s:.0f} s ago) by {beat.holder}:"
        f" {beat.tickets} tickets, {beat.blobs} blobs, {beat.characters} characters"
    )
    if age_s > max_age_s:
        return f"{text}\nstale: no sweep finished in the last {max_age_s:g} s; is any sweeper running?", False
    return text, True


__all__ = [
    "DEFAULT_SWEEP_EVERY_S",
    "EXTERNAL",
    "AsyncSweeper",
    "Sweep",
    "Sweeper",
    "default_holder",
    "heartbeat_text",
    "report_text",
    "sweep_every",
]
