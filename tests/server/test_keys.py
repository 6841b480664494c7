"""A key's whole life: create, list, use, revoke; and tables made by the previous version."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import attrs
import pytest
import sqlalchemy as sa

from tests.services import POSTGRES_URL, require
from tests.support import make_service
from upload_tickets import ManualClock
from upload_tickets.auth import hash_api_key
from upload_tickets.http import HttpApi
from upload_tickets.testing import START_US
from upload_tickets.testing.kit import async_memory_api, async_memory_service
from upload_tickets_server import keys as keys_module
from upload_tickets_server.cli import build_parser, main
from upload_tickets_server.keys import ADDED_COLUMNS, AsyncSqlTeamDirectory, SqlTeamDirectory, api_keys, key_id_for

ISO_UTC = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
ELLIPSIS = "\u2026"


@attrs.define
class KeysDb:
    """A keys database URL, and the keys a test made in it (PostgreSQL's table is shared)."""

    url: str
    created: list[str] = attrs.Factory(list)
    directories: list[SqlTeamDirectory] = attrs.Factory(list)

    def directory(self) -> SqlTeamDirectory:
        """A directory of its own on this database, as another process would have."""
        directory = SqlTeamDirectory(self.url)
        self.directories.append(directory)
        return directory

    def track(self, key: str) -> str:
        """Remember ``key`` so teardown deletes its row."""
        self.created.append(key_id_for(key))
        return key


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KeysDb]:
    url = f"sqlite:///{tmp_path / 'keys.db'}" if request.param == "sqlite" else require(POSTGRES_URL, "PostgreSQL")
    keys_db = KeysDb(url)
    yield keys_db
    for directory in keys_db.directories:
        directory.dispose()
    if keys_db.created:
        engine = sa.create_engine(url)
        with engine.begin() as connection:
            connection.execute(api_keys.delete().where(api_keys.c.key_id.in_(keys_db.created)))
        engine.dispose()


@pytest.fixture
def team() -> str:
    """A team no other test (or run) uses, so listing it shows only this test's keys."""
    return "t_" + uuid.uuid4().hex[:12]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the CLI in-process; its exit code, standard output and standard error."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def create(capsys: pytest.CaptureFixture[str], db: KeysDb, *argv: str) -> str:
    code, out, _ = run(capsys, "keys", "create", *argv, "--keys-url", db.url)
    assert code == 0
    return db.track(out.strip())


def listed(capsys: pytest.CaptureFixture[str], db: KeysDb, team: str) -> list[str]:
    code, out, _ = run(capsys, "keys", "list", "--team", team, "--keys-url", db.url)
    assert code == 0
    return out.splitlines()


def test_create_list_and_revoke_through_the_cli(capsys: pytest.CaptureFixture[str], db: KeysDb, team: str) -> None:
    first = create(capsys, db, team)
    second = create(capsys, db, team, "--pin-version", "2026-05-15")
    assert re.fullmatch(r"al_live_[A-Za-z0-9_-]{32}", first)
    lines = listed(capsys, db, team)
    assert len(lines) == 2
    for key, line in zip((first, second), lines, strict=False):
        assert re.fullmatch(
            rf"{key_id_for(key)}  {team}  {re.escape(key[:12])}{ELLIPSIS}  created {ISO_UTC}  last used never  active",
            line,
        ), line
        assert key not in line
        assert hash_api_key(key) not in line
    assert key_id_for(first) == hash_api_key(first)[:16]

    code, out, _ = run(capsys, "keys", "revoke", key_id_for(first), "--keys-url", db.url)
    assert code == 0
    assert out.startswith(f"revoked {key_id_for(first)} (team {team}, {first[:12]}{ELLIPSIS}) at ")
    code, out, _ = run(capsys, "keys", "revoke", second, "--keys-url", db.url)
    assert code == 0
    assert out.startswith(f"revoked {key_id_for(second)} ")
    lines = listed(capsys, db, team)
    assert all(re.search(rf"  revoked {ISO_UTC}$", line) for line in lines), lines

    directory = db.directory()
    assert directory.team_for_key(first) is None
    assert directory.team_for_key(second) is None


