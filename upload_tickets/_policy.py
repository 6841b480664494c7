"""Configurable limits: ticket TTLs and rate-limit buckets, in integer microseconds."""

from __future__ import annotations

import attrs

SECOND_US = 1_000_000
MINUTE_US = 60 * SECOND_US
HOUR_US = 60 * MINUTE_US


def _positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be positive, got {value}")


@attrs.frozen
class TTLPolicy:
    """How long a signed upload URL and an upload ticket live, and how big an upload may be."""

    upload_url_ttl_us: int = attrs.field(default=15 * MINUTE_US, validator=_positive)
    ticket_ttl_us: int = attrs.field(default=24 * HOUR_US, validator=_positive)
    max_upload_bytes: int = attrs.field(default=20 * 1024 * 1024, validator=_positive)

    def __attrs_post_init__(self) -> None:
        if self.upload_url_ttl_us > self.ticket_ttl_us:
            raise ValueError("upload_url_ttl_us cannot exceed ticket_ttl_us")


@attrs.frozen
class RatePolicy:
    """A GCRA token bucket: ``limit`` requests per ``period_us`` sustained, ``burst`` at once.

    The emission interval is ``period_us // limit``; a full bucket holds ``burst`` tokens.
    """

    name: str
    limit: int = attrs.field(validator=_positive)
    period_us: int = attrs.field(validator=_positive)
    burst: int = attrs.field(validator=_positive)
    # Derived once here rather than on every charge: the limiter is on the mint hot path.
    emission_interval_us: int = attrs.field(init=False)
    """Time it takes the bucket to regain one token."""
    capacity_us: int = attrs.field(init=False)
    """Time it takes an empty bucket to become full."""

    @emission_interval_us.default
    def _emission_interval(self) -> int:
        if self.period_us < self.limit:
            raise ValueError("a RatePolicy cannot emit more than one token per microsecond")
        return self.period_us // self.limit

    @capacity_us.default
    def _capacity(self) -> int:
        return self.burst * self.emission_interval_us


CHARACTERS_POST = RatePolicy(name="characters_post", limit=30, period_us=MINUTE_US, burst=60)
"""The spec's bucket: 30 requests/min sustained, 60 burst, per team."""
