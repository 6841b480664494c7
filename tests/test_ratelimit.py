"""GCRA semantics of the spec's bucket, exactly."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from upload_tickets import CHARACTERS_POST, ManualClock, MemoryRateLimiter, RatePolicy, gcra
from upload_tickets._ratelimit import decision_after_charge
from upload_tickets.http import rate_limit_headers

S = 1_000_000


def test_sixty_at_once_then_the_sixty_first_waits_two_seconds() -> None:
    clock = ManualClock()
    limiter = MemoryRateLimiter(clock)
    decisions = [limiter.acquire("team", CHARACTERS_POST) for _ in range(61)]
    assert all(d.allowed for d in decisions[:60])
    assert [d.remaining for d in decisions[:3]] == [59, 58, 57]
    assert decisions[59].remaining == 0
    refused = decisions[60]
    assert (refused.allowed, refused.retry_after_us, refused.remaining) == (False, 2 * S, 0)
    assert refused.reset_after_us == 120 * S
    # Then exactly one every two seconds.
    for _ in range(5):
        clock.advance(2 * S - 1)
        assert not limiter.acquire("team", CHARACTERS_POST).allowed
        clock.advance(1)
        assert limiter.acquire("team", CHARACTERS_POST).allowed
    # And a full two minutes of rest refills the bucket.
    clock.advance(120 * S)
    assert limiter.acquire("team", CHARACTERS_POST).remaining == 59


def test_headers_follow_the_ietf_draft() -> None:
    _, allowed = gcra(None, 0, CHARACTERS_POST)
    assert rate_limit_headers(CHARACTERS_POST, allowed) == (
        ("RateLimit-Policy", '"characters_post";q=60;w=120'),
        ("RateLimit", '"characters_post";r=59;t=2'),
    )
    tat = 0
    for _ in range(60):
        new, _ = gcra(tat, 0, CHARACTERS_POST)
        assert new is not None
        tat = new
    _, refused = gcra(tat, 0, CHARACTERS_POST)
    headers = dict(rate_limit_headers(CHARACTERS_POST, refused))
    assert headers["Retry-After"] == "2"
    assert headers["RateLimit"] == '"characters_post";r=0;t=120'


@given(
    gaps=st.lists(st.integers(0, 5 * S), min_size=1, max_size=300),
    limit=st.integers(1, 100),
    burst=st.integers(1, 100),
)
def test_admissions_never_exceed_burst_plus_elapsed_over_interval(gaps: list[int], limit: int, burst: int) -> None:
    policy = RatePolicy(name="p", limit=limit, period=60, burst=burst)
    tat: int | None = None
    now = admitted = 0
    for gap in gaps:
        now += gap
        new_tat, decision = gcra(tat, now, policy)
        if decision.allowed:
            admitted += 1
            tat = new_tat
            assert decision.retry_after_us == 0
        else:
            assert new_tat is None
            assert decision.retry_after_us > 0
        assert 0 <= decision.remaining <= burst
        assert admitted <= burst + now // policy.emission_interval_us


def test_limiter_prunes_full_buckets() -> None:
    clock = ManualClock()
    limiter = MemoryRateLimiter(clock)
    for n in range(5000):
        limiter.acquire(f"team-{n}", CHARACTERS_POST)
        clock.advance(10 * S)
    assert len(limiter) < 2048


@given(
    tat=st.none() | st.integers(0, 10**9),
    now=st.integers(0, 10**9),
    cost=st.integers(1, 70),
)
def test_decision_after_charge_matches_gcra(tat: int | None, now: int, cost: int) -> None:
    new_tat, expected = gcra(tat, now, CHARACTERS_POST, cost)
    stored = new_tat if new_tat is not None else (now if tat is None else tat)
    assert decision_after_charge(stored, expected.allowed, now, CHARACTERS_POST, cost) == expected
