"""Generate the sync flavour of the library from its async source (the httpcore way).

Every ``_async/`` folder listed in :data:`PACKAGES` is the one source of its logic; its
``_sync/`` twin is written from it by the line substitutions below, never by hand.
``_primitives.py`` is the exception: the small pieces that differ by nature (a thread
hop, a cancel shield) are hand-written in both folders.

    python scripts/unasync.py           # rewrite the _sync folders
    python scripts/unasync.py --check   # fail if any of them is stale (the test suite runs this)
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: The async source folders; each gets a ``_sync`` sibling.
PACKAGES = (
    "upload_tickets/_async",
    "backends/redis/upload_tickets_redis/_async",
    "backends/sql/upload_tickets_sql/_async",
    "backends/s3/upload_tickets_s3/_async",
)

#: Written by hand on both sides.
HAND_WRITTEN = frozenset({"_primitives.py"})

HEADER = "# Generated from the _async folder by scripts/unasync.py: edit that source, then run it.\n"

# Order matters: specific names first, the generic ``Async`` prefix rule after them.
SUBS = [
    (r"\bredis\.asyncio\.cluster\b", "redis.cluster"),
    (r"\bredis\.asyncio\b", "redis"),
    (r"\bsqlalchemy\.ext\.asyncio\b", "sqlalchemy.engine"),
    (r"\ba(iter_bytes|iter_raw|read)\(", r"\1("),
    (r"\b_async\b", "_sync"),
    (r"\basync_backend_from_url\b", "backend_from_url"),
    (r"\bAsync([A-Z]\w*)", r"\1"),
    (r"\bAwaitable\[([^\[\]]+)\]", r"\1"),
    (r"\basync (def|with|for) ", r"\1 "),
    (r"\bawait ", ""),
    (r"\baclose\(", "close("),
    (r"\b__a(enter|exit|iter|next)__\b", r"__\1__"),
    (r"\bStopAsyncIteration\b", "StopIteration"),
    # One level of nesting: ``Awaitable[list[T]]`` (the rule above takes only flat ones).
    (r"\bAwaitable\[(\w+\[[^\[\]]+\])\]", r"\1"),
    (r"\basync_open_backend\b", "open_backend"),
]
COMPILED = [(re.compile(pattern), replacement) for pattern, replacement in SUBS]


def unasync_text(text: str, name: str = "generated.py") -> str:
    """The sync twin of one async source file, its imports sorted and formatted as ruff does."""
    for pattern, replacement in COMPILED:
        text = pattern.sub(replacement, text)
    # Renamed imports change their sort order, ``Awaitable`` may go unused, shorter lines may now be joined.
    text = _ruff(["check", "--select", "I,F401", "--fix", "--quiet", "--exit-zero"], text, name)
    return _ruff(["format", "--quiet"], HEADER + text, name)


def _ruff(args: list[str], text: str, name: str) -> str:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        raise SystemExit("scripts/unasync.py needs ruff (pip install ruff)")
    done = subprocess.run(  # noqa: S603  # ruff, found next to this interpreter
        [ruff, *args, "--stdin-filename", str(ROOT / name), "-"],
        input=text,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return done.stdout


def pairs() -> list[tuple[Path, Path]]:
    """Every (async source, generated sync file) pair."""
    found = []
    for package in PACKAGES:
        source = ROOT / package
        target = source.parent / "_sync"
        for path in sorted(source.glob("*.py")):
            if path.name not in HAND_WRITTEN:
                found.append((path, target / path.name))
    return found


def stale() -> list[Path]:
    """Generated files that differ from what their source gives now (or are missing or orphaned)."""
    out = [
        target
        for source, target in pairs()
        if not target.exists() or target.read_text() != unasync_text(source.read_text())
    ]
    for package in PACKAGES:
        target_dir = (ROOT / package).parent / "_sync"
        sources = {p.name for p in (ROOT / package).glob("*.py")}
        out += [p for p in sorted(target_dir.glob("*.py")) if p.name not in sources]
    return out


def main(argv: list[str]) -> int:
    if "--check" in argv:
        outdated = stale()
        for path in outdated:
            print(f"stale: {path.relative_to(ROOT)} (run: python scripts/unasync.py)", file=sys.stderr)
        return 1 if outdated else 0
    for source, target in pairs():
        target.parent.mkdir(exist_ok=True)
        text = unasync_text(source.read_text(), str(target))
        if not target.exists() or target.read_text() != text:
            target.write_text(text)
            print(f"wrote {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
