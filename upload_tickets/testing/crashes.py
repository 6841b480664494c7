"""Crash safety, proven by real kills: an operation dies with ``os._exit`` after each step.

:func:`crash_matrix` prepares a team's data, then runs one operation (``consume``,
``sweep`` or ``delete_character``) in a spawned child process whose store and blob store
are wrapped so that the child calls ``os._exit`` right after its k-th change (a raised
exception would run cleanup a real crash skips), for k = 1, 2, ... until the operation
completes. After each kill the parent recovers as a restarted app would (sweeps until
there is nothing left to do, a day later) and checks that no consumed character was lost
or points at missing bytes, and that no bytes are left that nothing refers to.

``open_service(clock)`` must be importable by the child (a module-level function or a
``functools.partial`` of one) and open the same persistent store and blob store each
time; ``list_blob_keys()`` lists every key the blob store holds.
"""

from __future__ import annotations

import multiprocessing
import os
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from upload_tickets._models import CharacterState, Team
from upload_tickets._policy import HOUR_US
from upload_tickets.clock import ManualClock, SystemClock
from upload_tickets.protocols import Clock
from upload_tickets.service import UploadTickets
from upload_tickets.testing.ownership import read_character_bytes, upload

OpenService = Callable[[Clock], UploadTickets]
ListBlobKeys = Callable[[], set[str]]
OPERATIONS = ("consume", "sweep", "delete_character")
_CRASHED = 70
_spawn = multiprocessing.get_context("spawn")

# Calls that change something; reads are not steps.
_STORE_STEPS = frozenset({"create", "replace", "consume", "delete", "replace_character", "delete_character"})
_BLOB_STEPS = frozenset({"put", "promote", "delete"})


class _Dies:
    """Forwards to ``target``; the process ends right after the ``at``-th change."""

    def __init__(self, target: Any, steps: frozenset[str], counter: list[int], at: int) -> None:
        self._target, self._steps, self._counter, self._at = target, steps, counter, at

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if name not in self._steps:
            return attribute

        def step(*args: Any, **kwargs: Any) -> Any:
            result = attribute(*args, **kwargs)
            self._counter[0] += 1
            if self._counter[0] == self._at:
                os._exit(_CRASHED)
            return result

        return step


@attrs.frozen
class CrashOutcome:
    """One kill: after which change, and what the recovery found."""

    operation: str
    step: int
    completed: bool
    characters: int
    ok: bool
    problem: str = ""


def _child(open_service: OpenService, operation: str, team: str, ids: Sequence[str], at: int, now_us: int) -> None:
    service = open_service(ManualClock(now_us))
    counter = [0]
    service.store = _Dies(service.store, _STORE_STEPS, counter, at)
    service.blobs = _Dies(service.blobs, _BLOB_STEPS, counter, at)
    service._charging_store = None
    if operation == "consume":
        service.consume(Team(team), list(ids))
    elif operation == "sweep":
        while service.sweep().tickets:
            pass
    else:
        service.delete_character(Team(team), ids[0])


def _prepare(service: UploadTickets, operation: str, team: Team) -> tuple[list[str], int]:
    """The team's data before the operation, and the time the operation runs at."""
    start = service.clock.now_us()
    uploads = [upload(service, team) for _ in range(2)]
    if operation == "consume":
        return uploads, start
    character = service.consume(team, uploads[:1]).character
    if operation == "sweep":
        return uploads, start + (24 * HOUR_US) + 1
    return [character.id], start


def _check(service: UploadTickets, team: Team, list_blob_keys: ListBlobKeys) -> tuple[int, str]:
    """Recover as a restarted app would, then look for lost or orphaned bytes."""
    for _ in range(5):
        report = service.sweep()
        if not (report.tickets or report.characters):
            break
    characters = service.list_characters(team, limit=100).characters
    owned: set[str] = set()
    for character in characters:
        if character.state is not CharacterState.READY:
            return len(characters), f"{character.id} is still {character.state.value} after the sweep"
        try:
            read_character_bytes(service, team, character.id)
        except Exception as error:
            return len(characters), f"{character.id} points at missing bytes: {error!r}"
        owned.update(ref.blob_key for ref in character.refs)
    unconsumed = [t for t in service.store.expired(service.clock.now_us() + (24 * HOUR_US), 100) if t.team == team.id]
    if unconsumed:
        return len(characters), f"tickets left after the sweep: {[t.id for t in unconsumed]}"
    mine = {key for key in list_blob_keys() if f"/{team.id}/" in f"/{key}"}
    orphans = mine - owned
    if orphans:
        return len(characters), f"orphaned bytes: {sorted(orphans)}"
    return len(characters), ""


def crash_matrix(
    open_service: OpenService, list_blob_keys: ListBlobKeys, *, operation: str, max_steps: int = 40
) -> list[CrashOutcome]:
    """Kill ``operation`` after each of its changes in turn; one outcome per kill (and the clean run)."""
    if operation not in OPERATIONS:
        raise ValueError(f"operation is one of {OPERATIONS}")
    outcomes: list[CrashOutcome] = []
    for at in range(1, max_steps + 1):
        # Real time: a networked store's own expiry (Redis PEXPIREAT) must agree with it.
        clock = ManualClock(SystemClock().now_us())
        service, team = open_service(clock), Team(f"crash-{uuid.uuid4().hex[:10]}")
        ids, run_at = _prepare(service, operation, team)
        child = _spawn.Process(target=_child, args=(open_service, operation, team.id, ids, at, run_at))
        child.start()
        child.join(120)
        if child.exitcode not in (0, _CRASHED):
            raise AssertionError(f"{operation} child ended with exit code {child.exitcode} at step {at}")
        completed = child.exitcode == 0
        clock.advance(run_at - clock.now_us() + 2 * (24 * HOUR_US))
        count, problem = _check(open_service(clock), team, list_blob_keys)
        outcomes.append(CrashOutcome(operation, at, completed, count, ok=not problem, problem=problem))
        if completed:
            return outcomes
    raise AssertionError(f"{operation} did not complete within {max_steps} changes")


__all__ = ["OPERATIONS", "CrashOutcome", "crash_matrix"]
