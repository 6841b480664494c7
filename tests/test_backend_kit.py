"""The backend kit: what adapters import from the core, its error mapping and retry policy."""

from __future__ import annotations

import ast
import asyncio
import hmac
import re
import threading
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import upload_tickets
from upload_tickets import ConfigurationError, NotFound, StoreUnavailable, backend_kit
from upload_tickets._io import read_capped
from upload_tickets._policy import HOUR_US, MINUTE_US, SECOND_US
from upload_tickets.backend_kit import HmacSha256, RetryPolicy, map_errors
from upload_tickets.records import decode_character, encode_character
from upload_tickets.signing import _HmacSha256

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = sorted(path for path in (ROOT / "backends").iterdir() if (path / "pyproject.toml").is_file())


class DriverError(Exception):
    """Stands for a driver's exception family."""


class OtherDriverError(Exception):
    """A second family."""


# -- what the kit holds --------------------------------------------------------------


def test_the_kit_re_exports_the_cores_own_objects() -> None:
    assert backend_kit.gcra is upload_tickets.gcra
    assert backend_kit.decision_after_charge is upload_tickets.decision_after_charge
    assert backend_kit.read_capped is read_capped is upload_tickets.read_capped
    assert (backend_kit.SECOND_US, backend_kit.MINUTE_US, backend_kit.HOUR_US) == (SECOND_US, MINUTE_US, HOUR_US)
    assert (backend_kit.encode_character, backend_kit.decode_character) == (encode_character, decode_character)
    assert HmacSha256 is _HmacSha256


def test_every_name_of_the_kit_exists_and_is_documented() -> None:
    assert backend_kit.__doc__ is not None
    assert "Stability" in backend_kit.__doc__
    for name in backend_kit.__all__:
        value = getattr(backend_kit, name)
        if callable(value):
            assert value.__doc__, name


def _core_imports(source: Path) -> list[str]:
    modules = []
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            modules.append(node.module)
        elif isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
    return [module for module in modules if module == "upload_tickets" or module.startswith("upload_tickets.")]


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda path: path.name)
def test_adapters_import_only_the_root_and_the_kit(backend: Path) -> None:
    sources = [path for path in backend.rglob("*.py") if ".egg-info" not in str(path)]
    assert sources
    for source in sources:
        # An adapter's own test helpers (its testing.py) may use the public testing kit too.
        allowed: tuple[str, ...] = ("upload_tickets", "upload_tickets.backend_kit")
        if source.name == "testing.py":
            allowed += ("upload_tickets.testing.processes",)
        for module in _core_imports(source):
            assert module in allowed, f"{source}: imports {module}"


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda path: path.name)
def test_adapters_pin_a_core_series_that_holds_this_core(backend: Path) -> None:
    core = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    dependencies = tomllib.loads((backend / "pyproject.toml").read_text())["project"]["dependencies"]
    (pin,) = [d for d in dependencies if re.match(r"upload-tickets\b(?!-)", d)]
    found = re.fullmatch(r"upload-tickets>=([0-9.]+),<([0-9.]+)", pin)
    assert found, pin
    low, high = _version(found[1]), _version(found[2])
    assert low <= _version(core) < high


# -- map_errors ------------------------------------------------------------------------


def test_a_mapped_driver_error_is_store_unavailable_caused_by_it() -> None:
    mapping = map_errors((DriverError, OtherDriverError), "the store is unavailable")
    for error in (DriverError("down"), OtherDriverError("slow")):
        with pytest.raises(StoreUnavailable) as caught, mapping:
            raise error
        assert caught.value.__cause__ is error
        assert caught.value.message == f"the store is unavailable: {error}"
        assert caught.value.http_status == 503


def test_other_errors_and_the_cores_own_pass_unchanged() -> None:
    mapping = map_errors(Exception, "the store is unavailable")
    with pytest.raises(NotFound), mapping:
        raise NotFound("no such ticket")
    with pytest.raises(KeyboardInterrupt), mapping:
        raise KeyboardInterrupt
    with pytest.raises(ValueError, match="not a driver error"), map_errors(DriverError, "x"):
        raise ValueError("not a driver error")


