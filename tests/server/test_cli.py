"""The ``upload-tickets`` command's own surface: help, what ``serve`` prints, what ``./dev serve`` installs."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
import uvicorn

from tests.server.conftest import start_server
from upload_tickets_server import cli
from upload_tickets_server.cli import build_parser, keys_flags, main
from upload_tickets_server.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _help(*command: str) -> str:
    """The help of a subcommand, whitespace collapsed (argparse wraps to the terminal width)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main([*command, "--help"])
    return " ".join(out.getvalue().split())


def _options(help_text: str) -> dict[str, str]:
    """Each option's help entry, by its first flag."""
    options = help_text.partition(" options: ")[2]
    entries = re.split(r"(?<!,) (?=--?[a-z][a-z0-9-]* )", " " + options)
    return {entry.split()[0].rstrip(","): entry for entry in entries if entry.strip()}


@pytest.mark.parametrize("command", [("serve",), ("sweep",), ("keys", "create"), ("keys", "list"), ("keys", "revoke")])
def test_help_shows_every_options_default(command: tuple[str, ...]) -> None:
    options = _options(_help(*command))
    assert len(options) > 2
    for flag, entry in options.items():
        if flag != "-h":
            assert "(default: " in entry, entry


def test_serve_help_names_the_real_defaults() -> None:
    options = _options(_help("serve"))
    assert "(default: 127.0.0.1) [$UPLOAD_TICKETS_HOST]" in options["--host"]
    assert "(default: 8000)" in options["--port"]
    assert "(default: .upload-tickets)" in options["--data-dir"]
    assert "(default: SQLite in the data dir)" in options["--store-url"]
    assert "(default: 900)" in options["--upload-url-ttl"]
    assert "(default: 60.0)" in options["--sweep-interval"]
    assert "(default: info)" in options["--log-level"]
    assert "(default: on the first start only)" in options["--walkthrough"]


def test_help_never_shows_the_environments_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPLOAD_TICKETS_KEYS_URL", "postgresql+psycopg://app:hunter2%21@db/keys")
    monkeypatch.setenv("UPLOAD_TICKETS_PORT", "9999")
    text = _help("serve")
    assert "hunter2" not in text
    assert "(default: 8000)" in _options(text)["--port"]
    assert build_parser().parse_args(["serve"]).port == "9999"


@pytest.fixture
def no_uvicorn(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, object]]:
    """``serve`` runs everything up to uvicorn, which records its arguments and returns at once."""
    runs: list[dict[str, object]] = []

    def run(app: object, **options: object) -> None:
        runs.append(options)

    monkeypatch.setattr(uvicorn, "run", run)
    return runs


def _serve(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["serve", *argv]) == 0
    return capsys.readouterr().out


def _run_hint(capsys: pytest.CaptureFixture[str], printed: str, label: str, **fill: str) -> str:
    """Run the command a hint line of ``printed`` shows, in-process; its standard output."""
    line = next(line for line in printed.splitlines() if line.strip().startswith(label))
    command = line.partition(label)[2].strip()
    for placeholder, value in fill.items():
        command = command.replace(placeholder, value)
    words = shlex.split(command)
    assert words[0] == "upload-tickets"
    assert main(words[1:]) == 0
    return capsys.readouterr().out


def test_a_second_start_says_where_it_listens_and_how_to_go_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_uvicorn: list[dict[str, object]]
) -> None:
    data_dir = tmp_path / "data"
    first = _serve(capsys, "--data-dir", str(data_dir), "--port", "8123")
    assert first.startswith("First start: created a key for team 'dev'")
    assert "KEY=al_live_" in first
    second = _serve(capsys, "--data-dir", str(data_dir), "--port", "8123")
    assert "KEY=" not in second
    assert second.splitlines()[0] == "Listening on http://127.0.0.1:8123"
    assert "restart with --walkthrough" in second
    assert [run["port"] for run in no_uvicorn] == [8123, 8123]
    # The hints run as printed, against the same key database the server uses.
    key = _run_hint(capsys, second, "an API key for a team:", TEAM="acme").strip()
    assert key.startswith("al_live_")
    listed = _run_hint(capsys, second, "the keys so far:")
    assert [line.split()[1] for line in listed.splitlines()] == ["dev", "acme"]


