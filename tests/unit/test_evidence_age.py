"""How old the device's evidence is: logs from days ago, or from before the last change, are shown with their age
(a device time without a zone is judged whatever its zone was)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.causes.device import device_causes
from bot.domain.clues import CodeClue
from bot.domain.evidence_age import OldEvidence, ago, old_evidence, surely_before
from cards.common import build_card
from cards.device_logs import old_evidence_blocks
from tests.support.cards import text_of

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
LOGGED = datetime(2026, 12, 1, 7, 40, tzinfo=UTC)
CHANGE = "Join permission, asked by Adele Vance"


def test_logs_from_days_ago_have_their_age():
    old = old_evidence([LOGGED, None, LOGGED - timedelta(hours=3)], NOW)
    assert old == OldEvidence(LOGGED, NOW - LOGGED)
    assert ago(old.age) == "4 days ago"


@pytest.mark.parametrize(
    ("logged", "stale"),
    [
        (NOW - timedelta(hours=23), False),
        (NOW - timedelta(hours=25), True),
        # a device time (no zone) is at least 14 hours younger than it reads, whatever the zone was
        (datetime(2026, 12, 4, 0, 0), False),  # 36 h as read: 22 h at least
        (datetime(2026, 12, 3, 20, 0), True),  # 40 h as read: 26 h at least
    ],
)
def test_a_day_is_the_threshold_whatever_the_zone(logged: datetime, stale: bool):
    assert (old_evidence([logged], NOW) is not None) is stale


def test_logs_from_before_the_last_change_say_which_change():
    approved = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    recent = NOW - timedelta(hours=2)
    old = old_evidence([recent - timedelta(days=0)], NOW, [(approved - timedelta(days=3), "older"), (approved, CHANGE)])
    assert old is None  # the logs are after both changes and recent
    old = old_evidence([LOGGED], NOW, [(approved - timedelta(days=3), "older"), (approved, CHANGE)])
    assert old is not None and old.change == CHANGE and old.change_at == approved


def test_a_device_time_is_before_a_change_only_when_it_is_whatever_the_zone():
    approved = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert not surely_before(datetime(2026, 12, 1, 7, 40), approved)  # could be 21:40 UTC the day before, or later
    assert surely_before(datetime(2026, 11, 30, 18, 0), approved)
    assert surely_before(LOGGED, approved) and not surely_before(approved, LOGGED)


def test_the_cards_say_the_age_and_the_change_escaped():
    def shown(old: OldEvidence) -> str:
        return text_of(build_card(old_evidence_blocks(old), fallback_text="-"))

    assert "The device's logs end at 2026-12-01 07:40 UTC, 4 days ago" in shown(OldEvidence(LOGGED, NOW - LOGGED))
    raw = json.dumps(
        build_card(old_evidence_blocks(OldEvidence(LOGGED, None, "Join *permission*", NOW)), fallback_text="-")
    )
    assert "Join \\\\*permission\\\\*" in raw  # escaped: shown as written, not as emphasis
    said = shown(OldEvidence(LOGGED, None, CHANGE, NOW))
    assert f"before \u201c{CHANGE}\u201d" in said
    assert "was approved (2026-12-05 12:00 UTC)" in said and "send its new logs" in said
    assert old_evidence_blocks(None) == []


def test_a_device_side_cause_says_how_long_ago_its_code_was_seen():
    clue = CodeClue("0x80072efd", "Microsoft-Windows-AAD/Operational", LOGGED, "event 1025")
    (cause,) = device_causes([clue], NOW)
    assert "(event 1025) at 2026-12-01 07:40 UTC (4 days ago)" in cause.detail
    (recent,) = device_causes([clue], LOGGED + timedelta(hours=1))
    assert "ago" not in recent.detail