def test_revoking_twice_keeps_the_first_time(capsys: pytest.CaptureFixture[str], db: KeysDb, team: str) -> None:
    key = create(capsys, db, team)
    directory = db.directory()
    once = directory.revoke_key(key)
    again = directory.revoke_key(key_id_for(key).upper())
    assert once is not None
    assert again is not None
    assert once.revoked_at is not None
    assert again.revoked_at == once.revoked_at


@pytest.mark.parametrize("unknown", ["0123456789abcdef", "nothex", "al_live_" + "x" * 32])
def test_revoking_an_unknown_key_fails(capsys: pytest.CaptureFixture[str], tmp_path: Path, unknown: str) -> None:
    code, out, err = run(capsys, "keys", "revoke", unknown, "--data-dir", str(tmp_path))
    assert code == 1
    assert out == ""
    assert "no key" in err
    assert "keys list" in err
    assert "x" * 32 not in err  # an unknown key is still not echoed whole


def test_list_filters_by_team_and_orders_by_creation(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data_dir = str(tmp_path / "fresh")
    keys = [run(capsys, "keys", "create", team, "--data-dir", data_dir)[1].strip() for team in ("b", "a", "b")]
    code, out, _ = run(capsys, "keys", "list", "--data-dir", data_dir)
    assert code == 0
    assert [line.split()[:2] for line in out.splitlines()] == [
        [key_id_for(keys[0]), "b"],
        [key_id_for(keys[1]), "a"],
        [key_id_for(keys[2]), "b"],
    ]
    assert [
        line.split()[0] for line in run(capsys, "keys", "list", "--team", "a", "--data-dir", data_dir)[1].splitlines()
    ] == [key_id_for(keys[1])]
    assert run(capsys, "keys", "list", "--team", "nobody", "--data-dir", data_dir)[:2] == (0, "")


def test_create_keeps_the_previous_flags(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(
        capsys, "keys", "create", "--team", "old", "--pinned-version", "2026-05-15", "--data-dir", str(tmp_path)
    )
    assert code == 0
    directory = SqlTeamDirectory(f"sqlite:///{tmp_path / 'keys.db'}")
    team = directory.team_for_key(out.strip())
    directory.dispose()
    assert team is not None
    assert (team.id, team.pinned_version) == ("old", "2026-05-15")


@pytest.mark.parametrize(
    "argv",
    [
        ["keys", "create"],
        ["keys", "create", "a", "--team", "b"],
        ["keys", "create", "has space"],
        ["keys", "revoke"],
    ],
)
def test_create_and_revoke_refuse_bad_arguments(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--data-dir", str(tmp_path)])
    assert exited.value.code == 2


@pytest.mark.parametrize("option", ["--s3-bucket", "--rate", "--store-url", "--port", "--host", "--ticket-ttl"])
@pytest.mark.parametrize("command", [["keys", "create", "acme"], ["keys", "list"], ["keys", "revoke", "0" * 16]])
def test_keys_subcommands_refuse_serve_options(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: list[str], option: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*command, option, "1", "--data-dir", str(tmp_path)])
    assert exited.value.code == 2
    assert f"unrecognized arguments: {option}" in capsys.readouterr().err
    assert not (tmp_path / "keys.db").exists()


@pytest.mark.parametrize("option", ["--rate", "--port", "--keys-url", "--body-grace"])
def test_sweep_refuses_what_it_does_not_use(capsys: pytest.CaptureFixture[str], option: str) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["sweep", option, "1"])
    assert exited.value.code == 2


def test_serve_and_sweep_keep_their_options() -> None:
    serve = build_parser().parse_args(["serve", "--rate", "5", "--s3-bucket", "b", "--keys-url", "sqlite://"])
    assert (serve.rate, serve.s3_bucket, serve.keys_url) == ("5", "b", "sqlite://")
    sweep = build_parser().parse_args(["sweep", "--store-url", "sqlite://", "--s3-bucket", "b", "--data-dir", "d"])
    assert (sweep.store_url, sweep.s3_bucket, sweep.data_dir) == ("sqlite://", "b", "d")


def test_revocation_applies_on_the_next_request(db: KeysDb, team: str) -> None:
    server = db.directory()
    key = db.track(server.create_key(team))
    api = HttpApi(make_service(ManualClock(START_US)), server)
    assert api.handle("GET", "/v1/characters", "", {"x-api-key": key}, b"").status == 200
    assert server.team_for_key(key) is not None

    revoked = db.directory().revoke_key(key_id_for(key))  # another process's view of the same table
    assert revoked is not None
    assert revoked.revoked

    assert server.team_for_key(key) is None
    assert api.handle("GET", "/v1/characters", "", {"x-api-key": key}, b"").status == 401


def test_the_served_async_api_looks_keys_up_off_the_loop_and_sees_revocations(
    monkeypatch: pytest.MonkeyPatch, db: KeysDb, team: str
) -> None:
    # As serve builds it: the sync SQL directory behind AsyncHttpApi, one worker-thread lookup per request.
    server = db.directory()
    key = db.track(server.create_key(team))
    api = async_memory_api(async_memory_service(), server)
    hops: list[str] = []
    real = anyio.to_thread.run_sync

    async def counting(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(function, "__qualname__", ""))
        return await real(function, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)

    async def scenario() -> None:
        assert (await api.handle("GET", "/v1/characters", "", {"x-api-key": key}, b"")).status == 200
        assert hops == ["SqlTeamDirectory.team_for_key"]
        assert db.directory().revoke_key(key) is not None
        assert (await api.handle("GET", "/v1/characters", "", {"x-api-key": key}, b"")).status == 401

    anyio.run(scenario)


def test_the_async_directory_serve_runs_holds_no_worker_thread_and_sees_revocations(
    monkeypatch: pytest.MonkeyPatch, db: KeysDb, team: str
) -> None:
    # As serve builds it: AsyncSqlTeamDirectory behind AsyncHttpApi. On PostgreSQL the read
    # waits on the loop (asyncpg); on SQLite it runs on the engine's own thread, never the pool's.
    key = db.track(db.directory().create_key(team))
    hops: list[str] = []
    real = anyio.to_thread.run_sync

    async def counting(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(function, "__qualname__", ""))
        return await real(function, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    threads: list[str] = []
    looked_up = SqlTeamDirectory.team_for_key

    def recording(directory: SqlTeamDirectory, api_key: str) -> Any:
        threads.append(threading.current_thread().name)
        return looked_up(directory, api_key)

    monkeypatch.setattr(SqlTeamDirectory, "team_for_key", recording)

    async def scenario() -> None:
        lookups = AsyncSqlTeamDirectory(db.url)
        try:
            api = async_memory_api(async_memory_service(), lookups)
            for _ in range(3):
                assert (await api.handle("GET", "/v1/characters", "", {"x-api-key": key}, b"")).status == 200
            assert db.directory().revoke_key(key) is not None
            assert (await api.handle("GET", "/v1/characters", "", {"x-api-key": key}, b"")).status == 401
        finally:
            await lookups.aclose()

    anyio.run(scenario)
    assert hops == []
    if db.url.startswith("sqlite"):
        assert len(threads) == 4
        assert {name.split("_")[0] for name in threads} == {"upload-tickets-sqlite"}
    else:
        assert threads == [threading.main_thread().name] * 4


def test_revocation_through_the_cli_applies_on_the_next_request(
    capsys: pytest.CaptureFixture[str], db: KeysDb, team: str
) -> None:
    server = db.directory()
    key = create(capsys, db, team)
    other = create(capsys, db, team)
    api = HttpApi(make_service(ManualClock(START_US)), server)
    assert api.handle("GET", "/v1/characters", "", {"x-api-key": key}, b"").status == 200
    assert run(capsys, "keys", "revoke", key, "--keys-url", db.url)[0] == 0
    assert api.handle("GET", "/v1/characters", "", {"x-api-key": key}, b"").status == 401
    assert api.handle("GET", "/v1/characters", "", {"x-api-key": other}, b"").status == 200


def test_last_use_is_written_at_most_once_a_minute(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], db: KeysDb, team: str
) -> None:
    directory = db.directory()
    key = db.track(directory.create_key(team))
    now = [START_US]
    monkeypatch.setattr(keys_module, "_now_us", lambda: now[0])

    def last_used() -> int | None:
        engine = sa.create_engine(db.url)
        with engine.connect() as connection:
            value = connection.execute(
                sa.select(api_keys.c.last_used_at).where(api_keys.c.key_id == key_id_for(key))
            ).scalar_one()
        engine.dispose()
        assert value is None or isinstance(value, int)
        return value

    assert last_used() is None
    assert directory.team_for_key(key) is not None
    assert last_used() == START_US
    now[0] += 59_000_000
    assert directory.team_for_key(key) is not None
    assert db.directory().team_for_key(key) is not None
    assert last_used() == START_US
    now[0] += 2_000_000
    assert directory.team_for_key(key) is not None
    assert last_used() == START_US + 61_000_000
    assert listed(capsys, db, team)[0].split("  last used ")[1].startswith("20")


OLD_METADATA = sa.MetaData()
sa.Table(
    "upload_ticket_api_keys",
    OLD_METADATA,
    sa.Column("key_hash", sa.String(64), primary_key=True),
    sa.Column("team", sa.String(64), nullable=False),
    sa.Column("pinned_version", sa.String(10)),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)
OLD_KEY = "al_live_made_by_the_previous_version_0001"


def _old_row(key: str, team: str) -> dict[str, object]:
    return {"key_hash": hash_api_key(key), "team": team, "pinned_version": "2026-05-15", "created_at": START_US}


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no keys table yet: a file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old-keys.db'}"
        return
    admin = sa.create_engine(require(POSTGRES_URL, "PostgreSQL"))
    schema = "keys_upgrade_" + uuid.uuid4().hex[:10]
    with admin.begin() as connection:
        connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def test_a_table_made_by_the_previous_version_is_upgraded_in_place(
    capsys: pytest.CaptureFixture[str], empty_db: str
) -> None:
    old = sa.create_engine(empty_db)
    OLD_METADATA.create_all(old)
    old_table = OLD_METADATA.tables["upload_ticket_api_keys"]
    with old.begin() as connection:
        connection.execute(old_table.insert().values(_old_row(OLD_KEY, "veteran")))

    directory = SqlTeamDirectory(empty_db)
    try:
        columns = {column["name"] for column in sa.inspect(old).get_columns("upload_ticket_api_keys")}
        assert set(ADDED_COLUMNS) <= columns
        team = directory.team_for_key(OLD_KEY)
        assert team is not None
        assert (team.id, team.pinned_version) == ("veteran", "2026-05-15")
        with old.connect() as connection:
            stored = connection.execute(sa.select(api_keys.c.key_id)).scalar_one()
        assert stored == key_id_for(OLD_KEY)

        SqlTeamDirectory(empty_db).dispose()  # a second start finds nothing to do
        # A process still on the previous version writes a row without the new columns.
        straggler = "al_live_written_during_the_rolling_upgrade"
        with old.begin() as connection:
            connection.execute(old_table.insert().values(_old_row(straggler, "veteran")))
        fresh = directory.create_key("veteran")

        lines = {line.split()[0]: line for line in listed(capsys, KeysDb(empty_db), "veteran")}
        created = "created 2026-05-05T16:53:20Z"
        assert re.fullmatch(
            rf"{key_id_for(OLD_KEY)}  veteran  al_live_{ELLIPSIS}  {created}  last used {ISO_UTC}  active",
            lines[key_id_for(OLD_KEY)],
        )
        assert lines[key_id_for(straggler)] == (
            f"{key_id_for(straggler)}  veteran  al_live_{ELLIPSIS}  {created}  last used never  active"
        )
        assert lines[key_id_for(fresh)].startswith(f"{key_id_for(fresh)}  veteran  {fresh[:12]}{ELLIPSIS}  created ")
        assert len(lines) == 3

        for key in (OLD_KEY, straggler):
            code, _, _ = run(capsys, "keys", "revoke", key_id_for(key), "--keys-url", empty_db)
            assert code == 0
            assert directory.team_for_key(key) is None
        assert directory.team_for_key(fresh) is not None
    finally:
        directory.dispose()
        old.dispose()
