"""Configurable limits: ticket TTLs, byte caps and rate-limit buckets.

Durations are given as :class:`datetime.timedelta` (or seconds); the core works in
integer microseconds, derived once here.
"""

from __future__ import annotations

import datetime as dt
import enum

import attrs

from upload_tickets._errors import ConfigurationError

SECOND_US = 1_000_000
MINUTE_US = 60 * SECOND_US
HOUR_US = 60 * MINUTE_US

Duration = dt.timedelta | int | float


def _to_timedelta(value: Duration) -> dt.timedelta:
    if isinstance(value, dt.timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError(f"durations are datetime.timedelta or seconds, got {value!r}")
    return dt.timedelta(seconds=value)


def _us(value: dt.timedelta) -> int:
    return (value.days * 86_400 + value.seconds) * SECOND_US + value.microseconds


def _at_least_a_second(_: object, attribute: attrs.Attribute[dt.timedelta], value: dt.timedelta) -> None:
    # Signed URLs carry whole seconds: under one second, a URL would be dead when minted.
    if value < dt.timedelta(seconds=1):
        raise ConfigurationError(f"{attribute.name} must be at least one second, got {value}")


def _positive(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigurationError(f"{attribute.name} must be a positive whole number, got {value!r}")


def _positive_duration(_: object, attribute: attrs.Attribute[dt.timedelta], value: dt.timedelta) -> None:
    if value <= dt.timedelta(0):
        raise ConfigurationError(f"{attribute.name} must be positive, got {value}")


#: The byte cap of an upload unless the service or the team sets another: 20 MiB.
DEFAULT_MAX_UPLOAD_BYTES = 20 * 1024 * 1024


@attrs.frozen
class TTLPolicy:
    """How long a signed upload URL and an upload ticket live.

    ``TTLPolicy(upload_url_ttl=timedelta(minutes=5))``; both TTLs are at least one second.
    """

    upload_url_ttl: dt.timedelta = attrs.field(
        default=dt.timedelta(minutes=15), converter=_to_timedelta, validator=_at_least_a_second
    )
    ticket_ttl: dt.timedelta = attrs.field(
        default=dt.timedelta(hours=24), converter=_to_timedelta, validator=_at_least_a_second
    )
    upload_url_ttl_us: int = attrs.field(init=False)
    """``upload_url_ttl`` in microseconds."""
    ticket_ttl_us: int = attrs.field(init=False)
    """``ticket_ttl`` in microseconds."""

    @upload_url_ttl_us.default
    def _upload_url_ttl_us(self) -> int:
        return _us(self.upload_url_ttl)

    @ticket_ttl_us.default
    def _ticket_ttl_us(self) -> int:
        return _us(self.ticket_ttl)

    def __attrs_post_init__(self) -> None:
        if self.upload_url_ttl > self.ticket_ttl:
            raise ConfigurationError("upload_url_ttl cannot exceed ticket_ttl")


@attrs.frozen
class RatePolicy:
    """A GCRA token bucket: ``limit`` requests per ``period`` sustained, ``burst`` at once.

    The emission interval is ``period / limit``; a full bucket holds ``burst`` tokens.
    """

    name: str
    limit: int = attrs.field(validator=_positive)
    period: dt.timedelta = attrs.field(converter=_to_timedelta, validator=_positive_duration)
    burst: int = attrs.field(validator=_positive)
    # Derived once here rather than on every charge: the limiter is on the mint hot path.
    period_us: int = attrs.field(init=False)
    """``period`` in microseconds."""
    emission_interval_us: int = attrs.field(init=False)
    """Time it takes the bucket to regain one token."""
    capacity_us: int = attrs.field(init=False)
    """Time it takes an empty bucket to become full."""

    @period_us.default
    def _period_us(self) -> int:
        return _us(self.period)

    @emission_interval_us.default
    def _emission_interval(self) -> int:
        if self.period_us < self.limit:
            raise ConfigurationError("a RatePolicy cannot emit more than one token per microsecond")
        return self.period_us // self.limit

    @capacity_us.default
    def _capacity(self) -> int:
        return self.burst * self.emission_interval_us


CHARACTERS_POST = RatePolicy(name="characters_post", limit=30, period=dt.timedelta(minutes=1), burst=60)
"""The spec's bucket: 30 requests/min sustained, 60 burst, per team."""


class Operation(enum.StrEnum):
    """The facade's operations that can cost a rate-limit token."""

    MINT = "mint"
    CLASSIFY = "classify"
    CONSUME = "consume"


@attrs.frozen
class RateTable:
    """Which bucket each operation charges; ``None`` charges nothing (a deliberate choice).

    The spec's default: the three POSTs share the team's ``characters_post`` bucket.
    Every operation has an entry, so a table can be changed but an operation never
    forgotten.
    """

    mint: RatePolicy | None = CHARACTERS_POST
    classify: RatePolicy | None = CHARACTERS_POST
    consume: RatePolicy | None = CHARACTERS_POST

    @classmethod
    def shared(cls, policy: RatePolicy | None) -> RateTable:
        """A table where every operation charges ``policy`` (the spec's shape, with other numbers)."""
        return cls(mint=policy, classify=policy, consume=policy)

    def policy(self, operation: Operation) -> RatePolicy | None:
        """The bucket ``operation`` charges, or ``None``."""
        policy: RatePolicy | None = getattr(self, operation.value)
        return policy


SPEC_RATES = RateTable()
"""The spec's table: mint, classify and consume each take a ``characters_post`` token."""
