"""The benchmark scripts run (tiny sizes), so they cannot rot; nothing here is timed."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import run


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
        "mint (SQLite)",
        "mint (PostgreSQL)",
        "mint (Redis)",
        "mint (Redis Cluster)",
        "mint_many, 100 per call (Redis)",
        "presign PUT (ours)",
        "Redis limiter (ours, GCRA)",
        "HTTP mint (SQLite)",
        "HTTP mint (memory)",
        "mint with 20 stalled PUTs (Redis)",
        "classify with 20 stalled PUTs (SQLite)",
        "memory limiter (ours, GCRA)",
    }
    assert all(f["ratio"] > 0 for f in figures)
