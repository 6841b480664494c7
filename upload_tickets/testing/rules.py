"""The facade's rules, for any backend: refusals change nothing, charges follow the rate table.

Subclass :class:`ServiceRulesContract` and give the fixture ``service_factory`` (a
callable taking a clock and returning an :class:`UploadTickets` whose signer verifies,
as for :class:`~upload_tickets.testing.ServiceOwnershipContract`). Every test uses a
fresh team, so the suite can share a store with other tests.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from upload_tickets._errors import (
    AlreadyConsumed,
    IdempotencyConflict,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    UnprocessableImage,
    UploadTicketsError,
)
from upload_tickets._models import MintRequest, State, Team, UploadTicket
from upload_tickets._policy import CHARACTERS_POST, Operation
from upload_tickets.clock import ManualClock
from upload_tickets.service import UploadTickets
from upload_tickets.testing._fixtures import START_US, image_bytes
from upload_tickets.testing.ownership import ServiceFactory

_PNG = MintRequest("front.png", "png", "image/png")
_FAR_FUTURE_US = 2**62
_T = TypeVar("_T")


def _team(**policy: object) -> Team:
    return Team(f"rules-{uuid.uuid4().hex[:12]}", **policy)  # type: ignore[arg-type]  # keyword policy fields, typed by Team


def _bucket(service: UploadTickets, team: Team, operation: Operation = Operation.MINT) -> tuple[str, int]:
    policy = service.rates.policy(operation)
    assert policy is not None, "these tests need the spec's rate table"
    return f"{policy.name}:{{{team.id}}}", policy.burst


def _tokens_spent(service: UploadTickets, team: Team) -> int:
    """Tokens gone from the team's bucket (this charges one more to find out)."""
    bucket, burst = _bucket(service, team)
    policy = service.rates.policy(Operation.MINT)
    assert policy is not None
    return burst - 1 - service.limiter.acquire(bucket, policy).remaining


def _tickets_of(service: UploadTickets, team: Team) -> list[UploadTicket]:
    return [t for t in service.store.expired(_FAR_FUTURE_US, 100_000) if t.team == team.id]


def _upload(service: UploadTickets, team: Team, data: bytes | None = None, request: MintRequest = _PNG) -> str:
    minted = service.mint(team, request)
    body = image_bytes(request.content_type) if data is None else data
    query = urlsplit(minted.upload.url).query
    service.receive(minted.ticket.id, query, content_type=request.content_type, content_length=len(body), body=[body])
    return minted.ticket.id


