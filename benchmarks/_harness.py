"""Side-by-side timing: each figure is a median over rounds that alternate with its baseline."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import attrs

from upload_tickets import (
    AsyncMemoryBlobStore,
    AsyncUploadTickets,
    HmacSigner,
    MemoryBlobStore,
    RatePolicy,
    RateTable,
    SystemClock,
    UploadTickets,
)
from upload_tickets.protocols import AsyncRateLimiter, AsyncTicketStore, Clock, RateLimiter, TicketStore

# A bucket no benchmark can empty: the figures measure mints, not refusals.
UNLIMITED = RatePolicy(name="bench", limit=1_000_000, period=1, burst=10**12)


@attrs.frozen
class Figure:
    """Per-call cost of one subject next to its baseline, measured in the same rounds."""

    name: str
    baseline_name: str
    subject_us: tuple[float, ...]
    baseline_us: tuple[float, ...]
    target: str

    @property
    def ratio(self) -> float:
        """Median of the per-round ratios subject / baseline."""
        return statistics.median(s / b for s, b in zip(self.subject_us, self.baseline_us, strict=True))

    def row(self) -> str:
        """One line of the results table."""
        s, b = self.subject_us, self.baseline_us
        return (
            f"{self.name:<34} {statistics.median(s):8.2f} us [{min(s):.2f}-{max(s):.2f}]   "
            f"{self.baseline_name:<30} {statistics.median(b):8.2f} us [{min(b):.2f}-{max(b):.2f}]   "
            f"ratio {self.ratio:5.2f}  (target {self.target})"
        )

    def markdown(self) -> str:
        """One row of the README table."""
        s, b = self.subject_us, self.baseline_us
        return (
            f"| {self.name} | {statistics.median(s):.1f} µs ({min(s):.1f}-{max(s):.1f}) | {self.baseline_name} | "
            f"{statistics.median(b):.1f} µs ({min(b):.1f}-{max(b):.1f}) | {self.ratio:.2f} | {self.target} |"
        )

    def as_dict(self) -> dict[str, object]:
        """JSON form."""
        return {**attrs.asdict(self), "ratio": self.ratio}


def per_call_us(function: Callable[[], object], calls: int) -> float:
    """Microseconds per call of ``function`` over ``calls`` calls."""
    start = time.perf_counter_ns()
    for _ in range(calls):
        function()
    return (time.perf_counter_ns() - start) / calls / 1000


def side_by_side(
    name: str,
    subject: Callable[[], object],
    baseline_name: str,
    baseline: Callable[[], object],
    *,
    calls: int,
    rounds: int,
    target: str,
) -> Figure:
    """Alternate subject and baseline ``rounds`` times so drift hits both alike."""
    return side_by_side_runs(
        name, _repeating(subject), baseline_name, _repeating(baseline), calls=calls, rounds=rounds, target=target
    )


def side_by_side_runs(
    name: str,
    subject: Callable[[int], object],
    baseline_name: str,
    baseline: Callable[[int], object],
    *,
    calls: int,
    rounds: int,
    target: str,
) -> Figure:
    """:func:`side_by_side` for subjects that make their own loop: ``subject(n)`` makes ``n`` calls.

    For what a plain call cannot time, e.g. ``n`` awaits inside one event-loop run.
    """
    _run_us(subject, max(1, calls // 10))
    _run_us(baseline, max(1, calls // 10))
    subject_us, baseline_us = [], []
    for _ in range(rounds):
        baseline_us.append(_run_us(baseline, calls))
        subject_us.append(_run_us(subject, calls))
    return Figure(name, baseline_name, tuple(subject_us), tuple(baseline_us), target)


def _repeating(function: Callable[[], object]) -> Callable[[int], object]:
    def run(calls: int) -> None:
        for _ in range(calls):
            function()

    return run


def _run_us(run: Callable[[int], object], calls: int) -> float:
    start = time.perf_counter_ns()
    run(calls)
    return (time.perf_counter_ns() - start) / calls / 1000


def throughput_figure(
    name: str, baseline_name: str, subject_rps: list[float], baseline_rps: list[float], target: str
) -> Figure:
    """A figure from throughputs measured in alternating rounds (stored as per-call costs, 1/rate)."""
    return Figure(
        name,
        baseline_name,
        tuple(1e6 / rps for rps in subject_rps),
        tuple(1e6 / rps for rps in baseline_rps),
        target,
    )


_SIGNER = HmacSigner("http://127.0.0.1:8000/uploads", {"k1": b"benchmark-secret-benchmark-secret"}, "k1")


def bench_service(store: TicketStore, limiter: RateLimiter, clock: Clock | None = None) -> UploadTickets:
    """A service on ``store``/``limiter`` with a local HMAC signer and an unlimited bucket."""
    return UploadTickets(
        store=store,
        limiter=limiter,
        signer=_SIGNER,
        blobs=MemoryBlobStore(),
        clock=clock or SystemClock(),
        rates=RateTable.shared(UNLIMITED),
    )


def bench_async_service(
    store: AsyncTicketStore, limiter: AsyncRateLimiter, clock: Clock | None = None
) -> AsyncUploadTickets:
    """:func:`bench_service`, async flavour: the same signer, the same unlimited bucket."""
    return AsyncUploadTickets(
        store=store,
        limiter=limiter,
        signer=_SIGNER,
        blobs=AsyncMemoryBlobStore(),
        clock=clock or SystemClock(),
        rates=RateTable.shared(UNLIMITED),
    )
