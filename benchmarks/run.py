"""Run every benchmark, print a table and write JSON.

python -m benchmarks.run            # full sizes; exits 1 when a gate of benchmarks/sync_gate.py fails
python -m benchmarks.run --smoke    # tiny sizes, as the test suite runs it (no gate: too few calls)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import (
    adapters,
    async_mint,
    http_before_after,
    http_mint,
    http_vs_fastapi,
    limiters_memory,
    memory_per_ticket,
    mint_sql,
    plot,
    presign,
    redis_bench,
    scaling,
    sql_drivers,
    stalled_uploads,
    sync_gate,
)
from benchmarks._harness import Figure
from benchmarks.redis_bench import REDIS_URL


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the scripts run, measures nothing")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/latest.json"))
    args = parser.parse_args(argv)
    calls, rounds = (50, 2) if args.smoke else (20_000, 7)
    seconds = 0.2 if args.smoke else 3.0
    stalled = 20 if args.smoke else 200
    # Half-length rounds: six series (and the fallback's two) at three concurrencies.
    tasks_vs_threads, async_backend = async_mint.run(seconds=seconds / 2, rounds=min(rounds, 3))
    tasks_vs_threads_pg, async_backend_pg = async_mint.run(
        seconds=seconds / 2, rounds=min(rounds, 3), target="PostgreSQL"
    )
    drivers = sql_drivers.run(seconds=seconds / 4, rounds=min(rounds, 3))
    figures: list[Figure] = [
        *sync_gate.run(calls=calls, rounds=rounds),  # mint_memory's figure among them
        *mint_sql.run(calls=calls // 4, rounds=rounds),
        *redis_bench.run(calls=calls // 4, rounds=rounds),
        *presign.run(calls=calls // 4, rounds=rounds),
        *limiters_memory.run(calls=calls, rounds=rounds),
        http_mint.run(seconds=seconds, rounds=min(rounds, 3)),
        http_mint.run(seconds=seconds, rounds=min(rounds, 3), store_url="memory://", name="HTTP mint (memory)"),
        # Many short rounds: two servers and the load generator share the cores, so noise comes in bursts.
        *(
            http_before_after.run(seconds=seconds / 2, rounds=rounds, store=store, store_url=url)
            for store, url in (("memory", "memory://"), ("Redis", REDIS_URL), ("PostgreSQL", async_mint.PG_URL))
        ),
        http_before_after.run(
            seconds=seconds / 2, rounds=rounds, store="PostgreSQL", store_url=async_mint.PG_URL, teams=16
        ),
        http_vs_fastapi.run(seconds=seconds / 2, rounds=rounds),
        http_vs_fastapi.run(seconds=seconds / 2, rounds=rounds, teams=16),
        *tasks_vs_threads,
        *tasks_vs_threads_pg,
        *drivers,
        *stalled_uploads.run(stalled=stalled, rounds=min(rounds, 3), store="SQLite", store_url=None),
        *stalled_uploads.run(stalled=stalled, rounds=min(rounds, 3), store="Redis", store_url=REDIS_URL),
        *adapters.run(seconds=seconds / 2, rounds=min(rounds, 3)),
    ]
    machine = (
        f"{datetime.now(UTC):%Y-%m-%d} on {os.cpu_count()} cores, {platform.machine()}, "
        f"{platform.python_implementation()} {platform.python_version()}"
    )
    print(f"upload-tickets benchmarks, {machine}")
    for figure in figures:
        print(figure.row())
    per_ticket = memory_per_ticket.bytes_per_ticket(20_000 if args.smoke else 1_000_000)
    scaled = scaling.run(seconds=seconds, process_counts=(1, 2) if args.smoke else (1, 2, 4))
    # At smoke sizes the ratios are noise: the gates are checked on full runs (and by the test suite's own sizes).
    failed = [] if args.smoke else sync_gate.failures(figures)
    gates = (
        "Sync-path gates (benchmarks/sync_gate.py): not checked at smoke sizes."
        if args.smoke
        else "Sync-path gates (benchmarks/sync_gate.py): "
        + ("FAILED: " + "; ".join(failed) if failed else f"all {len(sync_gate.GATES)} passed.")
    )
    extra = [
        gates,
        async_backend,
        async_backend_pg,
        f"Memory store: {per_ticket:.0f} bytes per ticket at {'20,000' if args.smoke else '1,000,000'} tickets "
        "(target <= 400).",
        *(
            f"Mints per second with {', '.join(str(c) for c in series)} processes on {backend}: "
            + ", ".join(f"{rate:,.0f}" for rate in series.values())
            for backend, series in scaled.items()
        ),
    ]
    print("\n".join(extra))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "figures": [f.as_dict() for f in figures],
                "bytes_per_ticket": per_ticket,
                "scaling": scaled,
                "gate_failures": failed,
                "notes": extra,
            },
            indent=2,
        )
    )
    plot_path = args.json.parent / "plot.png" if args.smoke else Path("benchmarks/plot.png")
    plot.draw(figures, scaled, plot_path, f"upload-tickets, {machine}")
    if not args.smoke:
        write_readme_table(Path("README.md"), figures, machine, extra)
    return 1 if failed else 0


def write_readme_table(readme: Path, figures: list[Figure], machine: str, extra: list[str]) -> None:
    """Replace the table between the benchmark markers in the README."""
    start, end = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"
    text = readme.read_text()
    if start not in text or end not in text:
        return
    rows = [
        f"Measured {machine}. Each figure is the median per-call cost over alternating rounds "
        "(min-max in brackets); the ratio is the median of the per-round ratios, subject / baseline.",
        "",
        "| subject | cost | baseline | cost | ratio | target |",
        "| --- | --- | --- | --- | --- | --- |",
        *(figure.markdown() for figure in figures),
        "",
        *(f"- {line}" for line in extra),
        "",
        "![mint throughput and scaling](benchmarks/plot.png)",
    ]
    head, _, rest = text.partition(start)
    _, _, tail = rest.partition(end)
    readme.write_text(head + start + "\n" + "\n".join(rows) + "\n" + end + tail)


if __name__ == "__main__":
    sys.exit(main())