def run_at_once(workers: int, call: Callable[[], _T]) -> list[_T | BaseException]:
    """Run ``call`` on ``workers`` threads released together; each one's result or exception, in finishing order."""
    barrier = threading.Barrier(workers)
    outcomes: list[_T | BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            outcomes.append(call())
        except BaseException as error:  # collected: the test asserts on every outcome
            outcomes.append(error)

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


_UPLOAD_ID = "upl_01HXMQ7Z3K8Y2NABCDEFGHJKMR"
_bad_mint_fields = st.one_of(
    st.tuples(st.just("filename"), st.sampled_from(["", "x" * 121, "a\x00.png", "a\u202e.png", "a\u061c.png"])),
    st.tuples(st.just("filename"), st.text(alphabet=st.characters(categories=["Cc", "Cf", "Zl"]), min_size=1)),
    st.tuples(st.just("extension"), st.sampled_from(["gif", "JPG", "", "png "])),
    st.tuples(st.just("content_type"), st.sampled_from(["image/gif", "image/jpeg", "IMAGE/PNG", ""])),
)
_bad_upload_ids: st.SearchStrategy[list[str]] = st.one_of(
    st.just([]),
    st.lists(st.just(_UPLOAD_ID), min_size=2, max_size=2),
    st.lists(st.from_regex(r"upl_[0-9A-Z]{26}", fullmatch=True), min_size=7, max_size=8, unique=True),
    st.lists(st.text(max_size=30), min_size=1, max_size=3).filter(
        lambda ids: not all(i.startswith("upl_") for i in ids)
    ),
)


class ServiceRulesContract:
    """Needs a fixture ``service_factory`` (see the module docstring)."""

    # Subclassed once per backend, so one session runs this test from several classes:
    # each class's fixture gives it a fresh service, so the executors do not share state.
    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
    )
    @given(
        bad_mint=_bad_mint_fields,
        bad_ids=_bad_upload_ids,
        bad_key=st.sampled_from(["", "has space", "x" * 256, "caf\u00e9"]),
        bad_version=st.sampled_from(["latest", "2020-01-01", "2026-5-15"]),
    )
    def test_refused_requests_change_nothing_and_cost_nothing(
        self,
        service_factory: ServiceFactory,
        bad_mint: tuple[str, str],
        bad_ids: list[str],
        bad_key: str,
        bad_version: str,
    ) -> None:
        service, team = service_factory(ManualClock(START_US)), _team(content_types={"image/jpeg"})
        fields = {"filename": "a.png", "extension": "png", "content_type": "image/png"}
        fields[bad_mint[0]] = bad_mint[1]
        refused: list[Callable[[], object]] = [
            lambda: service.mint(team, MintRequest(**fields)),
            lambda: service.mint(team, _PNG),  # the team may only upload JPEG
            lambda: service.mint(team, MintRequest("a.jpg", "jpg", "image/jpeg"), idempotency_key=bad_key),
            lambda: service.mint(team, MintRequest("a.jpg", "jpg", "image/jpeg"), api_version=bad_version),
            lambda: service.classify(team, "upl_not-an-id"),
            lambda: service.classify(team, _UPLOAD_ID, idempotency_key=bad_key),
            lambda: service.consume(team, bad_ids),
            lambda: service.consume(team, [_UPLOAD_ID], idempotency_key=bad_key),
            lambda: service.get(team, "nope"),
        ]
        for call in refused:
            with pytest.raises(UploadTicketsError) as caught:
                call()
            assert 400 <= caught.value.http_status < 500, caught.value
            assert caught.value.param, caught.value
        assert _tickets_of(service, team) == []
        assert _tokens_spent(service, team) == 0

    def test_classify_and_consume_charge_the_bucket(self, service_factory: ServiceFactory) -> None:
        service, team = service_factory(ManualClock(START_US)), _team()
        upload_id = _upload(service, team)
        first = service.classify(team, upload_id).rate
        second = service.classify(team, upload_id).rate
        assert first is not None and second is not None
        assert second.remaining < first.remaining
        refused = 0
        for _ in range(CHARACTERS_POST.burst + 5):
            try:
                service.classify(team, upload_id)
            except RateLimited:
                refused += 1
        assert refused > 0

    def test_probing_ids_is_charged(self, service_factory: ServiceFactory) -> None:
        service, team = service_factory(ManualClock(START_US)), _team()
        with pytest.raises(NotFound):
            service.classify(team, _UPLOAD_ID)
        with pytest.raises(NotFound):
            service.consume(team, [_UPLOAD_ID])
        assert _tokens_spent(service, team) == 2

    def test_racing_idempotent_mints_are_charged_once(self, service_factory: ServiceFactory) -> None:
        service, team = service_factory(ManualClock(START_US)), _team()
        outcomes = run_at_once(8, lambda: service.mint(team, _PNG, idempotency_key="same"))
        assert all(not isinstance(o, BaseException) for o in outcomes), outcomes
        assert len({o.ticket.id for o in outcomes if not isinstance(o, BaseException)}) == 1
        assert len(_tickets_of(service, team)) == 1
        assert _tokens_spent(service, team) == 1

    def test_racing_idempotent_consumes_make_one_character_and_one_charge(
        self, service_factory: ServiceFactory
    ) -> None:
        service, team = service_factory(ManualClock(START_US)), _team()
        ids = [_upload(service, team) for _ in range(2)]
        outcomes = run_at_once(6, lambda: service.consume(team, ids, idempotency_key="one-character"))
        assert all(not isinstance(o, BaseException) for o in outcomes), outcomes
        made = {o.character.id for o in outcomes if not isinstance(o, BaseException)}
        assert len(made) == 1
        assert sum(1 for o in outcomes if not isinstance(o, BaseException) and not o.replayed) == 1
        assert _tokens_spent(service, team) == 3  # two mints and one consume

    def test_consume_with_a_key_replays_and_refuses_another_body(self, service_factory: ServiceFactory) -> None:
        service, team = service_factory(ManualClock(START_US)), _team()
        ids = [_upload(service, team) for _ in range(2)]
        first = service.consume(team, ids, idempotency_key="k1")
        again = service.consume(team, ids, idempotency_key="k1")
        assert (again.character.id, again.replayed, again.rate) == (first.character.id, True, None)
        with pytest.raises(IdempotencyConflict):
            service.consume(team, ids[:1], idempotency_key="k1")
        with pytest.raises(AlreadyConsumed) as taken:
            service.consume(team, ids[:1], idempotency_key="k2")
        assert first.character.id in taken.value.message

    def test_classify_with_a_key_replays_uncharged(self, service_factory: ServiceFactory) -> None:
        service, team = service_factory(ManualClock(START_US)), _team()
        upload_id, other = _upload(service, team), _upload(service, team)
        first = service.classify(team, upload_id, idempotency_key="c1")
        spent = _tokens_spent(service, team)
        again = service.classify(team, upload_id, idempotency_key="c1")
        assert again.replayed and again.rate is None
        assert again.ticket.classification == first.ticket.classification
        assert _tokens_spent(service, team) == spent + 1  # only the probe itself
        with pytest.raises(IdempotencyConflict):
            service.classify(team, other, idempotency_key="c1")

    def test_a_rate_limited_request_gives_its_key_back(self, service_factory: ServiceFactory) -> None:
        service, team = service_factory(ManualClock(START_US)), _team()
        upload_id = _upload(service, team)
        bucket, _ = _bucket(service, team)
        policy = service.rates.policy(Operation.CONSUME)
        assert policy is not None
        service.limiter.acquire(bucket, policy, cost=service.limiter.acquire(bucket, policy).remaining)
        with pytest.raises(RateLimited):
            service.consume(team, [upload_id], idempotency_key="later")
        # Not a replay of a request that never ran: the retry is judged (and charged) afresh.
        with pytest.raises(RateLimited):
            service.consume(team, [upload_id], idempotency_key="later")
        assert service.get(team, upload_id).state is State.UPLOADED

    def test_consume_refuses_bytes_classify_would_refuse(self, service_factory: ServiceFactory) -> None:
        service, team = service_factory(ManualClock(START_US)), _team()
        good = _upload(service, team)
        png_header_then_garbage = image_bytes("image/png")[:40] + b"\0garbage" * 20
        for bad_bytes in (b"not an image", image_bytes("image/jpeg"), png_header_then_garbage):
            bad = _upload(service, team, bad_bytes)
            with pytest.raises(UnprocessableImage) as refused:
                service.consume(team, [good, bad])
            assert refused.value.param == "upload_ids[1]"
            assert service.get(team, bad).state is State.UPLOADED
        assert service.get(team, good).state is State.UPLOADED
        assert service.consume(team, [good]).character.upload_ids == (good,)

    def test_a_team_policy_narrows_types_and_sets_its_byte_cap(self, service_factory: ServiceFactory) -> None:
        service, team = service_factory(ManualClock(START_US)), _team(content_types={"image/png"}, max_upload_bytes=300)
        with pytest.raises(InvalidRequest) as refused:
            service.mint(team, MintRequest("a.webp", "webp", "image/webp"))
        assert refused.value.param == "content_type"
        minted = service.mint(team, _PNG)
        assert minted.ticket.max_bytes == 300
        big = image_bytes("image/png", 64, 64) + b"\0" * 300
        query = urlsplit(minted.upload.url).query
        with pytest.raises(PayloadTooLarge):
            service.receive(minted.ticket.id, query, content_type="image/png", content_length=len(big), body=[big])
