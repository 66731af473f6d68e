"""How old the device's evidence is, so nobody fixes a problem that is gone: logs from days ago, or from before
the last change made to the tenant, are shown with their age.

A log export without a zone gives the device's local time (naive); it can be up to 14 hours from UTC (UTC-12 to
UTC+14), so an age or an order is claimed only when it holds whatever the zone was.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

STALE_AFTER = timedelta(hours=24)  # evidence older than a day is shown with its age
ZONE_MARGIN = timedelta(hours=14)  # how far a naive (device) time can be from UTC


def _utc_naive(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo is not None else at


def least_age(at: datetime, now: datetime) -> timedelta:
    """How old `at` is at least: a device time (naive) is taken at the zone that makes it youngest."""
    age = _utc_naive(now) - _utc_naive(at)
    return age - ZONE_MARGIN if at.tzinfo is None else age


def surely_before(at: datetime, moment: datetime) -> bool:
    """`at` was before `moment` whatever zone a device time was in."""
    margin = ZONE_MARGIN if at.tzinfo is None else timedelta(0)
    return _utc_naive(at) + margin < _utc_naive(moment)


def stale(at: datetime | None, now: datetime) -> bool:
    return at is not None and least_age(at, now) >= STALE_AFTER


def ago(age: timedelta) -> str:
    """ "3 days ago", "1 day ago", "30 hours ago" for the age of stale evidence."""
    days = age.days
    if days >= 2:
        return f"{days} days ago"
    hours = int(age.total_seconds() // 3600)
    return f"{hours} hours ago" if hours >= 2 else "1 hour ago"


def newest(times: Iterable[datetime | None]) -> datetime | None:
    """The latest of the times (device times compared as if UTC: they are the same device's clock)."""
    known = [t for t in times if t is not None]
    return max(known, key=_utc_naive, default=None)


@dataclass(frozen=True)
class OldEvidence:
    """The device's logs end at `newest`: `age` ago (at least) when that is more than a day, and before the change
    `change` (in people's words, raw) approved at `change_at`, when they surely were."""

    newest: datetime
    age: timedelta | None = None
    change: str | None = None
    change_at: datetime | None = None


def old_evidence(
    times: Iterable[datetime | None], now: datetime, changes: Iterable[tuple[datetime, str]] = ()
) -> OldEvidence | None:
    """The logs' age when it matters: older than a day, or older than the latest change applied to the tenant
    (`changes`: when each was approved, and its name). None when the logs are recent, or have no times."""
    last = newest(times)
    if last is None:
        return None
    after = [(at, name) for at, name in changes if surely_before(last, at)]
    change_at, change = max(after, key=lambda c: _utc_naive(c[0]), default=(None, None))
    age = least_age(last, now) if stale(last, now) else None
    if age is None and change is None:
        return None
    return OldEvidence(last, age, change, change_at)
