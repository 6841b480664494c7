"""GCRA token-bucket arithmetic: pure, integer microseconds, no I/O.

The bucket's whole state is one integer, the theoretical arrival time (TAT). Backends
store it (a dict, a Redis key, a table row) and call :func:`gcra` or reimplement these
few lines in their own language (Lua, SQL); the tests hold every port to this one.
"""

from __future__ import annotations

from upload_tickets._models import RateDecision
from upload_tickets._policy import RatePolicy


def gcra(tat_us: int | None, now_us: int, policy: RatePolicy, cost: int = 1) -> tuple[int | None, RateDecision]:
    """Charge ``cost`` tokens; return the new TAT (``None``: unchanged) and the decision."""
    interval = policy.emission_interval_us
    tat = now_us if tat_us is None or tat_us < now_us else tat_us
    new_tat = tat + cost * interval
    allow_at = new_tat - policy.capacity_us
    if now_us < allow_at:
        return None, RateDecision(
            allowed=False,
            limit=policy.burst,
            remaining=max(0, (now_us - (tat - policy.capacity_us)) // interval),
            retry_after_us=allow_at - now_us,
            reset_after_us=tat - now_us,
        )
    return new_tat, RateDecision(
        allowed=True,
        limit=policy.burst,
        remaining=(now_us - allow_at) // interval,
        retry_after_us=0,
        reset_after_us=new_tat - now_us,
    )


def decision_after_charge(
    stored_tat_us: int, allowed: bool, now_us: int, policy: RatePolicy, cost: int = 1
) -> RateDecision:
    """Rebuild :func:`gcra`'s decision from what a backend's atomic charge returned.

    Backends that run GCRA server-side (a SQL upsert, a Lua script) return only the TAT
    after the charge, whether it was allowed, and the server's ``now``; this turns those
    into the same decision :func:`gcra` gives, so every backend answers alike.
    """
    interval = policy.emission_interval_us
    if allowed:
        return RateDecision(
            allowed=True,
            limit=policy.burst,
            remaining=(now_us - (stored_tat_us - policy.capacity_us)) // interval,
            retry_after_us=0,
            reset_after_us=stored_tat_us - now_us,
        )
    tat = max(stored_tat_us, now_us)
    return RateDecision(
        allowed=False,
        limit=policy.burst,
        remaining=max(0, (now_us - (tat - policy.capacity_us)) // interval),
        retry_after_us=tat + cost * interval - policy.capacity_us - now_us,
        reset_after_us=tat - now_us,
    )


def replay_decision(policy: RatePolicy) -> RateDecision:
    """The decision a store reports for an idempotent replay: nothing was charged."""
    return RateDecision(allowed=True, limit=policy.burst, remaining=0, retry_after_us=0, reset_after_us=0)
