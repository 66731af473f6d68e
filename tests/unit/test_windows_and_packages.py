"""The pure rules of seeing failures coming: expiry thresholds, and what a join window's end removes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.diagnosis import JoinChangePlan
from bot.domain.model import DirectoryUser, JoinSetting, MembershipKind, PolicySnapshot
from bot.domain.packages import due_warnings, mark, may_join, new_since
from bot.domain.windows import removal
from bot.errors import ConfigError
from bot.settings import load_settings, window_seconds

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
BASE = {"GRAPH_TENANT_ID": "t", "GRAPH_CLIENT_ID": "c", "GRAPH_CLIENT_SECRET": "s"}


def account(i: int, days_old: float, enabled: bool = True) -> DirectoryUser:
    return DirectoryUser(f"a{i}", f"package_{i}@x", None, enabled, NOW - timedelta(days=days_old))


def test_each_threshold_warns_once_and_a_late_first_look_warns_once_at_the_nearest():
    accounts = [account(1, 170), account(2, 178), account(3, 100), account(4, 181), account(5, 178, enabled=False)]
    due, settled = due_warnings(accounts, NOW, 180, (14, 3), {})
    assert [(e.account.id, e.threshold) for e in due] == [("a2", 3), ("a1", 14)]  # soonest first
    assert set(settled) == {mark("a1", 14), mark("a2", 14), mark("a2", 3)}
    again, more = due_warnings(accounts, NOW, 180, (14, 3), dict.fromkeys(settled, "x"))
    assert again == [] and more == []
    later, _ = due_warnings(accounts, NOW + timedelta(days=8), 180, (14, 3), dict.fromkeys(settled, "x"))
    assert [(e.account.id, e.threshold) for e in later] == [("a1", 3)]


def test_exactly_14_or_3_days_left_warns_on_that_poll():
    for days_left, threshold in ((14, 14), (3, 3)):
        exact = account(1, 180 - days_left)
        due, _ = due_warnings(
            [exact], NOW, 180, (14, 3), dict.fromkeys([mark("a1", 14)] if threshold == 3 else [], "x")
        )
        assert [(e.account.id, e.threshold) for e in due] == [("a1", threshold)], days_left
        a_second_more, _ = due_warnings([account(1, 180 - days_left - 1 / 86400)], NOW, 180, (threshold,), {})
        assert a_second_more == [], days_left  # one second more than the threshold: not yet


def test_new_accounts_and_who_may_join():
    accounts = [account(1, 0.01), account(2, 3), account(3, 0.001, enabled=False)]
    assert [a.id for a in new_since(accounts, NOW - timedelta(hours=1))] == ["a1"]
    selected = JoinSetting(MembershipKind.SELECTED, ("a1",), ("g",))
    assert may_join("a1", selected, {}) and may_join("a2", selected, {"g": frozenset({"a2"})})
    assert not may_join("a3", selected, {}) and may_join("a3", JoinSetting(MembershipKind.ALL), {})
    assert not may_join("a1", JoinSetting(MembershipKind.NONE), {})


def _snapshot(join: JoinSetting) -> PolicySnapshot:
    raw = {
        "id": "deviceRegistrationPolicy",
        "azureADJoin": {"isAdminConfigurable": True, "allowedToJoin": join.to_graph()},
    }
    return PolicySnapshot.from_graph(raw, "r")


def test_the_end_of_a_window_removes_exactly_ours_and_keeps_everyone_elses():
    plan = JoinChangePlan(
        before=JoinSetting(MembershipKind.SELECTED, ("u1",), ("g",)),
        after=JoinSetting(MembershipKind.SELECTED, ("u1", "p1", "p2"), ("g",)),
        accounts=("package_1@x", "package_2@x"),
    )
    assert plan.added_users == ("p1", "p2")
    now = _snapshot(JoinSetting(MembershipKind.SELECTED, ("u1", "p1", "p2", "u9"), ("g", "h")))
    result = removal(plan, now, {"h": frozenset({"p2"})})
    assert result.removed == ("p1", "p2") and result.kept_by_others == ("p2",)
    assert result.body["azureADJoin"]["allowedToJoin"]["users"] == ["u1", "u9"]
    assert result.body["azureADJoin"]["allowedToJoin"]["groups"] == ["g", "h"]
    gone = removal(plan, _snapshot(JoinSetting(MembershipKind.SELECTED, ("u1",), ())), {})
    assert gone.body is None and gone.removed == ()
    everyone = removal(plan, _snapshot(JoinSetting(MembershipKind.ALL)), {})
    assert everyone.body is None and "someone changed it" in (everyone.note or "")


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"PACKAGE_EXPIRY_WARN_DAYS": "14,soon"}, "PACKAGE_EXPIRY_WARN_DAYS must be whole days"),
        ({"PACKAGE_EXPIRY_WARN_DAYS": "200"}, "PACKAGE_EXPIRY_WARN_DAYS must be whole days between 1 and 179"),
        ({"JOIN_WINDOWS": "1d,forever"}, "JOIN_WINDOWS must list durations like 5m, 1d or 7d, got forever"),
        ({"JOIN_WINDOW_DEFAULT": "2d"}, "JOIN_WINDOW_DEFAULT must be permanent or one of JOIN_WINDOWS"),
    ],
)
def test_bad_package_and_window_settings_are_named(env, problem):
    with pytest.raises(ConfigError, match=problem):
        load_settings({**BASE, **env}, dotenv=None)


def test_window_durations():
    assert window_seconds("5m") == 300 and window_seconds("7d") == 7 * 86400 and window_seconds("12h") == 43200
    assert window_seconds("permanent") is None and window_seconds("0d") is None and window_seconds("d") is None
    settings = load_settings({**BASE, "JOIN_WINDOWS": "5m,7d", "JOIN_WINDOW_DEFAULT": "7d"}, dotenv=None)
    assert settings.join_windows == ("5m", "7d") and settings.package_warn_days == (14, 3)


def test_the_default_window_is_bounded_unless_permanent_is_configured():
    assert load_settings(BASE, dotenv=None).join_window_default == "7d"
    assert load_settings({**BASE, "JOIN_WINDOWS": "1d,30d"}, dotenv=None).join_window_default == "1d"
    chosen = load_settings({**BASE, "JOIN_WINDOW_DEFAULT": "permanent"}, dotenv=None)
    assert chosen.join_window_default == "permanent"
