"""Spike detection over enrollment failures: rolling-window counts against an EWMA baseline, with hysteresis.

The rule (also in the README): failures are counted in a rolling window (`window`, default 60 minutes), made
of six buckets. After each completed bucket, the window's count updates an exponentially weighted mean (the
baseline) for that key, unless the key is in an episode (a spike does not teach the baseline). A key starts
an episode when its window count is at least `min_count` AND at least `factor` x baseline; it ends when
the count falls below max(min_count / 2, clear_factor x baseline); between the two levels nothing changes
(no flapping). Keys are "all" (every bulk failure plus chat reports), each failure category, and "chat"
(distinct people reporting the error to the bot). A key must have one window of history before it can
fire (cold start); the first evaluation learns from the history already counted. An incident is open while
any key is in an episode: one alert when it opens, one "back to normal" when the last key closes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

OVERALL = "all"
CHAT = "chat"
BUCKETS_PER_WINDOW = 6


@dataclass(frozen=True)
class SpikeRules:
    window: timedelta = timedelta(minutes=60)
    min_count: int = 5
    factor: float = 3.0
    clear_factor: float = 1.5
    baseline_windows: int = 24  # the EWMA's span, in windows

    @property
    def bucket(self) -> timedelta:
        return self.window / BUCKETS_PER_WINDOW

    @property
    def alpha(self) -> float:
        span_in_buckets = self.baseline_windows * BUCKETS_PER_WINDOW
        return 2 / (span_in_buckets + 1)

    def fire_level(self, baseline: float) -> float:
        return max(float(self.min_count), self.factor * baseline)

    def clear_level(self, baseline: float) -> float:
        return max(self.min_count / 2, self.clear_factor * baseline)


@dataclass(slots=True)  # not frozen: made once per counted event on the ingest path (frozen costs 5x)
class Failure:
    """One counted signal: an Intune bulk enrollment failure, or a person reporting it in chat."""

    time: datetime
    category: str
    reason: str = ""
    user_id: str | None = None
    reporter: str | None = None  # set for chat reports: who reported


@dataclass
class KeyState:
    baseline: float = 0.0
    learned: int = 0  # completed buckets folded into the baseline
    active: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"baseline": self.baseline, "learned": self.learned, "active": self.active}

    def normal(self, alpha: float) -> float:
        """The baseline with the EWMA's start-up bias (it starts at 0) corrected."""
        if self.learned == 0:
            return 0.0
        return self.baseline / (1 - (1 - alpha) ** self.learned)


@dataclass(frozen=True)
class KeyView:
    key: str
    count: int
    baseline: float
    active: bool


@dataclass(frozen=True)
class IncidentChange:
    kind: str  # "opened" | "closed"
    at: datetime
    overall: KeyView
    keys: tuple[KeyView, ...]  # the keys in an episode (opened) or all tracked keys (closed)
    reasons: tuple[tuple[str, int], ...]
    users: tuple[str, ...]
    trend: tuple[int, ...]  # the window, bucket by bucket (oldest first); older records kept two windows
    incident_id: str


