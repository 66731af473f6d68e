"""The spike detector: thresholds, hysteresis, cold start, several categories, one incident at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.spikes import Detector, Failure, SpikeRules

T0 = datetime(2026, 11, 20, tzinfo=UTC)
RULES = SpikeRules(window=timedelta(minutes=60), min_count=5, factor=3.0, clear_factor=1.5)


def quiet_history(detector: Detector, hours: int = 24, per_hour: int = 1, category: str = "authorization"):
    detector.add(
        Failure(T0 + timedelta(hours=h, minutes=30), category, "not authorized", f"u{h}")
        for h in range(hours)
        for _ in range(per_hour)
    )


def burst(at: datetime, count: int, category: str = "authorization", reason: str = "not authorized"):
    return [Failure(at + timedelta(seconds=i), category, reason, f"pkg{i % 3}") for i in range(count)]


def run(detector: Detector, start: datetime, minutes: int, step: int = 5):
    changes = []
    for m in range(0, minutes, step):
        change = detector.evaluate(start + timedelta(minutes=m))
        if change:
            changes.append(change)
    return changes


def test_quiet_tenant_first_few_events_do_not_alert():
    detector = Detector(RULES)
    detector.add(burst(T0, 3))
    assert detector.evaluate(T0 + timedelta(minutes=1)) is None
    detector.add(burst(T0 + timedelta(minutes=2), 10))  # even a burst right at the start: no history yet
    assert detector.evaluate(T0 + timedelta(minutes=3)) is None


def test_a_spike_over_both_thresholds_opens_one_incident_then_closes():
    detector = Detector(RULES)
    quiet_history(detector)
    start = T0 + timedelta(hours=24)
    assert run(detector, start - timedelta(hours=1), 60) == []
    detector.add(burst(start, 12))
    changes = run(detector, start + timedelta(minutes=1), 45)  # the spike lasts: still one alert
    assert [c.kind for c in changes] == ["opened"]
    opened = changes[0]
    assert opened.overall.count >= 12 and opened.overall.baseline < 2
    assert {k.key for k in opened.keys} >= {"all", "authorization"}
    assert opened.reasons[0][0] == "not authorized" and opened.reasons[0][1] >= 12
    assert {"pkg0", "pkg1", "pkg2"} <= set(opened.users)
    later = run(detector, start + timedelta(minutes=61), 60)
    assert [c.kind for c in later] == ["closed"]


def test_the_absolute_minimum_and_the_relative_factor_both_apply():
    busy = Detector(RULES)
    quiet_history(busy, per_hour=6)  # normal is ~6 an hour
    start = T0 + timedelta(hours=24)
    busy.evaluate(start)
    busy.add(burst(start, 8))  # 14 in the window: above the minimum, but not 3x normal
    assert busy.evaluate(start + timedelta(minutes=2)) is None
    busy.add(burst(start + timedelta(minutes=3), 10))  # 24 >= 3x normal
    assert busy.evaluate(start + timedelta(minutes=4)).kind == "opened"  # type: ignore[union-attr]


def test_hysteresis_no_flapping_around_the_threshold():
    detector = Detector(RULES)
    quiet_history(detector)
    start = T0 + timedelta(hours=24)
    detector.evaluate(start)
    detector.add(burst(start, 6))
    assert detector.evaluate(start + timedelta(minutes=1)).kind == "opened"  # type: ignore[union-attr]
    # The burst leaves the window, but 3 later failures keep the count between the clear level (2.5)
    # and the fire level (5): the incident stays open, no "back to normal" then a new alert.
    detector.add(burst(start + timedelta(minutes=40), 3))
    changes = run(detector, start + timedelta(minutes=55), 40, step=1)
    assert changes == []
    assert detector.incident is not None
    closed = run(detector, start + timedelta(minutes=101), 60)
    assert [c.kind for c in closed] == ["closed"]


def test_several_categories_at_once_are_one_incident():
    detector = Detector(RULES)
    quiet_history(detector)
    quiet_history(detector, category="enrollmentRestrictionsEnforced")
    start = T0 + timedelta(hours=24)
    detector.evaluate(start)
    detector.add(burst(start, 8) + burst(start, 8, "enrollmentRestrictionsEnforced", "platform blocked"))
    change = detector.evaluate(start + timedelta(minutes=1))
    assert change is not None and change.kind == "opened"
    assert {k.key for k in change.keys} == {"all", "authorization", "enrollmentRestrictionsEnforced"}
    detector.add(burst(start + timedelta(minutes=2), 8, "userValidation", "licence"))
    assert detector.evaluate(start + timedelta(minutes=3)) is None  # same incident


def test_chat_reports_count_distinct_people():
    detector = Detector(RULES)
    quiet_history(detector)
    start = T0 + timedelta(hours=24)
    detector.evaluate(start)
    detector.add(Failure(start, "chat", reporter="adele") for _ in range(10))
    assert detector.evaluate(start + timedelta(minutes=1)) is None  # one person, ten times
    detector.add(Failure(start, "chat", reporter=f"person{i}") for i in range(6))
    change = detector.evaluate(start + timedelta(minutes=2))
    assert change is not None and "chat" in {k.key for k in change.keys}


def test_state_survives_json_round_trip_mid_incident():
    detector = Detector(RULES)
    quiet_history(detector)
    start = T0 + timedelta(hours=24)
    detector.evaluate(start)
    detector.add(burst(start, 12))
    assert detector.evaluate(start + timedelta(minutes=1)) is not None
    restored = Detector.from_json(detector.to_json(), RULES)
    assert run(restored, start + timedelta(minutes=6), 30) == []  # no second alert after a restart
    assert [c.kind for c in run(restored, start + timedelta(minutes=70), 60)] == ["closed"]


def test_a_count_exactly_at_the_threshold_fires_and_one_below_does_not():
    start = T0 + timedelta(hours=24, minutes=45)
    for extra, fires in ((4, False), (5, True)):
        detector = Detector(RULES)
        quiet_history(detector)
        detector.evaluate(start - timedelta(minutes=10))
        detector.add(burst(start, extra))
        change = detector.evaluate(start + timedelta(minutes=1))
        if not fires:
            assert change is None
            continue
        assert change is not None and change.kind == "opened"
        # exactly at the minimum (5 = max(min_count, factor x baseline)): ">=" fires, ">" would not
        assert change.overall.count == RULES.min_count
        assert RULES.fire_level(change.overall.baseline) == RULES.min_count


def test_with_a_busy_baseline_an_incident_stays_open_between_the_clear_and_the_fire_level():
    """Normal is ~6 an hour: the fire level is 18 (3x), the clear level 9 (1.5x); 12 an hour is between."""
    detector = Detector(RULES)
    quiet_history(detector, per_hour=6)
    start = T0 + timedelta(hours=24)
    detector.evaluate(start)
    detector.add(burst(start, 30))
    opened = detector.evaluate(start + timedelta(minutes=1))
    assert opened is not None and opened.kind == "opened"
    normal = opened.overall.baseline
    assert RULES.clear_level(normal) < 11 and 12 < RULES.fire_level(normal)
    # After the burst: one failure every 5 minutes for three hours, 11 or 12 in any window.
    detector.add(Failure(start + timedelta(minutes=2 + 5 * i), "authorization", "x", "pkg") for i in range(36))
    assert run(detector, start + timedelta(minutes=65), 115) == []
    assert detector.incident is not None
    assert [c.kind for c in run(detector, start + timedelta(minutes=181), 120)] == ["closed"]
