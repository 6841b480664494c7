"""Sweepers in both flavours: ``Sweeper`` (sync) and ``AsyncSweeper``; one sweeps at a time among N processes."""

from typing import Literal

from upload_tickets._async.sweeping import DEFAULT_SWEEP_EVERY_S, AsyncSweeper, default_holder
from upload_tickets._errors import ConfigurationError
from upload_tickets._sync.sweeping import Sweeper

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


__all__ = ["DEFAULT_SWEEP_EVERY_S", "EXTERNAL", "AsyncSweeper", "Sweep", "Sweeper", "default_holder", "sweep_every"]