def test_a_clean_block_returns_its_value() -> None:
    mapping = map_errors(DriverError, "x")

    def work() -> int:
        with mapping:
            return 7

    assert work() == 7


def test_map_errors_decorates_functions() -> None:
    mapping = map_errors(DriverError, "the store is unavailable")

    @mapping
    def fails(message: str) -> int:
        raise DriverError(message)

    @mapping
    def works(value: int) -> int:
        return value * 2

    assert works(21) == 42
    with pytest.raises(StoreUnavailable, match="the store is unavailable: gone"):
        fails("gone")


def test_one_mapping_serves_nested_blocks_and_threads() -> None:
    mapping = map_errors(DriverError, "x")
    errors: list[BaseException] = []

    def use() -> None:
        for _ in range(200):
            with mapping, mapping:
                pass
            try:
                with mapping:
                    raise DriverError("down")
            except StoreUnavailable as error:
                errors.append(error)

    threads = [threading.Thread(target=use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 800
    assert all(isinstance(error.__cause__, DriverError) for error in errors)


def test_unavailable_builds_the_error_for_hand_written_handlers() -> None:
    error = DriverError("down")
    mapped = map_errors(DriverError, "Redis is unavailable").unavailable(error)
    assert isinstance(mapped, StoreUnavailable)
    assert mapped.message == "Redis is unavailable: down"


# -- RetryPolicy -----------------------------------------------------------------------


def _transient(error: BaseException) -> bool:
    return isinstance(error, DriverError)


def test_a_transient_error_is_retried_until_the_last_attempt() -> None:
    policy = RetryPolicy(_transient, attempts=3, backoff_s=0.01)
    first, second = policy.delay(DriverError(), 1), policy.delay(DriverError(), 2)
    assert first is not None
    assert 0 <= first <= 0.02
    assert second is not None
    assert 0 <= second <= 0.04
    assert policy.delay(DriverError(), 3) is None


def test_an_error_about_the_data_is_never_retried_unless_the_connection_dropped() -> None:
    policy = RetryPolicy(_transient, attempts=3)
    assert policy.delay(OtherDriverError(), 1) is None
    assert policy.delay(OtherDriverError(), 1, disconnected=True) is not None
    assert policy.delay(OtherDriverError(), 3, disconnected=True) is None


def test_one_attempt_never_retries_and_zero_is_refused() -> None:
    assert RetryPolicy(_transient, attempts=1).delay(DriverError(), 1, disconnected=True) is None
    with pytest.raises(ConfigurationError, match="attempts"):
        RetryPolicy(_transient, attempts=0)


def test_delays_are_jittered() -> None:
    policy = RetryPolicy(_transient, attempts=5)
    assert len({policy.delay(DriverError(), 4) for _ in range(20)}) > 1


def _run_async(policy: RetryPolicy, failures: int) -> tuple[str, int]:
    attempts = 0

    async def work() -> str:
        nonlocal attempts
        attempts += 1
        if attempts <= failures:
            raise DriverError("locked")
        return "done"

    async def retried() -> str:
        mapping = map_errors(DriverError, "the store is unavailable")
        attempt = 0
        while True:
            attempt += 1
            try:
                return await work()
            except DriverError as error:
                delay = policy.delay(error, attempt)
                if delay is None:
                    raise mapping.unavailable(error) from error
            await asyncio.sleep(delay)

    return asyncio.run(retried()), attempts


def test_an_async_caller_awaits_the_same_policy() -> None:
    policy = RetryPolicy(_transient, attempts=3, backoff_s=0.001)
    assert _run_async(policy, failures=2) == ("done", 3)
    with pytest.raises(StoreUnavailable, match="locked"):
        _run_async(policy, failures=3)


# -- HmacSha256 ------------------------------------------------------------------------


@given(key=st.binary(min_size=0, max_size=200), message=st.binary(max_size=300))
def test_the_one_hmac_matches_the_stdlib(key: bytes, message: bytes) -> None:
    assert HmacSha256(key).digest(message) == hmac.digest(key, message, "sha256")
