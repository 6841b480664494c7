"""The benchmark scripts run (tiny sizes), so they cannot rot; one gate is timed, as ratios.

The smoke run times nothing. The gate test times the sync facade's mint next to
baselines measured in the same rounds (``benchmarks/sync_gate.py``) and fails only on
a clear regression: ratios, medians of several rounds, generous margins, and a second
measurement before failing, so a busy machine alone does not turn it red.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import run, sync_gate


def test_benchmarks_run_in_smoke_mode(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    assert run.main(["--smoke", "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    figures = results["figures"]
    assert 0 < results["bytes_per_ticket"] < 10_000
    assert set(results["scaling"]) == {"Redis", "PostgreSQL"}
    assert (tmp_path / "plot.png").stat().st_size > 10_000
    assert {f["name"] for f in figures} >= {
        "mint (memory + HMAC)",
        "sync mint (memory)",
        "mint (SQLite)",
        "mint (PostgreSQL)",
        "mint (Redis)",
        "mint (Redis Cluster)",
        "mint_many, 100 per call (Redis)",
        "presign PUT (ours)",
        "Redis limiter (ours, GCRA)",
        "HTTP mint (SQLite)",
        "HTTP mint (memory)",
        "HTTP mint, async server (memory)",
        "HTTP mint, async server (Redis)",
        "async mint, 1 task (Redis)",
        "async mint, 16 tasks (Redis)",
        "async mint, 128 tasks (Redis)",
        "HTTP mint, async server (PostgreSQL)",
        "HTTP mint, reference server (PostgreSQL, one team)",
        "async mint, 1 task (PostgreSQL)",
        "async mint, 16 tasks (PostgreSQL)",
        "async mint, 128 tasks (PostgreSQL)",
        "async mint, 128 tasks, worker threads (PostgreSQL)",
        "async mint, 1 task, psycopg (async) (PostgreSQL)",
        "async mint, 1 task, asyncmy (MariaDB)",
        "async mint, 1 task, aiosqlite (SQLite)",
        "mint with 20 stalled PUTs (Redis)",
        "classify with 20 stalled PUTs (SQLite)",
        "memory limiter (ours, GCRA)",
    }
    assert all(f["ratio"] > 0 for f in figures)
    # Every gate's figure is measured by the full run too.
    assert set(sync_gate.GATES) <= {(f["name"], f["baseline_name"]) for f in figures}


def test_the_sync_mint_has_not_regressed() -> None:
    failed = sync_gate.failures(sync_gate.run(calls=1_500, rounds=7))
    if failed:  # once more: a regression is slow every time, a busy moment is not
        failed = sync_gate.failures(sync_gate.run(calls=1_500, rounds=7))
    assert not failed, failed
