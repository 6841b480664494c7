"""Every Python block of the READMEs runs as written (the S3 one runs in tests/s3)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pytest

from upload_tickets.clock import ManualClock
from upload_tickets.testing import START_US
from upload_tickets.testing.kit import memory_service

ROOT = Path(__file__).resolve().parents[1]
READMES = ["README.md", "backends/redis/README.md", "backends/sql/README.md", "server/README.md"]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks(readme: str) -> list[tuple[str, str]]:
    """``(id, code)`` for each Python block of ``readme``, ids naming the file and the block's line."""
    text = (ROOT / readme).read_text()
    return [(f"{readme}:{text.count(chr(10), 0, m.start()) + 1}", m.group(1)) for m in _BLOCK.finditer(text)]


def run_block(code: str, name: str) -> dict[str, Any]:
    """Execute ``code`` as a module would run, then call any test functions it defines with the kit's fixtures."""
    namespace: dict[str, Any] = {"__name__": name}
    exec(compile(code, name, "exec"), namespace)
    for value in list(namespace.values()):
        if inspect.isfunction(value) and value.__name__.startswith("test_") and value.__module__ == name:
            clock = ManualClock(START_US)
            fixtures = {"upload_tickets_clock": clock, "upload_tickets_service": memory_service(clock=clock)}
            value(**{param: fixtures[param] for param in inspect.signature(value).parameters})
    return namespace


@pytest.mark.parametrize(("where", "code"), [block for readme in READMES for block in python_blocks(readme)])
def test_readme_block_runs(where: str, code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # files the block makes (a SQLite database, blobs) land here
    run_block(code, f"readme_{abs(hash(where))}")


def test_every_readme_has_its_blocks_found() -> None:
    assert len(python_blocks("README.md")) >= 4
    assert all(python_blocks(readme) for readme in READMES)