@dataclass
class Detector:
    """State is plain JSON (buckets, per-key baselines, the open incident) so it persists with the mark."""

    rules: SpikeRules = field(default_factory=SpikeRules)
    buckets: dict[int, dict[str, Any]] = field(default_factory=dict)
    keys: dict[str, KeyState] = field(default_factory=dict)
    last_closed_bucket: int | None = None
    incident: dict[str, Any] | None = None

    # ---- persistence -------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "buckets": {str(k): v for k, v in self.buckets.items()},
            "keys": {k: v.to_json() for k, v in self.keys.items()},
            "lastClosedBucket": self.last_closed_bucket,
            "incident": self.incident,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None, rules: SpikeRules) -> Detector:
        if not data:
            return cls(rules)
        return cls(
            rules=rules,
            buckets={int(k): v for k, v in data.get("buckets", {}).items()},
            keys={k: KeyState(**v) for k, v in data.get("keys", {}).items()},
            last_closed_bucket=data.get("lastClosedBucket"),
            incident=data.get("incident"),
        )

    # ---- counting ------------------------------------------------------------------------------
    def _index(self, when: datetime) -> int:
        return bucket_index(when, self.rules.bucket)

    def add(self, failures: Iterable[Failure]) -> None:
        bucket_seconds = self.rules.bucket.total_seconds()
        for failure in failures:
            index = math.floor(failure.time.timestamp() / bucket_seconds)
            if self.last_closed_bucket is not None and index <= self.last_closed_bucket - BUCKETS_PER_WINDOW:
                continue  # older than anything the baseline still looks at
            bucket = self.buckets.setdefault(index, {"counts": {}, "reasons": {}, "users": [], "reporters": []})
            if failure.reporter:
                if failure.reporter not in bucket["reporters"]:
                    bucket["reporters"].append(failure.reporter)
                continue
            counts = bucket["counts"]
            counts[failure.category] = counts.get(failure.category, 0) + 1
            reason = failure.reason[:200]
            bucket["reasons"][reason] = bucket["reasons"].get(reason, 0) + 1
            if failure.user_id and failure.user_id not in bucket["users"] and len(bucket["users"]) < 50:
                bucket["users"].append(failure.user_id)

    def _window_counts(self, last_index: int) -> dict[str, int]:
        totals: dict[str, int] = {}
        reporters: set[str] = set()
        for index in range(last_index - BUCKETS_PER_WINDOW + 1, last_index + 1):
            bucket = self.buckets.get(index)
            if not bucket:
                continue
            for category, count in bucket["counts"].items():
                totals[category] = totals.get(category, 0) + count
            reporters.update(bucket["reporters"])
        totals[CHAT] = len(reporters)
        totals[OVERALL] = sum(v for k, v in totals.items() if k not in (CHAT,)) + len(reporters)
        return totals

    # ---- evaluating ------------------------------------------------------------------------------
    def evaluate(self, now: datetime) -> IncidentChange | None:
        current = self._index(now)
        if self.last_closed_bucket is None:
            # The first evaluation learns the baseline from the history already counted.
            oldest = min(self.buckets, default=current)
            horizon = current - self.rules.baseline_windows * BUCKETS_PER_WINDOW
            self.last_closed_bucket = max(min(oldest, current) - 1, horizon)
        # Learn from every bucket completed since the last evaluation (quiet ones too).
        for index in range(self.last_closed_bucket + 1, current):
            counts = self._window_counts(index)
            for key in set(self.keys) | set(counts):
                state = self.keys.setdefault(key, KeyState())
                if not state.active:
                    state.baseline += self.rules.alpha * (counts.get(key, 0) - state.baseline)
                    state.learned += 1
            self.last_closed_bucket = index
        for index in [i for i in self.buckets if i <= current - 4 * BUCKETS_PER_WINDOW]:
            del self.buckets[index]

        counts = self._window_counts(current)
        for key in set(self.keys) | set(counts):
            state = self.keys.setdefault(key, KeyState())
            count = counts.get(key, 0)
            normal = state.normal(self.rules.alpha)
            warmed_up = state.learned >= BUCKETS_PER_WINDOW
            if not state.active and warmed_up and count >= self.rules.fire_level(normal):
                state.active = True
            elif state.active and count < self.rules.clear_level(normal):
                state.active = False
        views = tuple(
            KeyView(key, counts.get(key, 0), round(state.normal(self.rules.alpha), 2), state.active)
            for key, state in sorted(self.keys.items())
        )
        overall = next(v for v in views if v.key == OVERALL)
        any_active = any(v.active for v in views)
        if any_active and self.incident is None:
            self.incident = {"id": f"spike-{current}", "openedAt": now.isoformat(), "alerts": {}}
            return self._change("opened", now, current, overall, tuple(v for v in views if v.active))
        if not any_active and self.incident is not None:
            change = self._change("closed", now, current, overall, views)
            self.incident = None
            return change
        return None

    def _change(
        self, kind: str, now: datetime, current: int, overall: KeyView, keys: tuple[KeyView, ...]
    ) -> IncidentChange:
        reasons: dict[str, int] = {}
        users: list[str] = []
        trend = []
        # The trend is the window itself, bucket by bucket: the bars add up to the count the alert states.
        for index in range(current - BUCKETS_PER_WINDOW + 1, current + 1):
            bucket = self.buckets.get(index) or {"counts": {}, "reasons": {}, "users": [], "reporters": []}
            trend.append(sum(bucket["counts"].values()) + len(bucket["reporters"]))
            for reason, count in bucket["reasons"].items():
                reasons[reason] = reasons.get(reason, 0) + count
            users.extend(u for u in bucket["users"] if u not in users)
        assert self.incident is not None
        top = tuple(sorted(reasons.items(), key=lambda item: -item[1])[:3])
        return IncidentChange(kind, now, overall, keys, top, tuple(users), tuple(trend), self.incident["id"])


def bucket_index(when: datetime, bucket: timedelta) -> int:
    return math.floor(when.timestamp() / bucket.total_seconds())


def bucket_starts(at: datetime, bucket: timedelta, count: int) -> list[datetime]:
    """When each of the `count` buckets up to the one holding `at` began (the last one is still filling)."""
    last = datetime.fromtimestamp(bucket_index(at, bucket) * bucket.total_seconds(), tz=at.tzinfo)
    return [last - bucket * (count - 1 - i) for i in range(count)]


@dataclass(frozen=True)
class Taken:
    """Someone who acted on an alert ("I'm on it", "Diagnose now"), and when."""

    user_id: str
    name: str
    at: datetime

    def to_json(self) -> dict[str, str]:
        return {"userId": self.user_id, "name": self.name, "at": self.at.isoformat()}

    @classmethod
    def from_json(cls, data: Any) -> Taken | None:
        if not isinstance(data, dict):
            return None
        return cls(str(data.get("userId", "")), str(data.get("name", "someone")), datetime.fromisoformat(data["at"]))
