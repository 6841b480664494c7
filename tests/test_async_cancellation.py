"""Cancel ``AsyncUploadTickets`` at every await of mint, receive, classify and consume: nothing half-applied.

The store, limiter, blob store and classifier are wrapped so each coroutine call (and
each chunk of a streamed body) is one counted step. An uncancelled run counts the
steps; then, for every step ``k``, a fresh run is cancelled there, natively
(``task.cancel()``), by an anyio ``CancelScope`` and by ``asyncio.timeout``, either as
the call starts (it never runs) or as it returns (it ran: a reply lost on its way back).
After each, the stores hold the state from before the operation or the state after
it: a mint is charged exactly when its ticket exists, an upload's bytes are the
ticket's or gone, a consumed set is all or nothing, and the sweep settles whatever a
cancelled consume left promoting.

The memory backends here give a separate store and limiter, so a mint takes the
facade's own two-step, shielded path (``_charge_then_create``). The counted stand-ins
wait (their steps are where cancellations land), so the facade shields its multi-step
changes over them as it does over networked components. With file blobs, a third phase
lands the cancellation inside the store's waits on its worker threads.
``tests/redis`` runs the same harness on Redis, where a mint is one script, with two
phases inside redis-py, and checks the connection pool after each cancellation.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import enum
import functools
import gc
import inspect
import threading
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO, TypeVar
from urllib.parse import urlsplit

import anyio
import attrs
import pytest

from tests.support import make_signer
from upload_tickets import (
    AsyncFileBlobStore,
    AsyncImageClassifier,
    AsyncMemoryBlobStore,
    AsyncMemoryRateLimiter,
    AsyncMemoryTicketStore,
    AsyncUploadTickets,
    CharacterState,
    ManualClock,
    MintRequest,
    State,
    Team,
    UploadTicket,
)
from upload_tickets._async._primitives import offload
from upload_tickets._policy import Operation
from upload_tickets.protocols import Clock
from upload_tickets.testing import START_US, image_bytes

_T = TypeVar("_T")
_PNG = MintRequest("front.png", "png", "image/png")
_FAR_FUTURE_US = 2**62


class Mode(enum.Enum):
    """How the cancellation is made."""

    NATIVE = "task.cancel()"
    SCOPE = "anyio.CancelScope.cancel()"
    TIMEOUT = "asyncio.timeout expiring"


class Phase(enum.Enum):
    """Where, around the counted call, the cancellation lands."""

    BEFORE = "before"  # as the call starts: it never runs
    AFTER = "after"  # as it returns: it ran, its answer is lost
    INSIDE = "inside"  # at the call's first suspension (a network call: checking out a connection, connecting)
    SENT = "sent"  # once a network call has written its request, while its reply is awaited


#: The trap whose counted call is running in this context, for a driver hook to report a request sent.
SENDING: contextvars.ContextVar[Trap | None] = contextvars.ContextVar("SENDING", default=None)


class Trap:
    """Counts the awaited adapter calls of an operation and fires a cancellation at one of them."""

    def __init__(self) -> None:
        self.count = 0
        self.at: int | None = None
        self.phase = Phase.BEFORE
        self.fire: Callable[[], None] = _nothing
        self.fired_at: str | None = None
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.sent = False
        self._awaiting_send = False

    def arm(self, at: int | None, phase: Phase = Phase.BEFORE, fire: Callable[[], None] | None = None) -> None:
        """Count from zero again; cancel (with ``fire``) at step ``at`` (``None``: never)."""
        self.count, self.at, self.phase, self.fire = 0, at, phase, fire or _nothing
        self.fired_at = None
        self.calls = []
        self.sent = self._awaiting_send = False

    def disarm(self) -> None:
        """Stop counting: setup and checks call the adapters uncounted."""
        self.at = None
        self._awaiting_send = False

    @property
    def names(self) -> list[str]:
        """The counted calls of the last run, in order."""
        return [name for name, _ in self.calls]

    def request_sent(self) -> None:
        """A driver hook's report: the counted call wrote its request (``Phase.SENT`` fires now)."""
        if self._awaiting_send:
            self._awaiting_send, self.sent = False, True
            # Requested now, in the calling task: it lands at the reply read's suspension
            # (or, if the reply is in already, at the operation's next one).
            self.fire()

    async def step(self, name: str, call: Callable[[], Awaitable[_T]], args: tuple[Any, ...] = ()) -> _T:
        self.count += 1
        self.calls.append((name, args))
        here = self.at == self.count
        token = None
        if here:
            self.fired_at = f"{name} (step {self.count}, {self.phase.value})"
            if self.phase is Phase.BEFORE:
                self.fire()
                # The one suspension a cancel can land at, in the calling task, before the call.
                await asyncio.sleep(0)
            elif self.phase is Phase.INSIDE:
                asyncio.get_running_loop().call_soon(self.fire)
            elif self.phase is Phase.SENT:
                self._awaiting_send = True
                token = SENDING.set(self)
        try:
            result = await call()
        finally:
            if token is not None:
                SENDING.reset(token)
                self._awaiting_send = False
        if here and self.phase is Phase.AFTER:
            self.fire()
            try:
                await asyncio.sleep(0)
            except BaseException:
                # A stream the caller never got is closed, as an adapter's own await would close it.
                if callable(close := getattr(result, "close", None)):
                    close()
                raise
        return result