def test_walkthrough_on_a_later_start_makes_a_new_dev_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_uvicorn: list[dict[str, object]]
) -> None:
    _serve(capsys, "--data-dir", str(tmp_path))
    again = _serve(capsys, "--data-dir", str(tmp_path), "--walkthrough")
    assert again.startswith("Created a key for team 'dev'")
    assert f'BASE={Settings().base_url}\nR=$(curl -s -X POST "$BASE/v1/characters/uploads/init"' in again
    # The walkthrough ends at a blank line, then the hints: as the first start prints them.
    assert "\n\nListening on http://127.0.0.1:8000\n" in again
    main(["keys", "list", "--data-dir", str(tmp_path)])
    assert [line.split()[1] for line in capsys.readouterr().out.splitlines()] == ["dev", "dev"]


def test_hints_point_at_the_servers_key_database(tmp_path: Path) -> None:
    assert keys_flags(Settings()) == ""
    assert keys_flags(Settings(data_dir=tmp_path / "a dir")) == f" --data-dir '{tmp_path / 'a dir'}'"
    shown = keys_flags(Settings(keys_url="postgresql+psycopg://app:hunter2@db:5432/keys", data_dir=tmp_path))
    assert shown == " --keys-url 'postgresql+psycopg://app:***@db:5432/keys'"


@pytest.mark.parametrize(
    ("argv0", "on_path", "expected"),
    [
        (".venv-serve/bin/upload-tickets", False, ".venv-serve/bin/upload-tickets"),
        ("upload-tickets", True, "upload-tickets"),
        ("/x/upload_tickets_server/cli.py", False, "upload-tickets"),
    ],
)
def test_hints_name_the_command_as_it_can_be_run_from_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv0: str, on_path: bool, expected: str
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if on_path:
        script = bin_dir / "upload-tickets"
        script.write_text("#!/bin/sh\n")
        script.chmod(0o755)
        argv0 = str(script)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr(sys, "argv", [argv0])
    assert cli._program() == expected


def _wait_for(predicate: Callable[[], bool], what: Callable[[], str]) -> None:
    deadline = time.monotonic() + 10
    while not predicate():
        assert time.monotonic() < deadline, what()
        time.sleep(0.05)


def test_a_real_second_start_prints_the_hints(tmp_path: Path) -> None:
    first = start_server(tmp_path)
    try:
        _wait_for(lambda: "Listening on" in first.printed(), first.printed)
    finally:
        first.stop()
    second = start_server(tmp_path)
    try:
        port = second.base_url.rpartition(":")[2]
        _wait_for(lambda: "the curl walkthrough:" in second.printed(), second.printed)
        printed = second.printed()
        assert "KEY=" not in printed
        assert f"Listening on http://127.0.0.1:{port}\n" in printed
        assert f"upload-tickets keys create TEAM --data-dir {shlex.quote(str(tmp_path))}\n" in printed
    finally:
        second.stop()


def _repo_distributions() -> dict[str, tuple[str, set[str]]]:
    """Each distribution of the repo by folder: its name and the names it depends on."""
    found = {}
    for pyproject in [ROOT / "pyproject.toml", *ROOT.glob("backends/*/pyproject.toml"), ROOT / "server/pyproject.toml"]:
        project = tomllib.loads(pyproject.read_text())["project"]
        needs = {re.split(r"[\s\[<>=!~;]", dep, maxsplit=1)[0].lower() for dep in project["dependencies"]}
        found[str(pyproject.parent.relative_to(ROOT))] = (project["name"], needs)
    return found


def test_dev_serve_installs_every_repo_distribution_the_server_needs() -> None:
    # One left out would be looked up on PyPI, where these names are not the repo's.
    line = next(line for line in (ROOT / "dev").read_text().splitlines() if "ensure_env .venv-serve" in line)
    installed = {str(Path(folder)) for folder in re.findall(r"-e (\S+)", line)}
    repo = _repo_distributions()
    assert installed >= {".", "server"}
    installed_names = {repo[folder][0] for folder in installed}
    repo_names = {name for name, _ in repo.values()}
    for folder in installed:
        assert repo[folder][1] & repo_names <= installed_names, folder
