"""Run every benchmark, print a table and write JSON.

python -m benchmarks.run            # full sizes
python -m benchmarks.run --smoke    # tiny sizes, as the test suite runs it
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import http_mint, mint_memory, mint_sql, presign, redis_bench
from benchmarks._harness import Figure


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the scripts run, measures nothing")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/latest.json"))
    args = parser.parse_args(argv)
    calls, rounds = (50, 2) if args.smoke else (20_000, 7)
    seconds = 0.2 if args.smoke else 3.0
    figures: list[Figure] = [
        *mint_memory.run(calls=calls, rounds=rounds),
        *mint_sql.run(calls=calls // 4, rounds=rounds),
        *redis_bench.run(calls=calls // 4, rounds=rounds),
        *presign.run(calls=calls // 4, rounds=rounds),
        http_mint.run(seconds=seconds, rounds=min(rounds, 3)),
        http_mint.run(seconds=seconds, rounds=min(rounds, 3), store_url="memory://", name="HTTP mint (memory)"),
    ]
    machine = (
        f"{datetime.now(UTC):%Y-%m-%d} on {os.cpu_count()} cores, {platform.machine()}, "
        f"{platform.python_implementation()} {platform.python_version()}"
    )
    print(f"upload-tickets benchmarks, {machine}")
    for figure in figures:
        print(figure.row())
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps([f.as_dict() for f in figures], indent=2))
    if not args.smoke:
        write_readme_table(Path("README.md"), figures, machine)
    return 0


def write_readme_table(readme: Path, figures: list[Figure], machine: str) -> None:
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
    ]
    head, _, rest = text.partition(start)
    _, _, tail = rest.partition(end)
    readme.write_text(head + start + "\n" + "\n".join(rows) + "\n" + end + tail)


if __name__ == "__main__":
    sys.exit(main())