def _nothing() -> None:
    pass


def trapped(target: object, trap: Trap) -> Any:
    """A stand-in for ``target`` whose coroutine methods are counted steps; properties and plain methods pass through.

    Built as a class with exactly the target's public names, so the facade's protocol
    checks (a charging store, a clock follower) answer as they would for the target;
    but it waits at every step, whatever the target says (``never_waits``).
    """
    namespace: dict[str, Any] = {"wrapped": target, "never_waits": False}
    for name in dir(type(target)):
        if name.startswith("_"):
            continue
        if isinstance(inspect.getattr_static(target, name), property):
            namespace[name] = _forwarded(target, name)
            continue
        value = getattr(target, name)
        if inspect.iscoroutinefunction(value):
            namespace[name] = staticmethod(_counted(trap, f"{type(target).__name__}.{name}", value))
        elif callable(value):
            namespace[name] = staticmethod(value)
    return type(f"Trapped{type(target).__name__}", (), namespace)()


def _forwarded(target: object, name: str) -> property:
    def get(_: object) -> Any:
        return getattr(target, name)

    return property(get)


def _counted(trap: Trap, label: str, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def call(*args: Any, **kwargs: Any) -> Any:
        return await trap.step(label, lambda: method(*args, **kwargs), args)

    return call


async def _value(value: _T) -> _T:
    return value


async def counted_body(trap: Trap, chunks: Sequence[bytes]) -> AsyncIterator[bytes]:
    """A streamed request body whose every chunk is a counted step (the client may stall on any)."""
    for chunk in chunks:
        yield await trap.step("body chunk", functools.partial(_value, chunk))


@attrs.define
class Env:
    """One service on counted adapters, and the raw adapters to set up and check with."""

    store: Any
    limiter: Any
    blobs: Any
    #: Every key the blob store holds (temporary files included, where it makes any).
    list_blobs: Callable[[], set[str]]
    trap: Trap
    #: Uncounted: for setup and checks.
    plain: AsyncUploadTickets
    #: Counted: the operation under test runs on it.
    service: AsyncUploadTickets
    #: Run after each cancellation (a networked store checks its connections here).
    after_cancel: Callable[[], Awaitable[None]] | None = None
    #: Whether a native cancellation always ends the operation (False: the driver may lose one, a known bug).
    delivers_every_cancel: bool = True


def make_env(
    store: Any,
    limiter: Any,
    *,
    clock: Clock | None = None,
    files: Path | None = None,
    after_cancel: Callable[[], Awaitable[None]] | None = None,
    delivers_every_cancel: bool = True,
) -> Env:
    """Services over ``store`` and ``limiter`` (the same object stays one: a charging store stays one).

    Blobs are in memory, or files under ``files``.
    """
    trap = Trap()
    blobs: Any
    keys: Callable[[], set[str]]
    if files is None:
        blobs = AsyncMemoryBlobStore()
        keys = blobs.keys
    else:
        blobs = AsyncFileBlobStore(files, fsync=False)
        keys = functools.partial(file_keys, files)
    counted_store = trapped(store, trap)
    counted_limiter = counted_store if limiter is store else trapped(limiter, trap)
    signer = make_signer()
    plain = AsyncUploadTickets(store=store, limiter=limiter, signer=signer, blobs=blobs, clock=clock)
    service = AsyncUploadTickets(
        store=counted_store,
        limiter=counted_limiter,
        signer=signer,
        blobs=trapped(blobs, trap),
        classifier=trapped(AsyncImageClassifier(), trap),
        clock=plain.clock,
    )
    return Env(
        store=store,
        limiter=limiter,
        blobs=blobs,
        list_blobs=keys,
        trap=trap,
        plain=plain,
        service=service,
        after_cancel=after_cancel,
        delivers_every_cancel=delivers_every_cancel,
    )


def file_keys(root: Path) -> set[str]:
    """The keys of the files under ``root`` (``<folders>/<shard>/<name>``), temporary files included."""
    keys = set()
    for path in root.rglob("*"):
        if path.is_file():
            *folders, _shard, name = path.relative_to(root).parts
            keys.add("/".join([*folders, name]))
    return keys


# What each operation may leave behind.


def new_team() -> Team:
    return Team(f"cx-{uuid.uuid4().hex[:12]}")


async def tickets_of(env: Env, team: Team) -> list[UploadTicket]:
    return [t for t in await env.store.expired(_FAR_FUTURE_US, 100_000) if t.team == team.id]


async def tokens_spent(env: Env, team: Team) -> int:
    """Tokens gone from the team's bucket (this charges one more to find out)."""
    policy = env.plain.rates.policy(Operation.MINT)
    assert policy is not None
    decision = await env.limiter.acquire(f"{policy.name}:{{{team.id}}}", policy)
    return int(policy.burst - 1 - decision.remaining)


def blob_keys(env: Env, team: Team) -> set[str]:
    return {key for key in env.list_blobs() if key.split("/")[1] == team.id}


async def read_blob(env: Env, key: str) -> bytes:
    with await env.blobs.open(key) as stream:
        data: bytes = stream.read()
    return data


async def upload(env: Env, team: Team, data: bytes) -> str:
    minted = await env.plain.mint(team, _PNG)
    query = urlsplit(minted.upload.url).query
    await env.plain.receive(minted.ticket.id, query, content_type="image/png", content_length=None, body=_one(data))
    return minted.ticket.id


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _thirds(data: bytes) -> list[bytes]:
    third = len(data) // 3
    return [data[:third], data[third : 2 * third], data[2 * third :]]


@attrs.define
class Case:
    """An operation set up on fresh state: ``run`` it on a service, then ``check`` what it left."""

    run: Callable[[AsyncUploadTickets], Awaitable[object]]
    check: Callable[[bool], Awaitable[None]]


Scenario = Callable[[Env], Awaitable[Case]]


def mint(idempotent: bool) -> Scenario:
    async def setup(env: Env) -> Case:
        team = new_team()
        key = "retry-me" if idempotent else None

        async def run(service: AsyncUploadTickets) -> object:
            return await service.mint(team, _PNG, idempotency_key=key)

        async def check(completed: bool) -> None:
            # The ticket the facade tried to store, looked up by its id.
            tried = {args[0].id for name, args in env.trap.calls if name.endswith((".create", ".create_if_allowed"))}
            stored = [t for t in [await env.store.get(team.id, i) for i in sorted(tried)] if t is not None]
            assert len(stored) <= 1, stored
            assert len(stored) == 1 or not completed
            assert all(t.state is State.MINTED and t.version == 0 for t in stored)
            assert await tickets_of(env, team) == stored, "a stored ticket the sweep cannot find"
            if idempotent:
                found = await env.store.find_by_idempotency_key(team.id, key)
                assert found == (stored[0] if stored else None)
                # The client retries: the same ticket if the first attempt made it, uncharged.
                again = await env.plain.mint(team, _PNG, idempotency_key=key)
                assert again.replayed == bool(stored)
                assert again.ticket == (stored[0] if stored else await env.store.get(team.id, again.ticket.id))
                stored = [again.ticket]
            assert await tokens_spent(env, team) == len(stored), "a mint charged without its ticket (or the reverse)"

        return Case(run, check)

    return setup


def receive(reupload: bool) -> Scenario:
    """Admit a PUT and stream its body in three chunks (to a ticket already uploaded once, if ``reupload``)."""

    async def setup(env: Env) -> Case:
        team = new_team()
        minted = await env.plain.mint(team, _PNG)
        upload_id, query = minted.ticket.id, urlsplit(minted.upload.url).query
        first, data = image_bytes("image/png"), image_bytes("image/png", 9, 7)
        if reupload:
            await env.plain.receive(upload_id, query, content_type="image/png", content_length=None, body=_one(first))
        before = await env.store.get(team.id, upload_id)
        assert before is not None

        async def run(service: AsyncUploadTickets) -> object:
            admission = await service.admit_upload(upload_id, query, content_type="image/png", content_length=None)
            return await service.store_upload(admission, counted_body(env.trap, _thirds(data)))

        async def check(completed: bool) -> None:
            ticket = await env.store.get(team.id, upload_id)
            assert ticket is not None
            keys = blob_keys(env, team)
            if ticket == before:
                assert not completed
                assert keys == ({before.blob_key} if reupload else set()), f"orphan bytes: {keys}"
                if reupload:
                    assert await read_blob(env, before.blob_key) == first
                return
            assert (ticket.state, ticket.version, ticket.size) == (State.UPLOADED, before.version + 1, len(data))
            assert keys == {ticket.blob_key}, f"orphan bytes next to {ticket.blob_key}: {keys}"
            assert await read_blob(env, ticket.blob_key) == data

        return Case(run, check)

    return setup


def classify() -> Scenario:
    async def setup(env: Env) -> Case:
        team = new_team()
        upload_id = await upload(env, team, image_bytes("image/png"))
        before = await env.store.get(team.id, upload_id)
        assert before is not None

        async def run(service: AsyncUploadTickets) -> object:
            return await service.classify(team, upload_id)

        async def check(completed: bool) -> None:
            ticket = await env.store.get(team.id, upload_id)
            assert ticket is not None
            classified = ticket != before
            if classified:
                assert (ticket.state, ticket.version) == (State.CLASSIFIED, before.version + 1)
                assert ticket.classification is not None
            assert classified or not completed
            assert blob_keys(env, team) == {before.blob_key}
            # The mint, and the classify's token once charged (a cancelled request may have paid).
            assert await tokens_spent(env, team) in ((2,) if classified else (1, 2))

        return Case(run, check)

    return setup


def consume(idempotent: bool, classified_first: bool = False) -> Scenario:
    """Consume two uploads (one classified beforehand, if ``classified_first``; the other's bytes checked)."""

    async def setup(env: Env) -> Case:
        team = new_team()
        payloads = [image_bytes("image/png", 8 + n, 6) for n in range(2)]
        ids = [await upload(env, team, payload) for payload in payloads]
        if classified_first:
            await env.plain.classify(team, ids[0])
        paid = len(ids) + classified_first
        key = "one-character" if idempotent else None
        before = await env.store.get_many(team.id, ids)
        staged = {t.blob_key for t in before if t is not None}

        async def run(service: AsyncUploadTickets) -> object:
            return await service.consume(team, ids, idempotency_key=key)

        async def check(completed: bool) -> None:
            after = await env.store.get_many(team.id, ids)
            characters = await env.store.list_characters(team.id, None, 10)
            keys = blob_keys(env, team)
            if after == before:
                assert not completed
                assert characters == [], "a character without its tickets"
                assert keys == staged, f"bytes lost or orphaned: {keys} != {staged}"
            else:
                assert len(characters) == 1, characters
                (character,) = characters
                assert character.upload_ids == tuple(ids)
                for old, new in zip(before, after, strict=True):
                    assert old is not None
                    assert new is not None
                    assert (new.state, new.character_id, new.version) == (
                        State.CONSUMED,
                        character.id,
                        old.version + 1,
                    ), "a consume applied to some tickets only"
                owned = {ref.blob_key for ref in character.refs}
                assert keys <= staged | owned, f"orphan bytes: {keys - staged - owned}"
                for ref in character.refs:
                    assert {ref.staged_key, ref.blob_key} & keys, f"{ref.upload_id} lost its bytes"
                if character.state is CharacterState.READY:
                    assert keys == owned
                else:
                    assert character.state is CharacterState.PROMOTING
                    assert not completed
            spent = await tokens_spent(env, team)
            if idempotent:
                # The client retries with its key: one character, never a second charge.
                again = await env.plain.consume(team, ids, idempotency_key=key)
                assert again.character.state is CharacterState.READY
                if characters:
                    assert again.character.id == characters[0].id
                assert spent in (paid, paid + 1)
                # Less the probe above: one charge for the request and its retry together, at most.
                assert await tokens_spent(env, team) - 1 - paid in (0, 1), "a retry with its key paid again"
            else:
                assert spent in ((paid + 1,) if after != before else (paid, paid + 1))
            # A consume cancelled while promoting is rolled forward by the sweep.
            report = await env.plain.sweep()
            assert report.skipped == ()
            characters = await env.store.list_characters(team.id, None, 10)
            assert all(c.state is CharacterState.READY for c in characters)
            if characters:
                (character,) = characters
                assert blob_keys(env, team) == {ref.blob_key for ref in character.refs}
                assert [await read_blob(env, ref.blob_key) for ref in character.refs] == payloads
            else:
                assert blob_keys(env, team) == staged

        return Case(run, check)

    return setup


SCENARIOS: dict[str, Scenario] = {
    "mint": mint(idempotent=False),
    "mint with a key": mint(idempotent=True),
    "receive": receive(reupload=False),
    "receive again": receive(reupload=True),
    "classify": classify(),
    "consume": consume(idempotent=False),
    "consume with a key, one classified": consume(idempotent=True, classified_first=True),
}


# The driver.


async def run_cancelled(env: Env, case: Case, mode: Mode, at: int | None, phase: Phase) -> bool:
    """Run ``case`` on the counted service, cancelled at step ``at``; True if it ran to its end."""
    loop = asyncio.get_running_loop()
    scopes: list[anyio.CancelScope] = []
    timeouts: list[asyncio.Timeout] = []

    async def operation() -> bool:
        if mode is Mode.SCOPE:
            with anyio.CancelScope() as scope:
                scopes.append(scope)
                await case.run(env.service)
                return True
            return False
        if mode is Mode.TIMEOUT:
            try:
                async with asyncio.timeout(None) as timeout:
                    timeouts.append(timeout)
                    await case.run(env.service)
                    return True
            except TimeoutError:
                return False
        await case.run(env.service)
        return True

    requested = missed = False

    def fire() -> None:
        nonlocal requested, missed
        requested = True
        if mode is Mode.NATIVE:
            # False when the task had finished already (a reply that was in before the cancel).
            missed = not task.cancel()
        elif mode is Mode.SCOPE:
            scopes[0].cancel()
        else:
            timeouts[0].reschedule(loop.time())

    env.trap.arm(at, phase, fire)
    task = asyncio.create_task(operation())
    try:
        await asyncio.wait([task])
    finally:
        env.trap.disarm()
    if task.cancelled():
        return False
    if (error := task.exception()) is not None:
        raise AssertionError(f"cancelled at {env.trap.fired_at}, the operation failed instead") from error
    completed = task.result()
    if mode is Mode.NATIVE and requested and not missed and env.delivers_every_cancel:
        assert not completed, f"the cancellation at {env.trap.fired_at} was swallowed"
    return completed


async def cancel_everywhere(
    make: Callable[[], Awaitable[Env]],
    scenario: Scenario,
    mode: Mode,
    phases: Sequence[Phase] = (Phase.BEFORE, Phase.AFTER),
    networked: Callable[[str], bool] = lambda name: False,
) -> list[str]:
    """Cancel the operation at each of its steps in each phase (a fresh case each time); the steps, named.

    ``Phase.INSIDE`` and ``Phase.SENT`` are tried only at the ``networked`` steps, those
    that wait inside (on a server, on a worker thread); at the others ``BEFORE`` and
    ``AFTER`` say all. For ``SENT`` a driver hook must report the requests written
    (:meth:`Trap.request_sent`).
    """
    env = await make()
    case = await scenario(env)
    assert await run_cancelled(env, case, mode, None, Phase.BEFORE)
    await case.check(True)
    steps = env.trap.names
    assert steps, "the operation awaited nothing"
    for phase in phases:
        for at, name in enumerate(steps, start=1):
            if phase in (Phase.INSIDE, Phase.SENT) and not networked(name):
                continue
            env = await make()
            case = await scenario(env)
            completed = await run_cancelled(env, case, mode, at, phase)
            assert env.trap.fired_at is not None, f"step {at} of {steps} never came: the run differs ({env.trap.names})"
            assert env.trap.sent or phase is not Phase.SENT, f"{name} sent no request the hook saw"
            try:
                # Right after the cancellation, before the checks read anything.
                if env.after_cancel is not None:
                    await env.after_cancel()
                await case.check(completed)
            except AssertionError as error:
                raise AssertionError(f"cancelled at {env.trap.fired_at} by {mode.value}: {error}") from error
    return steps


# On the memory backends: the facade's own shielding.


async def _memory_env(files: Path | None = None) -> Env:
    clock = ManualClock(START_US)
    return make_env(AsyncMemoryTicketStore(), AsyncMemoryRateLimiter(clock), clock=clock, files=files)


_MODES = pytest.mark.parametrize("mode", list(Mode), ids=[m.name.lower() for m in Mode])


@_MODES
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_cancelled_anywhere_on_memory_leaves_no_half_change(name: str, mode: Mode) -> None:
    steps = asyncio.run(cancel_everywhere(_memory_env, SCENARIOS[name], mode))
    assert len(steps) >= 2, steps


@_MODES
@pytest.mark.parametrize("name", ["receive", "receive again", "consume"])
def test_cancelled_anywhere_with_file_blobs_leaves_no_half_change(name: str, mode: Mode, tmp_path: Path) -> None:
    # The file store waits on worker threads: INSIDE lands a cancellation in those waits too.
    runs = iter(range(1_000_000))

    async def fresh() -> Env:
        return await _memory_env(tmp_path / str(next(runs)))

    phases = (Phase.BEFORE, Phase.AFTER, Phase.INSIDE)
    asyncio.run(cancel_everywhere(fresh, SCENARIOS[name], mode, phases, networked=_on_files))


def _on_files(step: str) -> bool:
    return step.startswith("AsyncFileBlobStore.")


# Where the adapters' own awaits hand work to a thread: what a cancellation leaves.
#
# Found here: ``offload`` waited for its thread only under an anyio scope (anyio's shield
# does not stop a native ``Task.cancel()``), so ``asyncio.timeout`` left the thread
# running after the caller's cleanup, and ``AsyncFileBlobStore.put`` cancelled while its
# temporary file was made leaked the file and its descriptor. Both fixed meanwhile.


@pytest.mark.parametrize("mode", [Mode.NATIVE, Mode.SCOPE], ids=["native", "scope"])
def test_a_cancelled_offload_waits_for_its_thread(mode: Mode) -> None:
    async def main() -> None:
        release, finished = threading.Event(), threading.Event()

        def work() -> None:
            release.wait(5)
            finished.set()

        async def call() -> None:
            with anyio.CancelScope() as scope:
                scopes.append(scope)
                await offload(work)

        scopes: list[anyio.CancelScope] = []
        task = asyncio.create_task(call())
        await asyncio.sleep(0.05)
        if mode is Mode.NATIVE:
            task.cancel()
        else:
            scopes[0].cancel()
        await asyncio.wait([task], timeout=0.2)
        done_early = task.done()
        release.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert await asyncio.to_thread(finished.wait, 5)
        assert not done_early, "the cancelled caller went on while its thread still ran"

    asyncio.run(main())


class _HeldTempFile(AsyncFileBlobStore):
    """Holds the worker thread that makes the temporary file until the test releases it."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, fsync=False)
        self.entered, self.release, self.left = threading.Event(), threading.Event(), threading.Event()

    def _temp_file(self, key: str, path: Path) -> tuple[int, str]:
        self.entered.set()
        self.release.wait(5)
        try:
            return super()._temp_file(key, path)
        finally:
            self.left.set()


def _open_descriptors() -> int | None:
    fds = Path("/proc/self/fd")
    return len(list(fds.iterdir())) if fds.is_dir() else None


def test_a_put_cancelled_while_it_makes_its_temporary_file_leaves_nothing(tmp_path: Path) -> None:
    async def main() -> None:
        blobs = _HeldTempFile(tmp_path)
        before = _open_descriptors()
        task = asyncio.create_task(blobs.put("staged/t/upl_x.1", _one(b"bytes"), max_bytes=100, content_type="x"))
        assert await asyncio.to_thread(blobs.entered.wait, 5)
        task.cancel()
        await asyncio.wait([task], timeout=0.2)
        blobs.release.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert task.cancelled()
        assert await asyncio.to_thread(blobs.left.wait, 5)
        await asyncio.sleep(0.05)
        assert file_keys(tmp_path) == set(), "a cancelled put left its temporary file behind"
        assert _open_descriptors() == before, "a cancelled put left its file descriptor open"

    asyncio.run(main())


class _HeldOpen(AsyncFileBlobStore):
    """Holds the worker thread that opens a blob until the test releases it."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, fsync=False)
        self.entered, self.release = threading.Event(), threading.Event()

    def _open(self, key: str) -> BinaryIO:
        self.entered.set()
        self.release.wait(5)
        return super()._open(key)


def test_an_open_cancelled_while_its_thread_opens_the_file_closes_it(tmp_path: Path) -> None:
    async def main() -> None:
        blobs = _HeldOpen(tmp_path)
        await blobs.put("staged/t/upl_x.1", _one(b"bytes"), max_bytes=100, content_type="x")
        task = asyncio.create_task(blobs.open("staged/t/upl_x.1"))
        assert await asyncio.to_thread(blobs.entered.wait, 5)
        task.cancel()
        blobs.release.set()
        await asyncio.wait([task])
        assert task.cancelled()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        asyncio.run(main())
        gc.collect()
    unclosed = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert unclosed == [], unclosed
