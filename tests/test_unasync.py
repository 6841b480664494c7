"""The sync flavour is generated from the async source: a stale generated file fails the run."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_generated_sync_files_are_current() -> None:
    done = subprocess.run(
        [sys.executable, "scripts/unasync.py", "--check"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_generated_sync_code_never_touches_an_event_loop() -> None:
    # The sync flavour keeps its speed and its semantics: no loop, portal or thread hop.
    generated = [p for p in ROOT.glob("**/_sync/*.py") if ".venv" not in p.parts and p.name != "_primitives.py"]
    assert generated, "no generated files found"
    for path in generated:
        text = path.read_text()
        for word in ("asyncio", "anyio", "await ", "async def", "to_thread", "portal"):
            assert word not in text, f"{path.relative_to(ROOT)} mentions {word!r}"


def test_a_change_to_the_async_source_reaches_the_sync_flavour() -> None:
    spec = importlib.util.spec_from_file_location("unasync", ROOT / "scripts" / "unasync.py")
    assert spec is not None
    assert spec.loader is not None
    unasync = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(unasync)
    source = (
        "async def mint(self) -> AsyncIterator[bytes]:\n"
        "    async with self._lock:\n"
        "        await self.store.create(t)\n"
    )
    assert unasync.unasync_text(source).endswith(
        "def mint(self) -> Iterator[bytes]:\n    with self._lock:\n        self.store.create(t)\n"
    )
